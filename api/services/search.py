"""Nearest appropriate service: "where is the nearest place that can help this person with this
need, and is it open?"

Distances are metres on the WGS 84 ellipsoid (PostGIS geography). A confidential place that
the caller may not locate is ranked by its administrative area's stand-in point, and carries
neither position nor distance: querying from many points can then reveal at most the area,
which the listing shows anyway.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.repositories import directory as directory_repository
from api.repositories import search as repository
from api.repositories.directory import Viewer
from api.repositories.search import Candidate, SearchFilters
from api.services.hsds import Nester, clean
from api.services.opening import is_open
from api.taxonomy import NEED_CODES

OVERFETCH = 3
MAXIMUM_BATCHES = 8


@dataclass(frozen=True)
class NearestQuery:
    latitude: float
    longitude: float
    filters: SearchFilters
    open_at: datetime | None
    limit: int


async def _open_at(
    session: AsyncSession, candidates: list[Candidate], instant: datetime
) -> dict[uuid.UUID, bool | None]:
    service_ids = list({candidate.service_id for candidate in candidates})
    location_ids = [c.location_id for c in candidates if c.location_id is not None]
    by_service = await directory_repository.schedules_by(session, "service_id", service_ids)
    by_location = await directory_repository.schedules_by(session, "location_id", location_ids)
    states: dict[uuid.UUID, bool | None] = {}
    for candidate in candidates:
        rules = list(by_service.get(candidate.service_id, []))
        if candidate.location_id is not None:
            rules += by_location.get(candidate.location_id, [])
        key = candidate.link_id or candidate.service_id
        states[key] = is_open(rules, instant)
    return states


async def nearest_candidates(
    session: AsyncSession, viewer: Viewer, query: NearestQuery
) -> tuple[list[Candidate], dict[uuid.UUID, bool | None]]:
    """The ``limit`` nearest candidates, with whether each is open at ``open_at`` (or now)."""
    instant = query.open_at or datetime.now().astimezone()
    batch = query.limit * OVERFETCH + 10
    located: list[Candidate] = []
    for round_number in range(MAXIMUM_BATCHES):
        found = await repository.nearest_located(
            session,
            viewer,
            query.filters,
            query.latitude,
            query.longitude,
            limit=batch,
            offset=round_number * batch,
        )
        located += found
        if len(found) < batch:
            break
        if query.open_at is None:
            break
        states = await _open_at(session, located, instant)
        if sum(1 for c in located if states[c.link_id or c.service_id]) >= query.limit:
            break
    others = await repository.withheld(
        session, viewer, query.filters, query.latitude, query.longitude
    ) + await repository.covering(session, viewer, query.filters, query.latitude, query.longitude)
    candidates = sorted(
        located + others, key=lambda c: (c.distance_m, not c.covering, str(c.service_id))
    )
    states = await _open_at(session, candidates, instant)
    if query.open_at is not None:
        candidates = [c for c in candidates if states[c.link_id or c.service_id]]
    return candidates[: query.limit], states


async def nearest(session: AsyncSession, viewer: Viewer, query: NearestQuery) -> dict[str, Any]:
    candidates, states = await nearest_candidates(session, viewer, query)
    services = await directory_repository.services_by_id(
        session, viewer, list({c.service_id for c in candidates})
    )
    locations = await directory_repository.locations_by_id(
        session, viewer, [c.location_id for c in candidates if c.location_id is not None]
    )
    nester = Nester(session, viewer)
    service_bodies = await nester.services(list(services.values()), full=True)
    location_bodies = await nester.locations(list(locations.values()))
    needs = set(query.filters.needs)
    data = []
    for candidate in candidates:
        service = service_bodies[candidate.service_id]
        location = location_bodies.get(candidate.location_id) if candidate.location_id else None
        offered = {item["taxonomy_term"]["code"] for item in service.get("attributes", [])}
        data.append(
            clean(
                {
                    "distance_m": None if candidate.withheld else round(candidate.distance_m, 1),
                    "covering": candidate.covering,
                    "position_withheld": candidate.withheld,
                    "open_now": states.get(candidate.link_id or candidate.service_id),
                    "service": {
                        key: value
                        for key, value in service.items()
                        if key not in {"service_at_locations", "metadata"}
                    },
                    "location": location,
                    "capacity": service.get("capacities"),
                    "matched": {
                        "needs": sorted(needs & offered) if needs else sorted(offered),
                        "eligibility": _eligibility(query.filters),
                    },
                }
            )
        )
    return {
        "data": data,
        "meta": clean(
            {
                "latitude": query.latitude,
                "longitude": query.longitude,
                "radius_m": query.filters.radius_m,
                "open_at": query.open_at.isoformat() if query.open_at else None,
                "limit": query.limit,
                "count": len(data),
            }
        ),
    }


def _eligibility(filters: SearchFilters) -> list[str]:
    reasons = []
    if filters.age is not None:
        reasons.append(f"age {filters.age} within the service's age range")
    if filters.gender is not None:
        reasons.append(f"serves {filters.gender}")
    if filters.group is not None:
        reasons.append(f"serves {filters.group.replace('_', ' ')}")
    if filters.language is not None:
        reasons.append(f"speaks {filters.language}")
    if filters.has_capacity:
        reasons.append("has capacity now")
    if filters.accepts_referrals is not None:
        reasons.append("accepts referrals" if filters.accepts_referrals else "walk-in")
    return reasons


async def pathway(
    session: AsyncSession, viewer: Viewer, latitude: float, longitude: float, *, area: str | None
) -> dict[str, Any]:
    """The referral pathway of a place: the nearest service for each need of the taxonomy."""
    steps = []
    for code in NEED_CODES:
        found = await nearest(
            session,
            viewer,
            NearestQuery(latitude, longitude, SearchFilters(needs=(code,)), None, 1),
        )
        steps.append({"need": code, "service": found["data"][0] if found["data"] else None})
    return {
        "data": [clean(step) for step in steps],
        "meta": clean({"latitude": latitude, "longitude": longitude, "area": area}),
    }
