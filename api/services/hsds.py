"""The HSDS 3.1 read API: which directory rows a viewer gets, paged in HSDS's envelope, shaped by
``api.services.hsds_presenter``. A confidential location is listed redacted to a viewer not
cleared for it; in a proximity search (``lat``/``long`` or ``postcode``) such a viewer does not
get it at all: its rank, distance or presence within a radius would locate it.
"""

import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.viewer import Viewer
from api.db import SessionMaker, transaction
from api.errors import NotFound, UnprocessableParameter
from api.filters import DirectoryFilters
from api.repositories import directory as repository
from api.services.hsds_presenter import Json, Nester, clean, iso, taxonomy_item, term_item

HSDS_VERSION = "3.1"
NDJSON_BATCH = 500


class RecordNotFound(NotFound, code="not-found"): ...


class UnknownPostcode(UnprocessableParameter, code="unknown-postcode"):
    def __init__(self) -> None:
        # The same answer whether no address has the postcode or only places the caller may not
        # locate have it: a confidential shelter's postcode is not confirmed by a 200.
        super().__init__("postcode", "No place you can see has this postcode.")


@dataclass(frozen=True)
class Near:
    """The centre of a proximity search, a point (latitude, longitude) or a postcode standing for
    one, and how far it reaches in metres (``None``: results are only ordered by distance)."""

    point: tuple[float, float] | None
    postcode: str | None
    proximity_m: float | None


def near(
    latitude: float | None,
    longitude: float | None,
    postcode: str | None,
    proximity_m: float | None,
) -> Near | None:
    """The proximity search these parameters ask for, ``None`` for none; 422 if they conflict."""
    if (latitude is None) != (longitude is None):
        missing = "long" if longitude is None else "lat"
        raise UnprocessableParameter(missing, "Give lat and long together.")
    if postcode is not None and latitude is not None:
        raise UnprocessableParameter("postcode", "Give postcode, or lat and long, not both.")
    if latitude is not None and longitude is not None:
        return Near((latitude, longitude), None, proximity_m)
    if postcode is not None:
        return Near(None, postcode, proximity_m)
    if proximity_m is not None:
        raise UnprocessableParameter(
            "proximity", "proximity needs a point: give lat and long, or postcode."
        )
    return None


@dataclass(frozen=True)
class Paging:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def envelope(contents: list[Json], total: int, paging: Paging) -> Json:
    total_pages = max(1, math.ceil(total / paging.per_page))
    return {
        "total_items": total,
        "total_pages": total_pages,
        "page_number": paging.page,
        "size": len(contents),
        "first_page": paging.page == 1,
        "last_page": paging.page >= total_pages,
        "empty": total == 0,
        "contents": contents,
    }


# -- the endpoints' work -----------------------------------------------------------------------


async def list_services(
    session: AsyncSession, viewer: Viewer, filters: DirectoryFilters, paging: Paging, *, full: bool
) -> Json:
    rows, total = await repository.services_page(
        session, viewer, filters, limit=paging.per_page, offset=paging.offset
    )
    shaped = await Nester(session, viewer).services(rows, full=full)
    return clean(envelope([shaped[row.id] for row in rows], total, paging))


async def minimal_services(
    session: AsyncSession, viewer: Viewer, filters: DirectoryFilters, paging: Paging
) -> Json:
    rows, total = await repository.services_page(
        session, viewer, filters, limit=paging.per_page, offset=paging.offset
    )
    contents = [{"id": str(row.id), "last_modified": iso(row.last_modified)} for row in rows]
    return envelope(contents, total, paging)


async def get_service(session: AsyncSession, viewer: Viewer, service_id: uuid.UUID) -> Json:
    found = await repository.visible_service(session, viewer, service_id)
    if found is None:
        raise RecordNotFound("No service with this id is visible to you.")
    shaped = await Nester(session, viewer).services([found], full=True)
    return clean(shaped[found.id])


async def list_organizations(
    session: AsyncSession,
    viewer: Viewer,
    filters: DirectoryFilters,
    paging: Paging,
    *,
    full: bool,
    full_service: bool,
) -> Json:
    rows, total = await repository.organizations_page(
        session, viewer, filters, limit=paging.per_page, offset=paging.offset
    )
    shaped = await Nester(session, viewer).organizations(rows, full=full, full_service=full_service)
    return clean(envelope([shaped[row.id] for row in rows], total, paging))


async def get_organization(
    session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID, *, full_service: bool
) -> Json:
    found = await repository.visible_organization(session, viewer, organization_id)
    if found is None:
        raise RecordNotFound("No organization with this id is visible to you.")
    shaped = await Nester(session, viewer).organizations(
        [found], full=True, full_service=full_service
    )
    return clean(shaped[found.id])


