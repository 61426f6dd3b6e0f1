"""OGC API - Features under /ogc/: the documents, paging, bbox, visibility, and GDAL as a client.

GDAL's OAPIF driver (Debian's gdal-bin, installed by scripts/test-tools.sh) reads the API served
on a real port, in a subprocess started with asyncio so the in-process server keeps answering.
"""

import asyncio
import json
import math
import os
import re
import shutil
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.scopes import Scope
from api.auth.viewer import Viewer
from api.config import Settings
from api.models.directory import Location, Service, ServiceAtLocation, Visibility
from api.models.organization import Organization, OrganizationKind
from api.repositories import ogc as repository
from api.services import ogc as service
from tests.factories.auth import create_partner
from tests.factories.directory import DemoNetwork, load_demo

GEOJSON = "application/geo+json"
PROBLEM = "application/problem+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
ITEMS = "/ogc/collections/services/items"
AREAS = "/ogc/collections/areas/items"
# The demo region (api/services/demo.py): south, west, north, east.
REGION = (13.8, -16.4, 14.4, -15.5)

Json = dict[str, Any]


@pytest.fixture
async def network(session: AsyncSession) -> DemoNetwork:
    return await load_demo(session)


@pytest.fixture
async def tokens(session: AsyncSession, settings: Settings) -> dict[str, dict[str, str]]:
    reader = await create_partner(session, settings, scopes=[Scope.directory_read])
    confidential = await create_partner(
        session,
        settings,
        scopes=[Scope.directory_read, Scope.directory_confidential],
        name="Shelter network",
    )
    return {"anonymous": {}, "reader": reader.headers, "confidential": confidential.headers}


