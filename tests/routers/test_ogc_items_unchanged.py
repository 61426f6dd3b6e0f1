"""The OGC items and item routes answer what the ORM implementation they replaced answered.

Issue 18 moved ``/ogc/collections/{services,areas}/items`` (and ``.../items/{id}``) to statements
compiled once, GeoJSON built by PostgreSQL. ``Before`` below is the implementation it replaced,
kept as the oracle: ORM loads composed from ``visible_services``/``visible_locations``, features
assembled as dicts. For anonymous callers, partners and ``directory:confidential`` alike, over
first pages, walks through ``next`` and ``prev`` links, bounding boxes (one across the
antimeridian), places without coordinates and confidential places, each body must be the same
JSON, members in the same order, but for ``timeStamp``.
"""

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import ColumnElement, Select, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from api.auth.scopes import Scope
from api.auth.viewer import Viewer
from api.config import Settings
from api.models.directory import (
    AdminArea,
    Attribute,
    Location,
    Phone,
    Service,
    ServiceAtLocation,
    TaxonomyTerm,
    Visibility,
)
from api.models.organization import Organization, OrganizationKind
from api.repositories.directory import visible_locations, visible_services
from api.repositories.ogc import BoundingBox, Keyset, geocentric_cover
from api.services.hsds_presenter import REDACTED_LOCATION_NAME
from api.services.ogc import GEOJSON, JSON, Urls, items_query, link
from api.taxonomy import RELAY_TAXONOMY_ID
from tests.factories.auth import create_partner
from tests.factories.directory import load_demo

Json = dict[str, Any]
ITEMS = "/ogc/collections/services/items"
AREAS = "/ogc/collections/areas/items"
VIEWERS = {
    "anonymous": Viewer(sees_partner_records=False, cleared=False),
    "reader": Viewer(sees_partner_records=True, cleared=False),
    "confidential": Viewer(sees_partner_records=True, cleared=True),
}


