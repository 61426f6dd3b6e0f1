"""The Open Referral HSDS 3.1 read API under ``/hsds/``, for anonymous callers and partners.

Anonymous callers see public records; ``directory:read`` adds partner records;
``directory:confidential`` adds the location of confidential places (api/services/hsds.py).
"""

import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any, Literal, NamedTuple

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.types import DecoratedCallable
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.viewer import Viewer
from api.deps import ReadSessionDep, ReadSessionMakerDep, SettingsDep
from api.filters import DirectoryFilters
from api.routers.routing import MeteredViewerDep, ViewerDep
from api.schemas.hsds import (
    ApiDetails,
    HsdsOrganization,
    HsdsService,
    HsdsServiceAtLocation,
    HsdsTaxonomy,
    HsdsTaxonomyTerm,
    OrganizationPage,
    ServiceAtLocationPage,
    ServicePage,
    TaxonomyPage,
    TaxonomyTermPage,
)
from api.services import hsds as service
from api.services.hsds import HSDS_VERSION, Near, Paging

router = APIRouter(prefix="/hsds", tags=["hsds"])

HSDS_PROFILE = "https://docs.openreferral.org/en/latest/hsds/"
MAXIMUM_PER_PAGE = 100
MAXIMUM_PROXIMITY_M = 1_000_000
POSTCODE = r"^[0-9A-Za-z][0-9A-Za-z -]*$"
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such record, or not visible to you"}
}


async def _paging(
    page: Annotated[int, Query(ge=1, le=100_000, description="Page number, from 1.")] = 1,
    per_page: Annotated[
        int, Query(ge=1, le=MAXIMUM_PER_PAGE, description="Results per page (at most 100).")
    ] = 50,
) -> Paging:
    return Paging(page=page, per_page=per_page)


async def _filters(
    search: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Words in name or description.")
    ] = None,
    taxonomy_term_id: Annotated[uuid.UUID | None, Query()] = None,
    taxonomy_id: Annotated[uuid.UUID | None, Query()] = None,
    organization_id: Annotated[uuid.UUID | None, Query()] = None,
    modified_after: Annotated[
        datetime | None, Query(description="Changed on or after this date-time.")
    ] = None,
) -> DirectoryFilters:
    return DirectoryFilters(
        search=search,
        taxonomy_term_id=taxonomy_term_id,
        taxonomy_id=taxonomy_id,
        organization_id=organization_id,
        modified_after=modified_after,
    )


async def _near(
    lat: Annotated[
        float | None,
        Query(ge=-90, le=90, description="Latitude (WGS 84 degrees) to search near, with `long`."),
    ] = None,
    long: Annotated[
        float | None,
        Query(
            ge=-180, le=180, description="Longitude (WGS 84 degrees) to search near, with `lat`."
        ),
    ] = None,
    postcode: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=16,
            pattern=POSTCODE,
            description=(
                "Search near this postcode (compared without case or spaces): the place nearest "
                "the centroid of the places you can locate that have it. Not with `lat`/`long`; "
                "an unknown postcode is a 422."
            ),
        ),
    ] = None,
    proximity: Annotated[
        float | None,
        Query(
            gt=0,
            le=MAXIMUM_PROXIMITY_M,
            description=(
                "Only places within this many metres (at most 1,000 km) of the point or postcode."
            ),
        ),
    ] = None,
) -> Near | None:
    return service.near(lat, long, postcode, proximity)


PagingDep = Annotated[Paging, Depends(_paging)]
NearDep = Annotated[Near | None, Depends(_near)]
FiltersDep = Annotated[DirectoryFilters, Depends(_filters)]


class Listing(NamedTuple):
    """What a paged listing of the directory gives its service function first, in its order:
    ``service.list_organizations(*listing, full=full, full_service=full_service)``. Metered: a
    caller without a token is counted against its address's budget."""

    session: AsyncSession
    viewer: Viewer
    filters: DirectoryFilters
    paging: Paging


async def _listing(
    session: ReadSessionDep, viewer: MeteredViewerDep, paging: PagingDep, filters: FiltersDep
) -> Listing:
    # Declared in this order, the paging parameters come before the filters in the document.
    return Listing(session, viewer, filters, paging)


ListingDep = Annotated[Listing, Depends(_listing)]
Format = Annotated[
    Literal["json", "ndjson"],
    Query(description="ndjson streams every result, one per line, without paging."),
]
Flag = Annotated[bool, Query()]
Search = Annotated[str | None, Query(min_length=1, max_length=200)]


def _json(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body)