async def walk(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> list[Json]:
    """Every page of an items query, following ``next`` links."""
    pages: list[Json] = []
    next_url: str | None = url
    while next_url is not None:
        response = await client.get(next_url, headers=headers or {})
        assert response.status_code == 200, response.text
        pages.append(response.json())
        next_url = _link(pages[-1], "next")
        assert len(pages) < 200, "the next links never end"
    return pages


def _link(document: Json, rel: str) -> str | None:
    hrefs = [link["href"] for link in document["links"] if link["rel"] == rel]
    assert len(hrefs) <= 1, f"several {rel} links"
    return hrefs[0] if hrefs else None


def features_of(pages: list[Json]) -> list[Json]:
    return [feature for page in pages for feature in page["features"]]


def inside(feature: Json, west: float, south: float, east: float, north: float) -> bool:
    geometry = feature["geometry"]
    if geometry is None:
        return False
    longitude, latitude = geometry["coordinates"]
    return bool(south <= latitude <= north and west <= longitude <= east)


async def add_place(
    session: AsyncSession,
    longitude: float,
    latitude: float,
    *,
    visibility: Visibility = Visibility.public,
) -> ServiceAtLocation:
    """A public service at one place, outside the demo network."""
    organization = Organization(name=f"Place {longitude} {latitude}", kind=OrganizationKind.ngo)
    service = Service(organization_id=organization.id, name=organization.name)
    location = Location(
        organization_id=organization.id,
        name=organization.name,
        latitude=latitude,
        longitude=longitude,
        visibility=visibility.value,
    )
    link = ServiceAtLocation(service_id=service.id, location_id=location.id)
    for row in (organization, service, location, link):  # no relationships to order inserts by
        session.add(row)
        await session.flush()
    return link


class TestLandingPage:
    async def test_links_to_the_api_definition_conformance_and_data(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/ogc/")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["title"]
        assert body["description"]
        links = {link["rel"]: link for link in body["links"]}
        assert links["self"]["href"] == "http://testserver/ogc/"
        assert links["conformance"]["href"] == "http://testserver/ogc/conformance"
        assert links["data"]["href"] == "http://testserver/ogc/collections"
        service_desc = links["service-desc"]
        assert service_desc["href"] == "http://testserver/openapi.json"
        assert service_desc["type"].startswith("application/vnd.oai.openapi+json")
        definition = (await client.get(service_desc["href"])).json()
        assert "/ogc/collections/{collectionId}/items" in definition["paths"]

    async def test_only_json_is_offered(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/ogc/?f=json")).status_code == 200
        response = await client.get("/ogc/?f=html")
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM


class TestConformance:
    async def test_core_geojson_and_oas30(self, client: httpx.AsyncClient) -> None:
        body = (await client.get("/ogc/conformance")).json()
        base = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
        assert set(body["conformsTo"]) == {base + "core", base + "geojson", base + "oas30"}


class TestCollections:
    async def test_services_and_areas_with_extent_crs_and_links(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        body = (await client.get("/ogc/collections")).json()
        assert _link(body, "self") == "http://testserver/ogc/collections"
        by_id = {collection["id"]: collection for collection in body["collections"]}
        assert set(by_id) == {"services", "areas"}
        for collection_id, collection in by_id.items():
            assert collection["itemType"] == "feature"
            assert collection["crs"] == [CRS84]
            assert collection["extent"]["spatial"]["crs"] == CRS84
            [bbox] = collection["extent"]["spatial"]["bbox"]
            assert len(bbox) == 4
            assert bbox[0] <= bbox[2]
            assert bbox[1] <= bbox[3]
            items = [link for link in collection["links"] if link["rel"] == "items"]
            assert {link["type"] for link in items} == {GEOJSON, "application/json"}
            assert all(
                link["href"].startswith(f"http://testserver/ogc/collections/{collection_id}/items")
                for link in items
            )
        south, west, north, east = REGION
        assert by_id["areas"]["extent"]["spatial"]["bbox"] == [[west, south, east, north]]

    @pytest.mark.parametrize("caller", ["anonymous", "confidential"])
    async def test_services_extent_is_the_box_around_what_the_caller_may_locate(
        self,
        client: httpx.AsyncClient,
        network: DemoNetwork,
        session: AsyncSession,
        tokens: dict[str, dict[str, str]],
        caller: str,
    ) -> None:
        # A confidential place far outside the demo network would stretch the extent.
        await add_place(session, 2.5, 48.8, visibility=Visibility.confidential)
        headers = tokens[caller]
        collection = (await client.get("/ogc/collections/services", headers=headers)).json()
        [bbox] = collection["extent"]["spatial"]["bbox"]
        points = [
            feature["geometry"]["coordinates"]
            for feature in features_of(await walk(client, f"{ITEMS}?limit=100", headers))
            if feature["geometry"] is not None
        ]
        longitudes = [point[0] for point in points]
        latitudes = [point[1] for point in points]
        assert bbox == [min(longitudes), min(latitudes), max(longitudes), max(latitudes)]
        assert (bbox[2] == 2.5) == (caller == "confidential")


class TestCollection:
    async def test_one_collection(self, client: httpx.AsyncClient, network: DemoNetwork) -> None:
        response = await client.get("/ogc/collections/areas")
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == "areas"
        assert _link(body, "self") == "http://testserver/ogc/collections/areas"

    @pytest.mark.parametrize("path", ["/ogc/collections/shelters", "/ogc/collections/x/items"])
    async def test_unknown_collection_is_a_404_problem(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        response = await client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM


class TestItems:
    async def test_first_page_counts_and_links(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        response = await client.get(ITEMS)
        assert response.status_code == 200
        assert response.headers["content-type"] == GEOJSON
        body = response.json()
        assert body["type"] == "FeatureCollection"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["timeStamp"])
        assert body["numberReturned"] == len(body["features"]) == 10
        hsds = (await client.get("/hsds/service_at_locations?per_page=1")).json()
        assert body["numberMatched"] == hsds["total_items"] > 10
        assert _link(body, "self") == f"http://testserver{ITEMS}"
        assert _link(body, "prev") is None
        assert _link(body, "next")
        feature = body["features"][0]
        assert set(feature["properties"]) >= {
            "service_id",
            "name",
            "organization_name",
            "organization_kind",
            "needs",
            "phones",
            "status",
            "accepts_referrals",
        }

    async def test_feature_properties(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        features = features_of(await walk(client, f"{ITEMS}?limit=100"))
        [legal] = [f for f in features if f["properties"]["name"].startswith("Free legal aid")]
        properties = legal["properties"]
        assert properties["organization_name"] == "Justice for all legal clinic (demo)"
        assert properties["organization_kind"] == "legal"
        assert properties["needs"] == ["legal-aid"]
        assert properties["phones"][0].startswith("+2213")
        assert properties["status"] == "active"
        assert properties["accepts_referrals"] is True
        assert legal["geometry"] == {"type": "Point", "coordinates": [-15.96, 14.08]}
        one = (await client.get(f"/hsds/service_at_locations/{legal['id']}")).json()
        assert one["service"]["id"] == properties["service_id"]

    @pytest.mark.parametrize(
        ("query", "headers", "media_type"),
        [
            ("?f=json", {}, "application/json"),
            ("?f=geojson", {}, GEOJSON),
            ("", {"Accept": "application/json"}, "application/json"),
            ("", {"Accept": f"{GEOJSON}, application/json"}, GEOJSON),
            ("", {"Accept": "*/*"}, GEOJSON),
        ],
    )
    async def test_format_by_f_or_accept(
        self, client: httpx.AsyncClient, query: str, headers: dict[str, str], media_type: str
    ) -> None:
        response = await client.get(ITEMS + query, headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == media_type
        [self_link] = [link for link in response.json()["links"] if link["rel"] == "self"]
        assert self_link["type"] == media_type

    async def test_next_links_return_every_feature_once_and_prev_links_go_back(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        pages = await walk(client, f"{ITEMS}?limit=4")
        ids = [feature["id"] for feature in features_of(pages)]
        assert len(ids) == len(set(ids)) == pages[0]["numberMatched"]
        assert len(pages) == -(-len(ids) // 4)
        assert all("numberMatched" not in page for page in pages[1:])
        assert all(page["numberReturned"] == len(page["features"]) for page in pages)

        backwards: list[list[str]] = []
        prev_url = _link(pages[-1], "prev")
        while prev_url is not None:
            page = (await client.get(prev_url)).json()
            backwards.append([feature["id"] for feature in page["features"]])
            prev_url = _link(page, "prev")
        forwards = [[feature["id"] for feature in page["features"]] for page in pages[:-1]]
        assert backwards[::-1] == forwards

    async def test_limit_is_bounded(self, client: httpx.AsyncClient, network: DemoNetwork) -> None:
        everything = (await client.get(f"{ITEMS}?limit=1000")).json()
        assert everything["numberReturned"] == everything["numberMatched"]
        assert _link(everything, "next") is None
        for limit in ("0", "1001", "-1", "ten"):
            response = await client.get(f"{ITEMS}?limit={limit}")
            assert response.status_code == 422, limit
            assert response.headers["content-type"] == PROBLEM

    async def test_a_problem_lists_the_page_s_parameters_before_the_format(
        self, client: httpx.AsyncClient
    ) -> None:
        # Issues in the order the route reads its parameters: the page's, then ``f``.
        response = await client.get(f"{ITEMS}?f=xml&limit=0")
        assert response.status_code == 422
        issues = [issue["loc"] for issue in response.json()["errors"]]
        assert issues == [["query", "limit"], ["query", "f"]]

    async def test_after_and_before_together_are_a_400_problem(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get(f"{ITEMS}?after={uuid.uuid4()}&before={uuid.uuid4()}")
        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM


class TestBoundingBox:
    @pytest.mark.parametrize(
        "box",
        [
            (-16.4, 13.8, -15.5, 14.4),  # the whole region
            (-16.1, 13.8, -15.8, 14.4),  # one district
            (-16.0, 14.0, -15.9, 14.1),  # around the legal clinic
            (-16.3, 14.1, -16.2, 14.2),
            (0.0, 0.0, 1.0, 1.0),  # elsewhere
        ],
    )
    async def test_only_features_inside_the_box(
        self, client: httpx.AsyncClient, network: DemoNetwork, box: tuple[float, ...]
    ) -> None:
        west, south, east, north = box
        everything = features_of(await walk(client, f"{ITEMS}?limit=100"))
        expected = {f["id"] for f in everything if inside(f, west, south, east, north)}
        bbox = ",".join(str(value) for value in box)
        pages = await walk(client, f"{ITEMS}?limit=3&bbox={bbox}")
        found = [feature["id"] for feature in features_of(pages)]
        assert sorted(found) == sorted(expected)
        assert pages[0]["numberMatched"] == len(expected)
        assert all(f"bbox={bbox.replace(',', '%2C')}" in _link(p, "self") for p in pages[1:])

    async def test_a_wide_box_follows_parallels_not_great_circles(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        # Cast to geography, the box 0,30,60,40 has great-circle edges that bulge north: they
        # miss (30, 30.5) and take in (30, 40.5).
        inner = await add_place(session, 30.0, 30.5)
        outer = await add_place(session, 30.0, 40.5)
        found = {f["id"] for f in features_of(await walk(client, f"{ITEMS}?bbox=0,30,60,40"))}
        assert str(inner.id) in found
        assert str(outer.id) not in found
        world = {f["id"] for f in features_of(await walk(client, f"{ITEMS}?bbox=-180,-90,180,90"))}
        assert {str(inner.id), str(outer.id)} <= world

    async def test_a_box_across_the_antimeridian(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        east_of = await add_place(session, 179.5, -17.0)
        west_of = await add_place(session, -179.5, -17.0)
        elsewhere = await add_place(session, 0.0, -17.0)
        found = {f["id"] for f in features_of(await walk(client, f"{ITEMS}?bbox=179,-18,-179,-16"))}
        assert {str(east_of.id), str(west_of.id)} <= found
        assert str(elsewhere.id) not in found

    @pytest.mark.parametrize(
        "bbox",
        [
            "1,2,3",
            "1,2,3,4,5",
            "a,b,c,d",
            "1,,3,4",
            "nan,0,1,1",
            "0,0,inf,1",
            "0,0,181,1",
            "-181,0,1,1",
            "0,-91,1,1",
            "0,0,1,91",
            "0,10,1,5",
            "",
        ],
    )
    async def test_invalid_bbox_is_a_400_problem(
        self, client: httpx.AsyncClient, bbox: str
    ) -> None:
        response = await client.get(f"{ITEMS}?bbox={bbox}")
        assert response.status_code == 400, bbox
        assert response.headers["content-type"] == PROBLEM
        assert "bbox" in response.json()["detail"]

    async def test_six_numbers_ignore_heights(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        plain = (await client.get(f"{ITEMS}?bbox=-16.4,13.8,-15.5,14.4")).json()
        heights = (await client.get(f"{ITEMS}?bbox=-16.4,13.8,-100,-15.5,14.4,100")).json()
        assert heights["numberMatched"] == plain["numberMatched"] > 0

    async def test_the_location_index_narrows_the_search(self, session: AsyncSession) -> None:
        statement = repository.services_statement(
            Viewer.of(None), repository.BoundingBox(-16.4, 13.8, -15.5, 14.4), repository.Keyset(10)
        )
        plan = await explain(session, statement)
        # On this small test database the planner may prefer the latitude or longitude btree
        # (migration 0005) to the GiST; on the benchmark's million places it takes the GiST.
        # Either way an index narrows the search: never a scan of every location.
        assert any(
            index in plan
            for index in ("ix_location_point", "ix_location_latitude", "ix_location_longitude")
        )
        assert "Seq Scan on location" not in plan

    async def test_the_area_index_narrows_the_search(self, session: AsyncSession) -> None:
        statement = repository.areas_statement(
            repository.BoundingBox(-16.4, 13.8, -15.5, 14.4), repository.Keyset(10), simplify=None
        )
        assert "ix_admin_area_geom" in await explain(session, statement)


def _geocentric(longitude: float, latitude: float) -> tuple[float, float, float]:
    lon, lat = math.radians(longitude), math.radians(latitude)
    return (math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat))


longitudes = st.floats(min_value=-180, max_value=180)
latitudes = st.floats(min_value=-90, max_value=90)


class TestBoundingBoxProperties:
    @given(longitudes, latitudes, longitudes, latitudes)
    def test_four_numbers_in_range_are_a_box(
        self, west: float, south: float, east: float, north: float
    ) -> None:
        south, north = sorted((south, north))
        box = service.parse_bbox(f"{west!r},{south!r},{east!r},{north!r}")
        assert box == repository.BoundingBox(west, south, east, north)

    @given(st.text(max_size=40))
    def test_anything_else_is_refused_or_a_valid_box(self, value: str) -> None:
        try:
            box = service.parse_bbox(value)
        except service.InvalidParameter:
            return
        assert -90 <= box.south <= box.north <= 90
        assert -180 <= box.west <= 180
        assert -180 <= box.east <= 180

    @given(longitudes, latitudes, longitudes, latitudes, st.floats(0, 1), st.floats(0, 1))
    def test_the_index_cover_contains_every_point_of_the_box(
        self, west: float, south: float, east: float, north: float, u: float, v: float
    ) -> None:
        south, north = sorted((south, north))
        box = repository.BoundingBox(west, south, east, north)
        wkt = repository.geocentric_cover(box)
        corners = [
            _geocentric(*(float(number) for number in point.split()))
            for point in re.findall(r"\(([^()]+)\)", wkt)
        ]
        width = (east - west) % 360 if west > east else east - west
        longitude = west + u * width
        point = _geocentric(
            longitude - 360 if longitude > 180 else longitude, south + v * (north - south)
        )
        for axis in range(3):
            low = min(corner[axis] for corner in corners)
            high = max(corner[axis] for corner in corners)
            assert low - 1e-9 <= point[axis] <= high + 1e-9


async def explain(session: AsyncSession, statement: Any) -> str:
    """The plan, with sequential scans and plain index scans discouraged: the demo tables are too
    small for the planner to prefer the spatial index, so this proves the predicate can use it."""
    await session.execute(text("SET LOCAL enable_seqscan = off"))
    await session.execute(text("SET LOCAL enable_indexscan = off"))  # nor walking the primary key
    sql = statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    rows = await session.execute(text(f"EXPLAIN {sql}"))
    return "\n".join(row[0] for row in rows)


class TestAreas:
    async def test_areas_in_a_box_with_their_polygons(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        body = (await client.get(f"{AREAS}?bbox=-16.3,13.9,-16.2,14.0")).json()
        names = sorted(feature["properties"]["name"] for feature in body["features"])
        assert names == ["Sabali (demo)", "Terre-Démo (demo)"]
        assert body["numberMatched"] == 2
        for feature in body["features"]:
            assert feature["geometry"]["type"] == "MultiPolygon"
        everything = (await client.get(AREAS)).json()
        assert everything["numberMatched"] == 4

    async def test_simplified(self, client: httpx.AsyncClient, network: DemoNetwork) -> None:
        body = (await client.get(f"{AREAS}?simplify=0.01")).json()
        assert body["numberReturned"] == 4
        assert all(f["geometry"]["type"] == "MultiPolygon" for f in body["features"])
        response = await client.get(f"{AREAS}?simplify=2")
        assert response.status_code == 422


class TestItem:
    async def test_a_service_feature_and_an_area_feature(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        first = (await client.get(f"{ITEMS}?limit=1")).json()["features"][0]
        response = await client.get(f"{ITEMS}/{first['id']}")
        assert response.status_code == 200
        assert response.headers["content-type"] == GEOJSON
        body = response.json()
        assert {key: body[key] for key in first} == first
        assert _link(body, "self") == f"http://testserver{ITEMS}/{first['id']}"
        assert _link(body, "collection") == "http://testserver/ogc/collections/services"
        area = (await client.get(f"{AREAS}?limit=1")).json()["features"][0]
        one = await client.get(f"{AREAS}/{area['id']}?f=json")
        assert one.headers["content-type"] == "application/json"
        assert one.json()["properties"] == area["properties"]

    async def test_a_problem_lists_simplify_before_the_format(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get(f"{AREAS}/{uuid.uuid4()}?f=xml&simplify=5")
        assert response.status_code == 422
        issues = [issue["loc"] for issue in response.json()["errors"]]
        assert issues == [["query", "simplify"], ["query", "f"]]

    @pytest.mark.parametrize("feature_id", [str(uuid.uuid4()), "not-a-uuid", "1"])
    async def test_unknown_feature_is_a_404_problem(
        self, client: httpx.AsyncClient, network: DemoNetwork, feature_id: str
    ) -> None:
        for path in (ITEMS, AREAS):
            response = await client.get(f"{path}/{feature_id}")
            assert response.status_code == 404
            assert response.headers["content-type"] == PROBLEM

    async def test_partner_records_only_for_partners(
        self,
        client: httpx.AsyncClient,
        network: DemoNetwork,
        tokens: dict[str, dict[str, str]],
    ) -> None:
        partner_only = str(network.partner_only.id)
        features = features_of(await walk(client, f"{ITEMS}?limit=100", tokens["reader"]))
        [feature] = [f for f in features if f["properties"]["service_id"] == partner_only]
        assert (await client.get(f"{ITEMS}/{feature['id']}")).status_code == 404
        one = await client.get(f"{ITEMS}/{feature['id']}", headers=tokens["reader"])
        assert one.status_code == 200
        anonymous = features_of(await walk(client, f"{ITEMS}?limit=100"))
        assert partner_only not in {f["properties"]["service_id"] for f in anonymous}

    async def test_a_bad_token_is_refused_not_ignored(self, client: httpx.AsyncClient) -> None:
        response = await client.get(ITEMS, headers={"Authorization": "Bearer rly_at_" + "A" * 43})
        assert response.status_code == 401


def _cells(step: float) -> list[str]:
    """bbox values tiling the demo region in squares of ``step`` degrees."""
    south, west, north, east = REGION
    cells: list[str] = []
    for row in range(round((north - south) / step)):
        for column in range(round((east - west) / step)):
            cell_south = round(south + row * step, 2)
            cell_west = round(west + column * step, 2)
            cell = (cell_west, cell_south, round(cell_west + step, 2), round(cell_south + step, 2))
            cells.append(",".join(str(value) for value in cell))
    return cells


class TestConfidentialLocations:
    """The demo shelter's position reaches only directory:confidential, whatever is asked."""

    async def everything(self, client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
        documents: list[str] = []
        for path in ("/ogc/", "/ogc/collections", "/ogc/collections/services"):
            documents.append((await client.get(path, headers=headers)).text)
        for query in ("?limit=3", "?limit=1000&f=json"):
            for page in await walk(client, ITEMS + query, headers):
                documents.append(json.dumps(page))
                for feature in page["features"]:
                    one = await client.get(f"{ITEMS}/{feature['id']}", headers=headers)
                    documents.append(one.text)
        return documents

    def shelter_feature(self, features: list[Json], network: DemoNetwork) -> Json:
        [shelter] = [
            f for f in features if f["properties"]["location_id"] == str(network.shelter.id)
        ]
        return shelter

    @pytest.mark.parametrize("caller", ["anonymous", "reader"])
    async def test_listed_without_position_or_name(
        self,
        client: httpx.AsyncClient,
        network: DemoNetwork,
        tokens: dict[str, dict[str, str]],
        caller: str,
    ) -> None:
        headers = tokens[caller]
        secrets = [json.dumps(network.shelter.latitude), json.dumps(network.shelter.longitude)]
        secrets.append("Safe haven house")
        documents = await self.everything(client, headers)
        for document in documents:
            for secret in secrets:
                assert secret not in document, f"{caller} saw {secret!r}"
        features = features_of(await walk(client, f"{ITEMS}?limit=100", headers))
        shelter = self.shelter_feature(features, network)
        assert shelter["geometry"] is None
        properties = shelter["properties"]
        assert properties["location_name"] == "Confidential location"
        assert properties["confidential"] is True
        assert properties["admin_area"] == "Terre-Démo (demo)"
        assert properties["phones"], "the service's phone is the contact channel"

    @pytest.mark.parametrize("caller", ["anonymous", "reader"])
    async def test_no_bbox_locates_it(
        self,
        client: httpx.AsyncClient,
        network: DemoNetwork,
        tokens: dict[str, dict[str, str]],
        caller: str,
    ) -> None:
        headers = tokens[caller]
        shelter_id = str(network.shelter.id)
        located = [
            f
            for f in features_of(await walk(client, f"{ITEMS}?limit=100", headers))
            if f["geometry"] is not None
        ]
        matched_total = 0
        for bbox in [*_cells(0.1), "-16.03,14.02,-16.01,14.04", "-16.02,14.03,-16.02,14.03"]:
            response = await client.get(f"{ITEMS}?limit=100&bbox={bbox}", headers=headers)
            assert response.status_code == 200
            body = response.json()
            assert shelter_id not in response.text, f"{caller} located the shelter in {bbox}"
            assert all(f["geometry"] is not None for f in body["features"])
            if bbox in _cells(0.1):
                matched_total += body["numberMatched"]
        # Each located feature is counted once per cell it touches (cells share edges); the
        # shelter adds nothing.
        expected = 0
        for cell in _cells(0.1):
            west, south, east, north = (float(value) for value in cell.split(","))
            expected += sum(inside(f, west, south, east, north) for f in located)
        assert matched_total == expected

    async def test_located_with_directory_confidential(
        self, client: httpx.AsyncClient, network: DemoNetwork, tokens: dict[str, dict[str, str]]
    ) -> None:
        headers = tokens["confidential"]
        shelter = network.shelter
        features = features_of(await walk(client, f"{ITEMS}?limit=100", headers))
        feature = self.shelter_feature(features, network)
        assert feature["geometry"]["coordinates"] == [shelter.longitude, shelter.latitude]
        assert feature["properties"]["location_name"] == "Safe haven house (demo)"
        found = [
            cell
            for cell in _cells(0.1)
            if str(shelter.id)
            in (await client.get(f"{ITEMS}?limit=100&bbox={cell}", headers=headers)).text
        ]
        assert len(found) == 1


# -- GDAL -----------------------------------------------------------------------------------------

GDAL_ENVIRONMENT = {
    **os.environ,
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "GDAL_HTTP_TIMEOUT": "30",
    "CPL_DEBUG": "OFF",
}


@pytest.fixture(scope="module")
def gdal() -> dict[str, str]:
    tools = {tool: shutil.which(tool) for tool in ("ogrinfo", "ogr2ogr")}
    missing = [tool for tool, path in tools.items() if path is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run scripts/test-tools.sh (make test does)")
    return {tool: path for tool, path in tools.items() if path is not None}


async def run(*command: str) -> str:
    """A GDAL command, without blocking the event loop that serves it."""
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=GDAL_ENVIRONMENT,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


class TestGdal:
    @pytest.mark.parametrize("layer", ["services", "areas"])
    async def test_ogrinfo_lists_the_layer_with_its_feature_count(
        self, served: str, network: DemoNetwork, gdal: dict[str, str], layer: str
    ) -> None:
        async with httpx.AsyncClient(base_url=served) as http:
            matched = (await http.get(f"/ogc/collections/{layer}/items")).json()["numberMatched"]
        output = await run(gdal["ogrinfo"], "-so", "-ro", f"OAPIF:{served}/ogc", layer)
        assert f"Layer name: {layer}" in output
        assert f"Feature Count: {matched}\n" in output
        south, west, north, east = REGION
        if layer == "areas":
            assert f"Extent: ({west:.6f}, {south:.6f}) - ({east:.6f}, {north:.6f})" in output

    async def test_paging_through_next_returns_every_feature_once(
        self, served: str, network: DemoNetwork, gdal: dict[str, str]
    ) -> None:
        async with httpx.AsyncClient(base_url=served) as http:
            pages = await walk(http, f"{ITEMS}?limit=100")
        expected = {feature["id"] for feature in features_of(pages)}
        output = await run(
            gdal["ogr2ogr"],
            "-f",
            "GeoJSON",
            "/vsistdout/",
            f"OAPIF:{served}/ogc",
            "services",
            "-oo",
            "PAGE_SIZE=3",
        )
        features = json.loads(output)["features"]
        ids = [feature["properties"]["id"] for feature in features]
        assert len(ids) == len(set(ids)) == pages[0]["numberMatched"] > 6
        assert set(ids) == expected
        [shelter] = [
            f for f in features if f["properties"]["location_id"] == str(network.shelter.id)
        ]
        assert shelter["geometry"] is None
