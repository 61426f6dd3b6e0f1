"""OGC API - Features Part 1 over the directory, for GIS clients (QGIS, GDAL, Leaflet).

Two collections: ``services``, one point per service at each of its locations (the feature id is
the HSDS ``service_at_location`` id), and ``areas``, the administrative areas as polygons.

Who sees what is the HSDS rule (api/repositories/directory.py): anonymous callers see public
records, ``directory:read`` adds partner records, and the position of a confidential location
(a shelter) reaches only ``directory:confidential``.

For everyone else a confidential place stays in ``services`` with ``"geometry": null``, named
"Confidential location", with its administrative area and the service's phones — the same record
the HSDS API lists, so both APIs count the same services, and a committee working from a map
still finds the shelter's contact channel. Dropping it would hide that a shelter exists without
protecting anything more. What would locate it is what is redacted: its coordinates and name,
and any way to infer them: it never matches a ``bbox`` (so sweeping small boxes and reading
``numberMatched`` finds nothing) and it is left out of the collection's extent.
"""

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.viewer import Viewer
from api.db import Database
from api.errors import BadRequest, NotFound
from api.repositories import ogc as repository
from api.repositories.ogc import BoundingBox, Extent, FeaturePage, Keyset
from api.services.hsds_presenter import REDACTED_LOCATION_NAME

Json = dict[str, Any]

GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
# FastAPI writes OpenAPI 3.1. GDAL prefers a service-desc typed "...;version=3.0" only to choose
# among several; with one link it follows it whatever its type (and it reads the document only
# when a page lacks numberMatched, which ours never does).
OPENAPI = "application/vnd.oai.openapi+json;version=3.1"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
DEFAULT_LIMIT = 10
MAXIMUM_LIMIT = 1000

SERVICES = "services"
AREAS = "areas"
COLLECTIONS: dict[str, tuple[str, str]] = {
    SERVICES: (
        "Services",
        "One point per service at each of its locations, with the organisation, the needs it "
        "meets, its phones and whether it accepts referrals. A confidential location has no "
        "geometry unless the caller holds directory:confidential.",
    ),
    AREAS: (
        "Administrative areas",
        "Country, region, district and commune boundaries. `simplify` (degrees) thins the "
        "polygons for small-scale maps.",
    ),
}


class CollectionNotFound(NotFound, code="collection-not-found"): ...


class FeatureNotFound(NotFound, code="feature-not-found"): ...


class InvalidParameter(BadRequest, code="invalid-parameter"): ...


@dataclass(frozen=True)
class ItemsQuery:
    bbox: BoundingBox | None
    keyset: Keyset
    simplify: float | None = None


@dataclass(frozen=True)
class Urls:
    """Where the request arrived, so that every link is absolute and followable by the client
    that made it (GDAL resolves a relative next link against the landing page, wrongly)."""

    root: str  # the landing page, without its trailing slash: http://host/ogc
    request: str
    openapi: str
    docs: str | None = None

    def to(self, path: str) -> str:
        return self.root + path

    def here(self, **changes: str | None) -> str:
        """This request's URL with some query parameters replaced (``None`` removes one)."""
        parts = urlsplit(self.request)
        query = parse_qsl(parts.query, keep_blank_values=True)
        query = [(key, value) for key, value in query if key not in changes]
        query += [(key, value) for key, value in changes.items() if value is not None]
        return urlunsplit(parts._replace(query=urlencode(query)))