def _record(
    path: str, summary: str, model: type[Any]
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """The route of one record by its id, which answers 404 for a record that does not exist or
    that the caller may not see."""
    return router.get(path, summary=summary, response_model=model, responses=NOT_FOUND)


@router.get("/", summary="About this HSDS API")
async def api_details(settings: SettingsDep) -> ApiDetails:
    return ApiDetails(
        version=HSDS_VERSION,
        profile=HSDS_PROFILE,
        openapi_url=settings.issuer + "/openapi.json",
    )


@router.get(
    "/services",
    summary="Services (paged)",
    response_model=ServicePage,
    responses={
        200: {
            "description": "format=json: a page; format=ndjson: every service, one per line",
            "content": {
                # One line's schema (OpenAPI 3.1 has no way to say "a sequence of").
                "application/x-ndjson": {"schema": {"$ref": "#/components/schemas/HsdsService"}}
            },
        }
    },
)
async def list_services(
    listing: ListingDep,
    sessionmaker: ReadSessionMakerDep,
    full: Flag = False,
    minimal: Flag = False,
    format: Format = "json",
) -> Any:
    if format == "ndjson":
        stream = service.stream_services(sessionmaker, listing.viewer, listing.filters, full=full)
        return _ndjson(stream)
    if minimal:
        return _json(await service.minimal_services(*listing))
    return _json(await service.list_services(*listing, full=full))


@_record("/services/{service_id}", "One service, fully nested", HsdsService)
async def get_service(service_id: uuid.UUID, session: ReadSessionDep, viewer: ViewerDep) -> Any:
    return _json(await service.get_service(session, viewer, service_id))


@router.get("/organizations", summary="Organizations (paged)", response_model=OrganizationPage)
async def list_organizations(
    listing: ListingDep, full: Flag = False, full_service: Flag = False
) -> Any:
    return _json(await service.list_organizations(*listing, full=full, full_service=full_service))


@_record(
    "/organizations/{organization_id}",
    "One organization, with its services and locations",
    HsdsOrganization,
)
async def get_organization(
    organization_id: uuid.UUID,
    session: ReadSessionDep,
    viewer: ViewerDep,
    full_service: Flag = False,
) -> Any:
    return _json(
        await service.get_organization(session, viewer, organization_id, full_service=full_service)
    )


PROXIMITY_DESCRIPTION = """\
Services at locations, by service name. Or nearest first (a Relay extension beside the HSDS
`postcode` and `proximity`): from `lat` and `long`, or from `postcode`, by geodesic distance on
WGS 84, each with `distance_m` in metres (to 0.1 m); with `proximity`, only those within that
many metres, and `total_items` counts only those. Places without coordinates are left out.
`lat` without `long`, `proximity` without a point, `postcode` with `lat`/`long`, or a postcode
that no place you can locate has, are answered 422 naming the parameter.

**Confidential places** (shelters) are left out of these searches entirely unless you have the
`directory:confidential` scope: ranked by distance or kept inside a radius, they could be located
by querying from a few points. A postcode, likewise, only resolves to places you may locate.
Confidential places still appear, redacted, in listings without `lat`, `long` and `postcode`.
"""


@router.get(
    "/service_at_locations",
    summary="Services at locations (paged), optionally nearest first",
    description=PROXIMITY_DESCRIPTION,
    response_model=ServiceAtLocationPage,
)
async def list_service_at_locations(
    listing: ListingDep, near: NearDep, full_service: Flag = False
) -> Any:
    return _json(
        await service.list_service_at_locations(*listing, full_service=full_service, near=near)
    )


@_record(
    "/service_at_locations/{service_at_location_id}",
    "One service at a location",
    HsdsServiceAtLocation,
)
async def get_service_at_location(
    service_at_location_id: uuid.UUID, session: ReadSessionDep, viewer: ViewerDep
) -> Any:
    return _json(await service.get_service_at_location(session, viewer, service_at_location_id))


@router.get("/taxonomies", summary="Taxonomies (paged)", response_model=TaxonomyPage)
async def list_taxonomies(session: ReadSessionDep, paging: PagingDep, search: Search = None) -> Any:
    return _json(await service.list_taxonomies(session, paging, search))


@_record("/taxonomies/{taxonomy_id}", "One taxonomy", HsdsTaxonomy)
async def get_taxonomy(taxonomy_id: uuid.UUID, session: ReadSessionDep) -> Any:
    return _json(await service.get_taxonomy(session, taxonomy_id))


@router.get("/taxonomy_terms", summary="Taxonomy terms (paged)", response_model=TaxonomyTermPage)
async def list_taxonomy_terms(
    session: ReadSessionDep,
    paging: PagingDep,
    taxonomy_id: Annotated[uuid.UUID | None, Query()] = None,
    parent_id: Annotated[uuid.UUID | None, Query()] = None,
    top_only: Flag = False,
    search: Search = None,
) -> Any:
    return _json(
        await service.list_taxonomy_terms(
            session,
            paging,
            taxonomy_id=taxonomy_id,
            parent_id=parent_id,
            top_only=top_only,
            search=search,
        )
    )


@_record("/taxonomy_terms/{taxonomy_term_id}", "One taxonomy term", HsdsTaxonomyTerm)
async def get_taxonomy_term(taxonomy_term_id: uuid.UUID, session: ReadSessionDep) -> Any:
    return _json(await service.get_taxonomy_term(session, taxonomy_term_id))


def _ndjson(items: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    async def lines() -> AsyncIterator[bytes]:
        async for item in items:
            yield json.dumps(item, ensure_ascii=False).encode() + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")