async def list_service_at_locations(
    session: AsyncSession,
    viewer: Viewer,
    filters: DirectoryFilters,
    paging: Paging,
    *,
    full_service: bool,
    near: Near | None = None,
) -> Json:
    if near is not None:
        return await _service_at_locations_near(
            session, viewer, filters, paging, near, full_service=full_service
        )
    rows, total = await repository.service_at_locations_page(
        session, viewer, filters, limit=paging.per_page, offset=paging.offset
    )
    contents = await Nester(session, viewer).service_at_locations(rows, full_service=full_service)
    return clean(envelope(contents, total, paging))


async def _service_at_locations_near(
    session: AsyncSession,
    viewer: Viewer,
    filters: DirectoryFilters,
    paging: Paging,
    near: Near,
    *,
    full_service: bool,
) -> Json:
    """Nearest first, each with ``distance_m`` (a Relay extension), among the places whose
    position the viewer may know: places without a position, and confidential places for a
    viewer without ``directory:confidential``, are left out (see
    ``api.repositories.directory.located_service_at_locations``)."""
    centre = near.point
    if centre is None:
        centre = await repository.postcode_point(session, viewer, near.postcode or "")
        if centre is None:
            raise UnknownPostcode()
    latitude, longitude = centre
    rows, total = await repository.service_at_locations_near(
        session,
        viewer,
        filters,
        latitude,
        longitude,
        within_m=near.proximity_m,
        limit=paging.per_page,
        offset=paging.offset,
    )
    contents = await Nester(session, viewer).service_at_locations(
        [link for link, _ in rows], full_service=full_service
    )
    for body, (_, metres) in zip(contents, rows, strict=True):
        body["distance_m"] = round(metres, 1)
    return clean(envelope(contents, total, paging))


async def get_service_at_location(
    session: AsyncSession, viewer: Viewer, link_id: uuid.UUID
) -> Json:
    found = await repository.visible_service_at_location(session, viewer, link_id)
    if found is None:
        raise RecordNotFound("No service at location with this id is visible to you.")
    [shaped] = await Nester(session, viewer).service_at_locations([found], full_service=True)
    return clean(shaped)


async def list_taxonomies(session: AsyncSession, paging: Paging, search: str | None) -> Json:
    rows, total = await repository.taxonomies_page(
        session, search=search, limit=paging.per_page, offset=paging.offset
    )
    return clean(envelope([taxonomy_item(row) for row in rows], total, paging))


async def get_taxonomy(session: AsyncSession, taxonomy_id: uuid.UUID) -> Json:
    found = await repository.taxonomy(session, taxonomy_id)
    if found is None:
        raise RecordNotFound("No taxonomy with this id.")
    return clean(taxonomy_item(found))


async def list_taxonomy_terms(
    session: AsyncSession,
    paging: Paging,
    *,
    taxonomy_id: uuid.UUID | None,
    parent_id: uuid.UUID | None,
    top_only: bool,
    search: str | None,
) -> Json:
    rows, total = await repository.taxonomy_terms_page(
        session,
        taxonomy_id=taxonomy_id,
        parent_id=parent_id,
        top_only=top_only,
        search=search,
        limit=paging.per_page,
        offset=paging.offset,
    )
    taxonomies = await repository.taxonomies_by_id(session, list({row.taxonomy_id for row in rows}))
    contents = [term_item(row, taxonomies.get(row.taxonomy_id)) for row in rows]
    return clean(envelope(contents, total, paging))


async def get_taxonomy_term(session: AsyncSession, term_id: uuid.UUID) -> Json:
    found = await repository.taxonomy_term(session, term_id)
    if found is None:
        raise RecordNotFound("No taxonomy term with this id.")
    taxonomy = await repository.taxonomy(session, found.taxonomy_id)
    return clean(term_item(found, taxonomy))


async def each_service(
    session: AsyncSession,
    viewer: Viewer,
    filters: DirectoryFilters,
    *,
    full: bool,
    batch: int,
    area_id: uuid.UUID | None = None,
) -> AsyncIterator[Json]:
    """Every matching service (only those in ``area_id`` when given), read ``batch`` at a time."""
    offset = 0
    while True:
        rows = await repository.services_batch(
            session, viewer, filters, area_id=area_id, limit=batch, offset=offset
        )
        if not rows:
            return
        shaped = await Nester(session, viewer).services(rows, full=full)
        for row in rows:
            yield clean(shaped[row.id])
        offset += batch


async def stream_services(
    sessionmaker: SessionMaker, viewer: Viewer, filters: DirectoryFilters, *, full: bool
) -> AsyncIterator[Json]:
    """Every matching service, in batches, in a transaction of its own: for ``format=ndjson``,
    whose response is sent after the request's transaction has ended."""
    async with transaction(sessionmaker) as session:
        async for service in each_service(session, viewer, filters, full=full, batch=NDJSON_BATCH):
            yield service