def parse_bbox(text: str) -> BoundingBox:
    """``minLon,minLat,maxLon,maxLat`` (or six numbers, heights ignored), CRS84.

    ``minLon > maxLon`` is a box across the antimeridian, as the standard allows.
    """
    parts = text.split(",")
    if len(parts) not in (4, 6):
        raise InvalidParameter(
            "bbox takes 4 comma-separated numbers, minLon,minLat,maxLon,maxLat (or 6 with heights)."
        )
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise InvalidParameter("bbox must be numbers: minLon,minLat,maxLon,maxLat.") from None
    if not all(math.isfinite(number) for number in numbers):
        raise InvalidParameter("bbox must be finite numbers.")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    west, south, east, north = numbers
    if not (-180.0 <= west <= 180.0 and -180.0 <= east <= 180.0):
        raise InvalidParameter("bbox longitudes must lie between -180 and 180.")
    if not (-90.0 <= south <= 90.0 and -90.0 <= north <= 90.0):
        raise InvalidParameter("bbox latitudes must lie between -90 and 90.")
    if south > north:
        raise InvalidParameter("bbox minimum latitude is greater than its maximum.")
    return BoundingBox(west=west, south=south, east=east, north=north)


def items_query(
    *,
    bbox: str | None,
    limit: int,
    after: uuid.UUID | None,
    before: uuid.UUID | None,
    simplify: float | None,
) -> ItemsQuery:
    if after is not None and before is not None:
        raise InvalidParameter("Give at most one of after and before.")
    return ItemsQuery(
        bbox=parse_bbox(bbox) if bbox is not None else None,
        keyset=Keyset(limit=limit, after=after, before=before),
        simplify=simplify,
    )


def link(href: str, rel: str, media_type: str | None = None, title: str | None = None) -> Json:
    body: Json = {"href": href, "rel": rel}
    if media_type is not None:
        body["type"] = media_type
    if title is not None:
        body["title"] = title
    return body


def _known(collection_id: str) -> str:
    if collection_id not in COLLECTIONS:
        raise CollectionNotFound("No collection with this id: see /ogc/collections.")
    return collection_id


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- metadata ----------------------------------------------------------------------------------


def landing_page(urls: Urls) -> Json:
    links = [
        link(urls.to("/"), "self", JSON, "This document"),
        link(urls.openapi, "service-desc", OPENAPI, "The API definition"),
    ]
    if urls.docs is not None:
        links.append(link(urls.docs, "service-doc", HTML, "The API documentation"))
    links += [
        link(urls.to("/conformance"), "conformance", JSON, "Conformance classes"),
        link(urls.to("/collections"), "data", JSON, "The collections"),
    ]
    return {
        "title": "Relay service directory",
        "description": (
            "Referral services for children and women at risk of violence, exploitation and "
            "trafficking, and the administrative areas they serve, as OGC API - Features. "
            "Anonymous callers see public records; a bearer token adds what it may see."
        ),
        "links": links,
    }


def conformance() -> Json:
    return {"conformsTo": CONFORMANCE}


def _collection(urls: Urls, collection_id: str, extent: Extent | None) -> Json:
    title, description = COLLECTIONS[collection_id]
    body: Json = {"id": collection_id, "title": title, "description": description}
    if extent is not None:
        bbox = [extent.west, extent.south, extent.east, extent.north]
        body["extent"] = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    body["itemType"] = "feature"
    body["crs"] = [CRS84]
    body["links"] = [
        link(urls.to(f"/collections/{collection_id}"), "self", JSON, title),
        link(urls.to(f"/collections/{collection_id}/items"), "items", GEOJSON, "Features"),
        link(urls.to(f"/collections/{collection_id}/items?f=json"), "items", JSON, "Features"),
    ]
    return body


async def _extent(session: AsyncSession, viewer: Viewer, collection_id: str) -> Extent | None:
    if collection_id == SERVICES:
        return await repository.services_extent(session, viewer)
    return await repository.areas_extent(session)


async def collections(session: AsyncSession, viewer: Viewer, urls: Urls) -> Json:
    return {
        "links": [link(urls.to("/collections"), "self", JSON, "The collections")],
        "collections": [
            _collection(urls, collection_id, await _extent(session, viewer, collection_id))
            for collection_id in COLLECTIONS
        ],
    }


