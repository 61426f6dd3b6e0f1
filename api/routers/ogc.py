"""OGC API - Features Part 1 under ``/ogc/``, read-only, for anonymous callers and partners.

Visibility is the HSDS rule; what a confidential location becomes is explained in
api/services/ogc.py. Features are ``application/geo+json`` unless ``f=json`` or an ``Accept``
header that names ``application/json`` but not GeoJSON asks for plain JSON.
"""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from api.auth.dependencies import BearerIfPresent, principal_if_present
from api.auth.viewer import Viewer
from api.deps import ReadSessionDep, reading
from api.routers.routing import ViewerDep
from api.schemas.ogc import (
    Collection,
    Collections,
    Conformance,
    Feature,
    FeatureCollection,
    LandingPage,
)
from api.services import ogc as service
from api.services.ogc import DEFAULT_LIMIT, GEOJSON, JSON, MAXIMUM_LIMIT, ItemsQuery, Urls

router = APIRouter(prefix="/ogc", tags=["ogc"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such collection or feature, or not visible to you"}
}
BAD_REQUEST: dict[int | str, dict[str, Any]] = {
    400: {"description": "A malformed bbox, or both after and before"}
}
# The routes of one collection (``/collections/{collectionId}``), each of which may answer 404;
# included into ``router`` after them.
collection_router = APIRouter(prefix="/collections/{collectionId}", responses=NOT_FOUND)


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON


def _geojson_content(model: type[Any]) -> dict[int | str, dict[str, Any]]:
    """Document the plain-JSON rendering of a GeoJSON response beside it."""
    reference = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {200: {"content": {JSON: {"schema": reference}}}}


async def _urls(request: Request) -> Urls:
    base = str(request.base_url).rstrip("/")
    openapi = request.app.openapi_url or "/openapi.json"
    docs = request.app.docs_url
    return Urls(
        root=base + router.prefix,
        request=str(request.url),
        openapi=base + openapi,
        docs=base + docs if docs else None,
    )


UrlsDep = Annotated[Urls, Depends(_urls)]
JsonFormat = Annotated[
    Literal["json"] | None, Query(description="Only JSON is offered; the default.")
]
FeatureFormat = Annotated[
    Literal["json", "geojson"] | None,
    Query(description="`geojson` (the default) or `json`: the same document as application/json."),
]
Simplify = Annotated[
    float | None,
    Query(
        ge=0,
        le=1,
        description="For `areas`: simplify polygons with this tolerance, in degrees "
        "(ST_SimplifyPreserveTopology). Points are unaffected.",
    ),
]
CollectionId = Annotated[
    str, Path(description="`services` or `areas`.", examples=["services", "areas"])
]


async def _items_query(
    simplify: Simplify = None,
    bbox: Annotated[
        str | None,
        Query(
            description="minLon,minLat,maxLon,maxLat in CRS84 (WGS 84 longitude/latitude); "
            "minLon > maxLon spans the antimeridian. Anything else is a 400 problem.",
            examples=["-16.4,13.8,-15.5,14.4"],
        ),
    ] = None,
    limit: Annotated[
        int,
        Query(ge=1, le=MAXIMUM_LIMIT, description=f"Features per page (at most {MAXIMUM_LIMIT})."),
    ] = DEFAULT_LIMIT,
    after: Annotated[
        uuid.UUID | None, Query(description="Features after this id (from a `next` link).")
    ] = None,
    before: Annotated[
        uuid.UUID | None, Query(description="Features before this id (from a `prev` link).")
    ] = None,
) -> ItemsQuery:
    return service.items_query(
        bbox=bbox, limit=limit, after=after, before=before, simplify=simplify
    )


ItemsQueryDep = Annotated[ItemsQuery, Depends(_items_query)]


def _feature_media_type(request: Request, f: str | None) -> str:
    if f is not None:
        return JSON if f == "json" else GEOJSON
    accept = request.headers.get("accept", "")
    if JSON in accept and GEOJSON not in accept:
        return JSON
    return GEOJSON


@router.get("/", summary="Landing page", response_model=LandingPage)
async def landing_page(urls: UrlsDep, f: JsonFormat = None) -> Any:
    return JSONResponse(service.landing_page(urls))


@router.get("/conformance", summary="Conformance classes", response_model=Conformance)
async def conformance(f: JsonFormat = None) -> Any:
    return JSONResponse(service.conformance())


@router.get("/collections", summary="The feature collections", response_model=Collections)
async def collections(
    session: ReadSessionDep, viewer: ViewerDep, urls: UrlsDep, f: JsonFormat = None
) -> Any:
    return JSONResponse(await service.collections(session, viewer, urls))


@collection_router.get("", summary="One feature collection", response_model=Collection)
async def collection(
    collectionId: CollectionId,
    session: ReadSessionDep,
    viewer: ViewerDep,
    urls: UrlsDep,
    f: JsonFormat = None,
) -> Any:
    return JSONResponse(await service.collection(session, viewer, urls, collectionId))


@collection_router.get(
    "/items",
    summary="Features of a collection (paged)",
    response_model=FeatureCollection,
    response_class=GeoJSONResponse,
    responses={**BAD_REQUEST, **_geojson_content(FeatureCollection)},
)
async def items(
    collectionId: CollectionId,
    request: Request,
    authorization: BearerIfPresent,
    urls: UrlsDep,
    query: ItemsQueryDep,
    f: FeatureFormat = None,
) -> Any:
    # ``f`` stays the route's own parameter: a 422 problem lists a dependency's issues first,
    # so the page's come before the format's, as they always have.
    media_type = _feature_media_type(request, f)
    # Anonymous (charged to its address's budget) or a valid token (401 for a bad one), checked
    # on the page's own connection, without an ORM session: as the search does.
    async with reading(request) as reader:
        principal = await principal_if_present(request, reader, authorization, metered=True)
        body = await service.items_json(
            reader, Viewer.of(principal), urls, collectionId, query, media_type
        )
    return Response(body, media_type=media_type)


@collection_router.get(
    "/items/{featureId}",
    summary="One feature",
    response_model=Feature,
    response_class=GeoJSONResponse,
    responses=_geojson_content(Feature),
)
async def item(
    collectionId: CollectionId,
    featureId: Annotated[str, Path(description="The feature's id (a UUID).")],
    request: Request,
    session: ReadSessionDep,
    viewer: ViewerDep,
    urls: UrlsDep,
    simplify: Simplify = None,
    f: FeatureFormat = None,
) -> Any:
    media_type = _feature_media_type(request, f)
    body = await service.item_json(
        session,
        viewer,
        urls,
        collectionId,
        featureId,
        simplify=simplify,
        media_type=media_type,
    )
    return Response(body, media_type=media_type)


router.include_router(collection_router)