class Before:
    """The ORM implementation of the items and item routes before issue 18."""

    @staticmethod
    def point_in(box: BoundingBox, location: Any) -> list[Any]:
        cover = func.ST_GeogFromText(literal(geocentric_cover(box)))
        within_longitudes: ColumnElement[bool]
        if box.west <= box.east:
            within_longitudes = location.longitude.between(box.west, box.east)
        else:
            within_longitudes = or_(location.longitude >= box.west, location.longitude <= box.east)
        return [
            location.point.op("&&", is_comparison=True)(cover),
            location.latitude.between(box.south, box.north),
            within_longitudes,
        ]

    @staticmethod
    def matching(viewer: Viewer, box: BoundingBox | None) -> tuple[Select[Any], Any]:
        location = aliased(Location, visible_locations(viewer).subquery())
        statement = (
            visible_services(viewer)
            .join(ServiceAtLocation, col(ServiceAtLocation.service_id) == col(Service.id))
            .join(location, col(location.id) == col(ServiceAtLocation.location_id))
        )
        if box is not None:
            statement = statement.where(
                *Before.point_in(box, location), location.latitude.is_not(None)
            )
            if not viewer.cleared:
                statement = statement.where(location.visibility != Visibility.confidential.value)
        return statement, location

    @staticmethod
    def keyset(statement: Select[Any], key: Any, keyset: Keyset) -> Select[Any]:
        if keyset.before is not None:
            return statement.where(key < keyset.before).order_by(key.desc()).limit(keyset.limit + 1)
        if keyset.after is not None:
            statement = statement.where(key > keyset.after)
        return statement.order_by(key.asc()).limit(keyset.limit + 1)

    @staticmethod
    def page(rows: list[Any], keyset: Keyset) -> tuple[list[Any], bool, bool]:
        more = len(rows) > keyset.limit
        rows = rows[: keyset.limit]
        if keyset.before is not None:
            return rows[::-1], True, more
        return rows, more, keyset.after is not None

    @staticmethod
    async def count(session: AsyncSession, statement: Select[Any]) -> int:
        total = await session.scalar(select(func.count()).select_from(statement.subquery()))
        return int(total or 0)

    @staticmethod
    async def service_features(
        session: AsyncSession, viewer: Viewer, rows: Sequence[Any]
    ) -> list[Json]:
        service_ids = list({row[1].id for row in rows})
        needs: dict[uuid.UUID, list[str]] = defaultdict(list)
        phones: dict[uuid.UUID, list[str]] = defaultdict(list)
        if service_ids:
            for service_id, code in await session.execute(
                select(col(Attribute.link_id), col(TaxonomyTerm.code))
                .join(TaxonomyTerm, col(TaxonomyTerm.id) == col(Attribute.taxonomy_term_id))
                .where(
                    col(Attribute.link_entity) == "service",
                    col(Attribute.link_id).in_(service_ids),
                    col(TaxonomyTerm.taxonomy_id) == RELAY_TAXONOMY_ID,
                )
                .order_by(col(TaxonomyTerm.code))
            ):
                needs[service_id].append(code)
            for service_id, number in await session.execute(
                select(col(Phone.service_id), col(Phone.number))
                .where(col(Phone.service_id).in_(service_ids))
                .order_by(col(Phone.number))
            ):
                phones[service_id].append(number)
        area_ids = list({row[2].admin_area_id for row in rows if row[2].admin_area_id})
        areas: dict[uuid.UUID, str] = {}
        if area_ids:
            areas = dict(
                (
                    await session.execute(
                        select(col(AdminArea.id), col(AdminArea.name)).where(
                            col(AdminArea.id).in_(area_ids)
                        )
                    )
                ).all()
            )
        features = []
        for link_row, service, location, organization in rows:
            redacted = viewer.redacts(location)
            geometry = None
            if not redacted and location.longitude is not None and location.latitude is not None:
                geometry = {"type": "Point", "coordinates": [location.longitude, location.latitude]}
            features.append(
                {
                    "type": "Feature",
                    "id": str(link_row.id),
                    "geometry": geometry,
                    "properties": {
                        "service_id": str(service.id),
                        "name": service.name,
                        "status": service.status,
                        "accepts_referrals": service.accepts_referrals,
                        "organization_id": str(organization.id),
                        "organization_name": organization.name,
                        "organization_kind": organization.kind,
                        "needs": needs.get(service.id, []),
                        "phones": phones.get(service.id, []),
                        "location_id": str(location.id),
                        "location_name": REDACTED_LOCATION_NAME if redacted else location.name,
                        "admin_area": areas.get(location.admin_area_id)
                        if location.admin_area_id
                        else None,
                        "confidential": location.visibility == Visibility.confidential.value,
                    },
                }
            )
        return features

    @staticmethod
    def services_statement(viewer: Viewer, box: BoundingBox | None, keyset: Keyset) -> Select[Any]:
        statement, location = Before.matching(viewer, box)
        statement = statement.with_only_columns(ServiceAtLocation, Service, location, Organization)
        return Before.keyset(statement, col(ServiceAtLocation.id), keyset)

    @staticmethod
    def areas_statement(
        box: BoundingBox | None, keyset: Keyset, simplify: float | None
    ) -> Select[Any]:
        geometry: Any = col(AdminArea.geom)
        if simplify:
            geometry = func.ST_Multi(func.ST_SimplifyPreserveTopology(geometry, simplify))
        statement = select(col(AdminArea.id))
        if box is not None:
            pieces = [func.ST_MakeEnvelope(*piece, 4326) for piece in box.rectangles()]
            envelope = pieces[0] if len(pieces) == 1 else func.ST_Collect(*pieces)
            statement = statement.where(func.ST_Intersects(col(AdminArea.geom), envelope))
        counted = statement
        statement = statement.add_columns(
            col(AdminArea.name),
            col(AdminArea.level),
            col(AdminArea.code),
            col(AdminArea.country),
            col(AdminArea.parent_id),
            func.ST_AsGeoJSON(geometry, 6),
        )
        return Before.keyset(statement, col(AdminArea.id), keyset), counted  # type: ignore[return-value]

    @staticmethod
    def area_feature(row: Any) -> Json:
        return {
            "type": "Feature",
            "id": str(row[0]),
            "geometry": json.loads(row[6]),
            "properties": {
                "name": row[1],
                "level": row[2],
                "code": row[3],
                "country": row[4],
                "parent_id": str(row[5]) if row[5] else None,
            },
        }

    @staticmethod
    def page_links(
        urls: Urls,
        collection_id: str,
        has_next: bool,
        has_previous: bool,
        ids: list[str],
        media_type: str,
    ) -> list[Json]:
        other = JSON if media_type == GEOJSON else GEOJSON
        links = [
            link(urls.request, "self", media_type, "This page"),
            link(
                urls.here(f="json" if other == JSON else "geojson"), "alternate", other, "This page"
            ),
            link(urls.to(f"/collections/{collection_id}"), "collection", JSON, "The collection"),
        ]
        if ids and has_next:
            links.append(
                link(urls.here(after=ids[-1], before=None), "next", media_type, "Next page")
            )
        if ids and has_previous:
            links.append(
                link(urls.here(before=ids[0], after=None), "prev", media_type, "Previous page")
            )
        return links

    @staticmethod
    async def items(session: AsyncSession, viewer: Viewer, url: str, media_type: str) -> Json:
        collection_id = urlsplit(url).path.split("/")[-2]
        given = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
        query = items_query(
            bbox=given.get("bbox"),
            limit=int(given.get("limit", 10)),
            after=uuid.UUID(given["after"]) if "after" in given else None,
            before=uuid.UUID(given["before"]) if "before" in given else None,
            simplify=float(given["simplify"]) if "simplify" in given else None,
        )
        urls = Urls(
            root="http://testserver/ogc", request=url, openapi="http://testserver/openapi.json"
        )
        first_page = query.keyset.after is None and query.keyset.before is None
        matched = None
        if collection_id == "services":
            rows = list(
                await session.execute(Before.services_statement(viewer, query.bbox, query.keyset))
            )
            page, has_next, has_previous = Before.page(rows, query.keyset)
            if first_page:
                matched = await Before.count(session, Before.matching(viewer, query.bbox)[0])
            features = await Before.service_features(session, viewer, page)
        else:
            statement, counted = Before.areas_statement(query.bbox, query.keyset, query.simplify)  # type: ignore[misc]
            rows = list(await session.execute(statement))
            page, has_next, has_previous = Before.page(rows, query.keyset)
            if first_page:
                matched = await Before.count(session, counted)
            features = [Before.area_feature(row) for row in page]
        ids = [feature["id"] for feature in features]
        body: Json = {"type": "FeatureCollection"}
        if matched is not None:
            body["numberMatched"] = matched
        body["numberReturned"] = len(features)
        body["timeStamp"] = None
        body["links"] = Before.page_links(
            urls, collection_id, has_next, has_previous, ids, media_type
        )
        body["features"] = features
        return body

    @staticmethod
    async def item(session: AsyncSession, viewer: Viewer, url: str, media_type: str) -> Json | None:
        parts = urlsplit(url).path.split("/")
        collection_id, key = parts[-3], uuid.UUID(parts[-1])
        given = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
        if collection_id == "services":
            statement = Before.services_statement(viewer, None, Keyset(limit=1)).where(
                col(ServiceAtLocation.id) == key
            )
            row = (await session.execute(statement)).first()
            if row is None:
                return None
            [feature] = await Before.service_features(session, viewer, [row])
        else:
            simplify = float(given["simplify"]) if "simplify" in given else None
            statement, _ = Before.areas_statement(None, Keyset(limit=1), simplify)  # type: ignore[misc]
            row = (await session.execute(statement.where(col(AdminArea.id) == key))).first()
            if row is None:
                return None
            feature = Before.area_feature(row)
        collection_url = f"http://testserver/ogc/collections/{collection_id}"
        feature["links"] = [
            link(f"{collection_url}/items/{feature['id']}", "self", media_type, "This feature"),
            link(collection_url, "collection", JSON, "The collection"),
        ]
        return feature