async def collection(session: AsyncSession, viewer: Viewer, urls: Urls, collection_id: str) -> Json:
    collection_id = _known(collection_id)
    return _collection(urls, collection_id, await _extent(session, viewer, collection_id))


# -- features ----------------------------------------------------------------------------------
#
# The features come as PostgreSQL wrote them (api/repositories/ogc.py): a page's GeoJSON array
# is spliced into the collection as it is, never decoded and encoded again. Only the envelope
# (counts, time stamp, links) is written here.


def _page_links(urls: Urls, collection_id: str, page: FeaturePage, media_type: str) -> list[Json]:
    other = JSON if media_type == GEOJSON else GEOJSON
    links = [
        link(urls.request, "self", media_type, "This page"),
        link(urls.here(f="json" if other == JSON else "geojson"), "alternate", other, "This page"),
        link(urls.to(f"/collections/{collection_id}"), "collection", JSON, "The collection"),
    ]
    if page.last_id is not None and page.has_next:
        after = str(page.last_id)
        links.append(link(urls.here(after=after, before=None), "next", media_type, "Next page"))
    if page.first_id is not None and page.has_previous:
        before = str(page.first_id)
        links.append(
            link(urls.here(before=before, after=None), "prev", media_type, "Previous page")
        )
    return links


async def _features(
    database: Database,
    viewer: Viewer,
    collection_id: str,
    query: ItemsQuery,
    feature_id: uuid.UUID | None = None,
) -> FeaturePage:
    if collection_id == SERVICES:
        return await repository.service_features(
            database,
            viewer,
            query.bbox,
            query.keyset,
            redacted_name=REDACTED_LOCATION_NAME,
            feature_id=feature_id,
        )
    return await repository.area_features(
        database, query.bbox, query.keyset, simplify=query.simplify, feature_id=feature_id
    )


async def items_json(
    database: Database,
    viewer: Viewer,
    urls: Urls,
    collection_id: str,
    query: ItemsQuery,
    media_type: str,
) -> bytes:
    """A page of features as the response body: one statement (api/repositories/ogc.py).

    ``numberMatched`` on a walk's first page only: counting again on every page reached
    through next or prev would repeat a full count per page (GDAL reads it from the first)."""
    collection_id = _known(collection_id)
    page = await _features(database, viewer, collection_id, query)
    parts = ['{"type":"FeatureCollection",']
    if page.matched is not None:
        parts += ['"numberMatched":', str(page.matched), ","]
    parts += [
        '"numberReturned":',
        str(page.returned),
        ',"timeStamp":"',
        _now(),
        '","links":',
        _encode(_page_links(urls, collection_id, page, media_type)),
        ',"features":',
        page.features,
        "}",
    ]
    return "".join(parts).encode()


async def item_json(
    database: Database,
    viewer: Viewer,
    urls: Urls,
    collection_id: str,
    feature_id: str,
    *,
    simplify: float | None,
    media_type: str,
) -> bytes:
    """One feature, written as in a page, with its links."""
    collection_id = _known(collection_id)
    try:
        key = uuid.UUID(feature_id)
    except ValueError:
        raise FeatureNotFound("No feature with this id is visible to you.") from None
    query = ItemsQuery(bbox=None, keyset=Keyset(limit=1), simplify=simplify)
    page = await _features(database, viewer, collection_id, query, feature_id=key)
    if page.returned == 0:
        raise FeatureNotFound("No feature with this id is visible to you.")
    collection_url = urls.to(f"/collections/{collection_id}")
    links = [
        link(f"{collection_url}/items/{key}", "self", media_type, "This feature"),
        link(collection_url, "collection", JSON, "The collection"),
    ]
    # The array of one feature, opened: its last member is followed by the links.
    feature = page.features.strip().removeprefix("[").removesuffix("]").strip()
    return f'{feature.removesuffix("}")},"links":{_encode(links)}}}'.encode()


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _encode(value: Any) -> str:
    return _ENCODER.encode(value)
