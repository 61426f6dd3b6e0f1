"""An area saved on a committee's phone: its directory, and its neighbours', to search offline.

What the lookup pages keep so that a volunteer can still find a service when the network is gone
(``GET /lookup/area/{id}/offline.json``; the service worker and ``lookup.js`` search it on the
phone). It is an anonymous download: only what an anonymous caller sees, as the lookup pages show
it (``api.services.lookup.card``): public places with their positions, confidential ones without
(ranked, like the search ranks them, at a point of the area they are listed in), nothing listed
to partners only, and never anything about a referral or a person.

It carries the national lines of the areas' countries (``api.services.national_lines``), which
the phone offers for a need no saved service within reach meets, as the lookup does online.

The neighbours of an area are the areas of its level whose outlines touch it (within
``NEIGHBOUR_TOLERANCE`` degrees: see ``api.repositories.areas.with_neighbours``): a child seen in
one district is often taken to the next one's health centre or police post.

Four statements whatever the number of services: the areas, the rows to keep, their details
(the search's own statement, ``api.repositories.search.details``), the national lines.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.repositories import areas as area_repository
from api.repositories import saved_area as repository
from api.repositories import search as search_repository
from api.services import national_lines
from api.services.areas import AreaNotFound
from api.services.hsds_presenter import REDACTED_LOCATION_NAME
from api.services.lookup import ANONYMOUS, Card, card
from api.services.national_lines import Line
from api.services.search import Found

# About 110 m: the slivers and overlaps between neighbours' outlines from real boundary files.
NEIGHBOUR_TOLERANCE = 0.001
MAXIMUM_NEIGHBOURS = 16
# Places and services read at most (the nearest to the area's point first); the document that
# writes them keeps fewer if they do not fit its size (``api.web.saved_area``): about 750 real
# facilities fill it (a Malagasy region and its neighbours, WHO/KEMRI and healthsites data).
MAXIMUM_ROWS = 1000
# National lines kept at most (a few per country; the areas saved span one country, or two on
# a border).
MAXIMUM_LINES = 40


@dataclass(frozen=True)
class SavedArea:
    """An area of the saved copy, with the point searches from it start at."""

    id: str
    name: str
    level: int
    latitude: float
    longitude: float
    searchable: bool  # the chosen area or a neighbour (not only where a shelter is listed)
    country: str | None = None  # as ``admin_area.country``: whose national lines apply there


@dataclass(frozen=True)
class SavedService:
    """One service at one place (or covering areas), as its card shows it, with what the phone
    needs to find it: its needs, and where it ranks."""

    card: Card
    needs: tuple[str, ...]
    # A confidential place: the id of the area it is listed in (it ranks at that area's point).
    listed_in: str | None
    # A covering service: the ids of the saved areas its service area covers.
    covers: tuple[str, ...]


@dataclass(frozen=True)
class SavedDirectory:
    area: SavedArea
    areas: list[SavedArea]
    services: list[SavedService]  # covering services first, then the nearest to the area
    complete: bool  # False when there were more than MAXIMUM_ROWS to keep
    made: datetime
    lines: list[Line]  # the national lines of the searchable areas' countries


async def directory(session: AsyncSession, area_id: uuid.UUID, language: str) -> SavedDirectory:
    """The directory of the area and its neighbours as an anonymous caller sees it, in
    ``language``; 404 problem for an unknown area."""
    rows = await area_repository.with_neighbours(
        session, area_id, tolerance=NEIGHBOUR_TOLERANCE, limit=1 + MAXIMUM_NEIGHBOURS
    )
    if not rows:
        raise AreaNotFound("No administrative area with this id.")
    areas = {
        row["id"]: SavedArea(
            row["id"],
            row["name"],
            row["level"],
            row["latitude"],
            row["longitude"],
            True,
            row["country"],
        )
        for row in rows
    }
    kept = await repository.candidates(
        session, [uuid.UUID(row["id"]) for row in rows], limit=MAXIMUM_ROWS + 1
    )
    complete = len(kept) <= MAXIMUM_ROWS
    kept = kept[:MAXIMUM_ROWS]
    candidates = [
        search_repository.Candidate(
            row.service_id, row.location_id, None, row.distance_m, row.redacted, bool(row.covers)
        )
        for row in kept
    ]
    shown = await search_repository.details(session, ANONYMOUS, candidates, REDACTED_LOCATION_NAME)
    services = []
    for row, candidate, details in zip(kept, candidates, shown, strict=True):
        if details is None:
            continue
        found = Found(candidate, details, None)
        listed_in = None
        if row.listed is not None:
            listed_id, name, level, latitude, longitude = row.listed
            listed_in = str(listed_id)
            if listed_in not in areas:
                areas[listed_in] = SavedArea(listed_in, name, level, latitude, longitude, False)
        services.append(
            SavedService(
                card(found, language),
                tuple(details.needs),
                listed_in,
                tuple(str(area) for area in row.covers),
            )
        )
    chosen = areas[rows[0]["id"]]
    countries = {area.country for area in areas.values() if area.searchable and area.country}
    lines = await national_lines.of_countries(session, countries, limit=MAXIMUM_LINES)
    return SavedDirectory(
        chosen, list(areas.values()), services, complete, datetime.now(UTC), lines
    )