def members(value: Any) -> Any:
    """The document's member names, in order, all the way down (values left out)."""
    if isinstance(value, dict):
        return [(key, members(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [members(item) for item in value]
    return None


async def place(
    session: AsyncSession,
    longitude: float | None,
    latitude: float | None,
    *,
    visibility: Visibility = Visibility.public,
    phones: Sequence[str] = (),
) -> ServiceAtLocation:
    organization = Organization(
        name=f"Place {longitude} {latitude} {visibility.value}", kind=OrganizationKind.ngo
    )
    service = Service(organization_id=organization.id, name=organization.name)
    location = Location(
        organization_id=organization.id,
        name=None if longitude is None else organization.name,
        latitude=latitude,
        longitude=longitude,
        visibility=visibility.value,
    )
    link_row = ServiceAtLocation(service_id=service.id, location_id=location.id)
    for row in (organization, service, location, link_row):
        session.add(row)
        await session.flush()
    for number in phones:
        session.add(Phone(service_id=service.id, number=number))
    await session.flush()
    return link_row


REQUESTS = [
    ITEMS,
    f"{ITEMS}?limit=1",
    f"{ITEMS}?limit=4",
    f"{ITEMS}?limit=1000&f=json",
    f"{ITEMS}?f=geojson&limit=7",
    f"{ITEMS}?bbox=-16.4,13.8,-15.5,14.4",
    f"{ITEMS}?bbox=-16.1,13.8,-15.8,14.4&limit=2",
    f"{ITEMS}?bbox=-16.03,14.02,-16.01,14.04",
    f"{ITEMS}?bbox=0,0,1,1",
    f"{ITEMS}?bbox=179,-18,-179,-16",
    f"{ITEMS}?bbox=-180,-90,180,90&limit=50",
    f"{ITEMS}?bbox=-16.4,13.8,-100,-15.5,14.4,100",
    f"{ITEMS}?after={uuid.UUID(int=0)}&limit=5",
    f"{ITEMS}?before={uuid.UUID(int=2**128 - 1)}&limit=5",
    f"{ITEMS}?after={uuid.UUID(int=2**128 - 1)}",
    AREAS,
    f"{AREAS}?limit=1",
    f"{AREAS}?bbox=-16.3,13.9,-16.2,14.0",
    f"{AREAS}?simplify=0.01&limit=3",
    f"{AREAS}?bbox=179,-18,-179,-16",
]


@pytest.mark.parametrize("caller", list(VIEWERS))
async def test_the_same_answers_as_before(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, caller: str
) -> None:
    await load_demo(session)
    await place(session, 2.5, 48.8, visibility=Visibility.confidential, phones=["+33 1", "+33 0"])
    await place(session, 179.5, -17.0)
    await place(session, -179.5, -17.0, visibility=Visibility.partners)
    await place(session, 14.0, 14.0)  # coordinates that are whole numbers
    await place(session, None, None)  # a place without coordinates
    headers: dict[str, str] = {}
    if caller != "anonymous":
        scopes = [Scope.directory_read]
        if caller == "confidential":
            scopes.append(Scope.directory_confidential)
        headers = (await create_partner(session, settings, scopes=scopes)).headers
    viewer = VIEWERS[caller]

    pending = [f"http://testserver{path}" for path in REQUESTS]
    seen: set[str] = set()
    feature_urls: set[str] = set()
    compared = 0
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.text)
        media_type = response.headers["content-type"]
        answer = response.json()
        assert answer.pop("timeStamp")
        expected = await Before.items(session, viewer, url, media_type)
        expected.pop("timeStamp")
        assert answer == expected, url
        assert members(answer) == members(expected), url
        compared += 1
        # Walk on through the next and prev links, and open every feature on its own.
        pending += [x["href"] for x in answer["links"] if x["rel"] in ("next", "prev")]
        collection = urlsplit(url).path
        feature_urls.update(f"http://testserver{collection}/{f['id']}" for f in answer["features"])
    assert compared > 40
    for url in [*sorted(feature_urls), f"http://testserver{ITEMS}/{uuid.uuid4()}"]:
        for suffix in ("", "?f=json", "?simplify=0.05"):
            response = await client.get(url + suffix, headers=headers)
            expected_feature = await Before.item(
                session, viewer, url + suffix, JSON if suffix == "?f=json" else GEOJSON
            )
            if expected_feature is None:
                assert response.status_code == 404
                continue
            assert response.status_code == 200, response.text
            assert response.json() == expected_feature, url
            assert members(response.json()) == members(expected_feature), url
