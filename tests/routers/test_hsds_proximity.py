"""Proximity search on /hsds/service_at_locations (lat/long or postcode, proximity): against an
independent geodesic oracle (GeographicLib, WGS 84), with paging, filters and HSDS conformance;
and the confidential shelter neither ranked, counted nor located for callers who may not
locate it."""

import math
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from geographiclib.geodesic import Geodesic
from sqlalchemy import select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from api.auth.scopes import Scope
from api.auth.viewer import Viewer
from api.config import Settings
from api.filters import DirectoryFilters
from api.importers.facilities import import_facilities
from api.models.directory import Address, Location, Service, ServiceAtLocation
from api.models.organization import Organization, OrganizationKind
from api.repositories import directory as repository
from api.taxonomy import term_id
from tests.factories.auth import create_partner
from tests.factories.directory import WHO_KEMRI, DemoNetwork, load_demo
from tests.hsds_conformance import validate_hsds

RWANDA = (-2.9, 28.8, -1.0, 31.0)  # south, west, north, east
KIGALI = (-1.9441, 30.0619)
URL = "/hsds/service_at_locations"
# Distances are given to 0.1 m; PostGIS and GeographicLib agree far below that.
TOLERANCE_M = 0.1

Place = tuple[str, float, float]  # location id, latitude, longitude


def geodesic(latitude: float, longitude: float, place: Place) -> float:
    return float(Geodesic.WGS84.Inverse(latitude, longitude, place[1], place[2])["s12"])


def oracle(
    point: tuple[float, float], places: list[Place], within_m: float | None = None
) -> list[tuple[str, float]]:
    """Every place (within ``within_m``), nearest first, by WGS 84 geodesic distance."""
    ranked = sorted(
        ((place[0], geodesic(point[0], point[1], place)) for place in places),
        key=lambda item: item[1],
    )
    return [item for item in ranked if within_m is None or item[1] <= within_m]


def assert_ranked(items: list[dict[str, Any]], expected: list[tuple[str, float]]) -> None:
    """Each place at its oracle distance, and the k-th distance the oracle's k-th: the same
    ranking, up to the order of places at the same distance."""
    point_distances = dict(expected)
    assert len(items) == len(expected)
    got = [item["distance_m"] for item in items]
    assert got == sorted(got)
    assert len({item["id"] for item in items}) == len(items)
    for item, (_, wanted) in zip(items, expected, strict=True):
        assert item["distance_m"] == round(item["distance_m"], 1)
        assert abs(item["distance_m"] - wanted) <= TOLERANCE_M, (item["location_id"], wanted)
        assert abs(item["distance_m"] - point_distances[item["location_id"]]) <= TOLERANCE_M


async def walk(
    client: httpx.AsyncClient, params: dict[str, Any], per_page: int
) -> tuple[list[dict[str, Any]], int]:
    """Every page of a search, checking the envelope of each; the items and the total."""
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        response = await client.get(URL, params={**params, "per_page": per_page, "page": page})
        assert response.status_code == 200, response.text
        body = response.json()
        total = body["total_items"]
        assert body["total_pages"] == max(1, math.ceil(total / per_page))
        assert body["page_number"] == page
        assert body["first_page"] is (page == 1)
        assert body["size"] == len(body["contents"]) == min(per_page, total - (page - 1) * per_page)
        items += body["contents"]
        if body["last_page"]:
            assert page == body["total_pages"]
            return items, total
        page += 1


# -- real places: WHO/KEMRI health facilities of Rwanda ------------------------------------------


@pytest.fixture(scope="class")
async def rwanda(
    app: FastAPI, owner_engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[list[Place]]:
    """Rwanda's facilities, committed and analysed once for the class (the planner needs
    statistics that rows inside a rolled-back test never get), removed after it."""
    report = tmp_path_factory.mktemp("import") / "report.csv"
    async with app.state.engine.connect() as connection, AsyncSession(bind=connection) as session:
        await import_facilities(
            session, WHO_KEMRI, "who-kemri", countries=["RWA"], report_path=report
        )
        await session.commit()
        rows = await session.execute(
            select(col(Location.id), col(Location.latitude), col(Location.longitude)).where(
                col(Location.source) == "who-kemri", col(Location.source_id).startswith("RWA-")
            )
        )
        places = [(str(place), float(lat), float(lon)) for place, lat, lon in rows]
    async with owner_engine.begin() as owner:
        for table in ("location", "service", "organization", "service_at_location", "attribute"):
            await owner.execute(text(f"ANALYZE {table}"))
    assert len(places) > 500
    try:
        yield places
    finally:
        async with owner_engine.begin() as owner:
            services = (
                "SELECT id FROM service WHERE source = 'who-kemri' AND source_id LIKE 'RWA-%'"
            )
            for statement in (
                # The import told partners of each facility (directory.changed): forgotten too.
                f"DELETE FROM outbox_event WHERE subject_id IN ({services})",
                f"DELETE FROM attribute WHERE link_id IN ({services})",
                f"DELETE FROM service_at_location WHERE service_id IN ({services})",
                "DELETE FROM service WHERE source = 'who-kemri' AND source_id LIKE 'RWA-%'",
                "DELETE FROM location WHERE source = 'who-kemri' AND source_id LIKE 'RWA-%'",
                "DELETE FROM organization WHERE source = 'who-kemri' AND source_id LIKE 'RWA-%'",
            ):
                await owner.execute(text(statement))


class TestAgainstAnOracle:
    async def test_first_pages_from_random_points(
        self, client: httpx.AsyncClient, rwanda: list[Place]
    ) -> None:
        generator = random.Random(20261123)
        south, west, north, east = RWANDA
        for _ in range(40):
            point = (generator.uniform(south, north), generator.uniform(west, east))
            response = await client.get(
                URL,
                params={"lat": point[0], "long": point[1], "proximity": 60_000, "per_page": 10},
            )
            assert response.status_code == 200, response.text
            expected = oracle(point, rwanda, within_m=60_000)
            assert response.json()["total_items"] == len(expected)
            assert_ranked(response.json()["contents"], expected[:10])

    @pytest.mark.parametrize("point", [KIGALI, (-2.6, 29.74), (-1.5, 29.63)])
    async def test_pages_walk_every_place_within_proximity_nearest_first(
        self, client: httpx.AsyncClient, rwanda: list[Place], point: tuple[float, float]
    ) -> None:
        params = {"lat": point[0], "long": point[1], "proximity": 25_000}
        items, total = await walk(client, params, per_page=7)
        expected = oracle(point, rwanda, within_m=25_000)
        assert total == len(expected) > 14
        assert_ranked(items, expected)

    async def test_proximity_keeps_only_places_within_it(
        self, client: httpx.AsyncClient, rwanda: list[Place]
    ) -> None:
        point = {"lat": KIGALI[0], "long": KIGALI[1], "per_page": 100}
        near = (await client.get(URL, params={**point, "proximity": 5_000})).json()
        everything = (await client.get(URL, params=point)).json()
        expected = oracle(KIGALI, rwanda, within_m=5_000)
        assert 0 < near["total_items"] == len(expected) < everything["total_items"]
        assert all(item["distance_m"] <= 5_000 for item in near["contents"])
        assert {item["location_id"] for item in near["contents"]} == {p for p, _ in expected}
        farthest, _ = oracle(KIGALI, rwanda)[-1]
        assert farthest not in {item["location_id"] for item in near["contents"]}
        # Without proximity the same places come first, in the same order.
        assert everything["contents"][: len(expected)] == near["contents"]

    async def test_ranked_on_the_wgs84_ellipsoid_not_on_a_sphere(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        # From (0, 0): 1 degree north is 110,574 m on WGS 84 but 111,195 m on PostGIS's sphere;
        # 0.995 degree east is 110,763 m on WGS 84 but 110,639 m on the sphere. A KNN-only
        # order (spherical) would put east first.
        organization, [north, east] = await add_places(session, [(1.0, 0.0), (0.0, 0.995)])
        params = {"lat": 0, "long": 0, "organization_id": str(organization.id), "per_page": 1}
        first = (await client.get(URL, params=params)).json()
        second = (await client.get(URL, params={**params, "page": 2})).json()
        assert first["total_items"] == 2
        ranked = [first["contents"][0], second["contents"][0]]
        assert [item["location_id"] for item in ranked] == [str(north.id), str(east.id)]
        assert abs(ranked[0]["distance_m"] - 110_574.4) <= TOLERANCE_M
        assert abs(ranked[1]["distance_m"] - 110_762.9) <= TOLERANCE_M

    async def test_both_phases_can_use_the_gist_index(
        self, session: AsyncSession, rwanda: list[Place]
    ) -> None:
        """The query's shape lets the index drive both phases. Whether the planner takes it is a
        cost decision: with a country's few hundred rows a hash join and a sort are as cheap
        (with the 96,000 facilities of the WHO/KEMRI file it takes the index), so sequential
        scans are priced out here, for this transaction only."""
        statement = repository.filter_services(
            repository.located_service_at_locations(Viewer.of(None)), DirectoryFilters()
        )
        query = repository.by_distance(
            statement, KIGALI[0], KIGALI[1], within_m=None, limit=10, offset=20
        )
        sql = query.page.compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join((await session.execute(text(f"EXPLAIN {sql}"))).scalars())
        knn, _, exact = plan.partition("InitPlan")[2].partition("->  Sort")
        assert "Index Scan using ix_location_point" in knn
        assert "Order By: (point <-> " in knn  # nearest first, from the index: no sort
        assert "Index Scan using ix_location_point" in exact
        assert "(point && _st_expand(" in exact  # every row within the bound, from the index


async def add_places(
    session: AsyncSession, points: list[tuple[float, float]]
) -> tuple[Organization, list[Location]]:
    organization = Organization(name="Outreach network (test)", kind=OrganizationKind.ngo.value)
    session.add(organization)
    await session.flush()
    service = Service(organization_id=organization.id, name="Outreach (test)")
    locations = [
        Location(organization_id=organization.id, name=f"Place {n}", latitude=lat, longitude=lon)
        for n, (lat, lon) in enumerate(points)
    ]
    session.add(service)
    session.add_all(locations)
    await session.flush()
    session.add_all(
        ServiceAtLocation(service_id=service.id, location_id=location.id) for location in locations
    )
    await session.flush()
    return organization, locations


# -- the demo network --------------------------------------------------------------------------


@pytest.fixture
async def network(session: AsyncSession) -> DemoNetwork:
    return await load_demo(session)


async def headers_for(session: AsyncSession, settings: Settings, caller: str) -> dict[str, str]:
    scopes = {
        "anonymous": None,
        "reader": [Scope.directory_read],
        "confidential": [Scope.directory_read, Scope.directory_confidential],
    }[caller]
    if scopes is None:
        return {}
    return (await create_partner(session, settings, scopes=scopes)).headers


async def location_named(session: AsyncSession, name: str) -> Location:
    return (await session.execute(select(Location).where(col(Location.name) == name))).scalar_one()


async def set_postcode(session: AsyncSession, location: Location, postcode: str) -> None:
    await session.execute(
        update(Address).where(col(Address.location_id) == location.id).values(postal_code=postcode)
    )


def demo_places(body: dict[str, Any]) -> list[Place]:
    """The located places of a plain (non-proximity) listing, as an anonymous caller sees them."""
    return [
        (item["location_id"], item["location"]["latitude"], item["location"]["longitude"])
        for item in body["contents"]
        if "latitude" in item["location"]
    ]


class TestFiltersAndPaging:
    async def test_filters_narrow_a_proximity_search(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        point = {"lat": 14.1, "long": -16.0}
        ranked, _ = await walk(client, point, per_page=100)
        listed = (await client.get(URL, params={"per_page": 100})).json()
        assert_ranked(ranked, oracle((14.1, -16.0), demo_places(listed)))
        police = next(s for s in network.services if "police" in s.name)
        filters = {
            "taxonomy_term_id": str(term_id("post-rape-care")),
            "search": "police",
            "organization_id": str(police.organization_id),
            "modified_after": police.last_modified.isoformat(),
        }
        for name, value in filters.items():
            plain = (await client.get(URL, params={name: value, "per_page": 100})).json()
            # Places without a position a caller may know (the shelter) are not in the search.
            wanted = {item["id"] for item in plain["contents"] if "latitude" in item["location"]}
            near, total = await walk(client, {**point, name: value}, per_page=2)
            assert [item["id"] for item in near] == [i["id"] for i in ranked if i["id"] in wanted]
            assert total == len(wanted) > 0, name

    async def test_pages_are_consistent_with_one_another(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        point = {"lat": 14.0, "long": -15.9, "proximity": 40_000}
        one_page, total = await walk(client, point, per_page=100)
        for per_page in (1, 3, 4):
            paged, paged_total = await walk(client, point, per_page=per_page)
            assert paged == one_page
            assert paged_total == total

    async def test_full_service_and_distance_together(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        body = (
            await client.get(URL, params={"lat": 14.1, "long": -16.0, "full_service": "true"})
        ).json()
        assert body["contents"]
        for item in body["contents"]:
            assert "distance_m" in item
            assert "service_at_locations" in item["service"]


class TestPostcode:
    async def test_found_without_case_or_spaces(
        self, client: httpx.AsyncClient, session: AsyncSession, network: DemoNetwork
    ) -> None:
        clinic = await location_named(session, "Legal clinic, Kounda (demo)")
        await set_postcode(session, clinic, "KD1 4AB")
        at_the_clinic = (
            await client.get(
                URL, params={"lat": clinic.latitude, "long": clinic.longitude, "proximity": 20_000}
            )
        ).json()
        for spelling in ("KD1 4AB", "kd14ab", "Kd1  4aB "):
            response = await client.get(URL, params={"postcode": spelling, "proximity": 20_000})
            assert response.status_code == 200, response.text
            assert response.json() == at_the_clinic
        first = at_the_clinic["contents"][0]
        assert first["location_id"] == str(clinic.id)
        assert first["distance_m"] == 0
        assert all(item["distance_m"] <= 20_000 for item in at_the_clinic["contents"])

    async def test_without_proximity_it_only_orders(
        self, client: httpx.AsyncClient, session: AsyncSession, network: DemoNetwork
    ) -> None:
        clinic = await location_named(session, "Legal clinic, Kounda (demo)")
        await set_postcode(session, clinic, "KD1 4AB")
        by_postcode = (await client.get(URL, params={"postcode": "KD1 4AB"})).json()
        by_point = (
            await client.get(URL, params={"lat": clinic.latitude, "long": clinic.longitude})
        ).json()
        assert by_postcode == by_point

    async def test_several_places_centre_on_the_one_nearest_their_centroid(
        self, client: httpx.AsyncClient, session: AsyncSession, network: DemoNetwork
    ) -> None:
        names = [
            "Social welfare office, Sabali (demo)",
            "Legal clinic, Kounda (demo)",
            "Horizons centre, Mbayène (demo)",
        ]
        places = [await location_named(session, name) for name in names]
        for place in places:
            await set_postcode(session, place, "TRI 9")
        latitude = sum(p.latitude or 0 for p in places) / 3
        longitude = sum(p.longitude or 0 for p in places) / 3
        middle = min(
            places,
            key=lambda p: (
                ((p.latitude or 0) - latitude) ** 2 + ((p.longitude or 0) - longitude) ** 2
            ),
        )
        body = (await client.get(URL, params={"postcode": "tri9"})).json()
        assert body["contents"][0]["location_id"] == str(middle.id)
        assert body["contents"][0]["distance_m"] == 0

    @pytest.mark.parametrize("caller", ["anonymous", "confidential"])
    async def test_unknown_postcode_is_422_naming_it(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        network: DemoNetwork,
        caller: str,
    ) -> None:
        headers = await headers_for(session, settings, caller)
        for params in ({"postcode": "ZZ9 9ZZ"}, {"postcode": "ZZ9 9ZZ", "proximity": 5000}):
            response = await client.get(URL, params=params, headers=headers)
            assert response.status_code == 422
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["type"] == "urn:relay:problem:unknown-postcode"
            assert problem["errors"][0]["loc"] == ["query", "postcode"]
            assert "ZZ9" not in response.text

    async def test_postcode_of_places_without_a_position_is_unknown(
        self, client: httpx.AsyncClient, session: AsyncSession, network: DemoNetwork
    ) -> None:
        clinic = await location_named(session, "Legal clinic, Kounda (demo)")
        virtual = Location(organization_id=clinic.organization_id, location_type="virtual")
        session.add(virtual)
        await session.flush()
        session.add(
            Address(
                location_id=virtual.id,
                address_1="PO Box 1",
                city="Kounda",
                postal_code="BOX 1",
                country="ZZ",
            )
        )
        await session.flush()
        unknown = await client.get(URL, params={"postcode": "ZZ9 9ZZ"})
        unlocated = await client.get(URL, params={"postcode": "BOX 1"})
        assert unlocated.status_code == 422
        assert without_request_id(unlocated) == without_request_id(unknown)


def without_request_id(response: httpx.Response) -> dict[str, Any]:
    return {key: value for key, value in response.json().items() if key != "request_id"}


class TestValidation:
    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"lat": 14.0}, "long"),
            ({"long": -16.0}, "lat"),
            ({"lat": 14.0, "proximity": 1000}, "long"),
            ({"proximity": 1000}, "proximity"),
            ({"postcode": "00000", "lat": 14.0, "long": -16.0}, "postcode"),
            ({"lat": 91, "long": 0}, "lat"),
            ({"lat": "nan", "long": 0}, "lat"),
            ({"lat": 0, "long": 180.5}, "long"),
            ({"lat": 0, "long": 0, "proximity": 0}, "proximity"),
            ({"lat": 0, "long": 0, "proximity": -5}, "proximity"),
            ({"lat": 0, "long": 0, "proximity": 1_000_001}, "proximity"),
            ({"lat": 0, "long": 0, "proximity": "far"}, "proximity"),
            ({"postcode": "no/such"}, "postcode"),
            ({"postcode": "A" * 17}, "postcode"),
        ],
    )
    async def test_bad_parameters_are_422_naming_the_field(
        self, client: httpx.AsyncClient, params: dict[str, object], field: str
    ) -> None:
        response = await client.get(URL, params=params)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["loc"] == ["query", field]


class TestConformance:
    @pytest.mark.parametrize("caller", ["anonymous", "confidential"])
    async def test_proximity_pages_validate_against_hsds(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        network: DemoNetwork,
        caller: str,
    ) -> None:
        headers = await headers_for(session, settings, caller)
        for params in (
            {"lat": 14.03, "long": -16.02, "per_page": 5},
            {"lat": 14.03, "long": -16.02, "proximity": 30_000, "page": 2, "per_page": 3},
            {"postcode": "00000", "proximity": 50_000},
        ):
            response = await client.get(URL, params=params, headers=headers)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["contents"]
            assert all("distance_m" in item for item in body["contents"])
            assert validate_hsds(body, "service_at_location_list_page") == []
            for item in body["contents"]:
                assert validate_hsds(item, "service_at_location_list_item") == []


class TestConfidentialShelter:
    """A shelter's position must not leak through ranking, radius or count (trilateration)."""

    @staticmethod
    def queries(network: DemoNetwork) -> list[dict[str, Any]]:
        shelter = network.shelter
        assert shelter.latitude is not None
        assert shelter.longitude is not None
        generator = random.Random(7)
        points = [
            (shelter.latitude, shelter.longitude),
            (shelter.latitude + 0.00001, shelter.longitude),
            (shelter.latitude, shelter.longitude - 0.001),
            (shelter.latitude - 0.01, shelter.longitude + 0.01),
        ] + [(generator.uniform(13.8, 14.4), generator.uniform(-16.4, -15.5)) for _ in range(20)]
        extras: list[dict[str, Any]] = [
            {},
            {"proximity": 1},
            {"proximity": 250},
            {"proximity": 5_000},
            {"proximity": 1_000_000},
            {"taxonomy_term_id": str(term_id("safe-shelter"))},
            {"search": "shelter", "proximity": 20_000},
        ]
        return [
            {"lat": lat, "long": lon, "per_page": 100, **extra}
            for n, (lat, lon) in enumerate(points)
            for extra in (extras if n < 4 else extras[::3])
        ]

    @pytest.mark.parametrize("caller", ["anonymous", "reader"])
    async def test_absent_from_every_proximity_search(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        network: DemoNetwork,
        caller: str,
    ) -> None:
        headers = await headers_for(session, settings, caller)
        shelter = network.shelter
        for params in self.queries(network):
            response = await client.get(URL, params=params, headers=headers)
            assert response.status_code == 200, response.text
            body = response.json()
            assert str(shelter.id) not in {item["location_id"] for item in body["contents"]}
            assert body["total_items"] == len(body["contents"])
            compact = response.text.replace(" ", "")
            assert f'"latitude":{shelter.latitude},' not in compact
            assert f'"longitude":{shelter.longitude},' not in compact
            assert "Safe haven house" not in response.text
        on_top = {"lat": shelter.latitude, "long": shelter.longitude, "proximity": 1}
        assert (await client.get(URL, params=on_top, headers=headers)).json()["empty"] is True
        # Still listed, redacted, outside proximity searches.
        listed = (await client.get(URL, params={"per_page": 100}, headers=headers)).json()
        [redacted] = [i for i in listed["contents"] if i["location_id"] == str(shelter.id)]
        assert redacted["location"]["confidential"] is True
        assert "latitude" not in redacted["location"]

    async def test_answers_do_not_depend_on_where_it_is(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        network: DemoNetwork,
    ) -> None:
        callers = {
            caller: await headers_for(session, settings, caller)
            for caller in ("anonymous", "reader", "confidential")
        }
        queries = self.queries(network)[::3]

        async def answers() -> dict[str, list[dict[str, Any]]]:
            return {
                caller: [
                    (await client.get(URL, params=params, headers=headers)).json()
                    for params in queries
                ]
                for caller, headers in callers.items()
            }

        before = await answers()
        shelter = network.shelter
        assert shelter.latitude is not None
        shelter.latitude += 0.2
        await session.flush()
        after = await answers()
        assert after["anonymous"] == before["anonymous"]
        assert after["reader"] == before["reader"]
        # The check can fail: to a caller who may locate the shelter, the answers do change.
        assert after["confidential"] != before["confidential"]

    @pytest.mark.parametrize("caller", ["anonymous", "reader"])
    async def test_its_postcode_is_unknown_and_does_not_move_a_shared_one(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        network: DemoNetwork,
        caller: str,
    ) -> None:
        headers = await headers_for(session, settings, caller)
        # Every demo address has postcode 00000, the shelter's too.
        shared = (
            await client.get(URL, params={"postcode": "00000", "per_page": 100}, headers=headers)
        ).json()
        await set_postcode(session, network.shelter, "SH3 1TR")
        without_it = (
            await client.get(URL, params={"postcode": "00000", "per_page": 100}, headers=headers)
        ).json()
        assert shared == without_it
        own = await client.get(URL, params={"postcode": "SH3 1TR"}, headers=headers)
        unknown = await client.get(URL, params={"postcode": "ZZ9 9ZZ"}, headers=headers)
        assert own.status_code == unknown.status_code == 422
        assert without_request_id(own) == without_request_id(unknown)

    async def test_located_with_directory_confidential(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        network: DemoNetwork,
    ) -> None:
        headers = await headers_for(session, settings, "confidential")
        shelter = network.shelter
        assert shelter.latitude is not None
        assert shelter.longitude is not None
        on_top = await client.get(
            URL,
            params={"lat": shelter.latitude, "long": shelter.longitude, "proximity": 1},
            headers=headers,
        )
        [item] = on_top.json()["contents"]
        assert item["location_id"] == str(shelter.id)
        assert item["distance_m"] == 0
        assert item["location"]["latitude"] == shelter.latitude
        point = (14.2, -15.8)
        away = (
            await client.get(
                URL, params={"lat": point[0], "long": point[1], "per_page": 100}, headers=headers
            )
        ).json()
        [found] = [i for i in away["contents"] if i["location_id"] == str(shelter.id)]
        shelter_place = (str(shelter.id), shelter.latitude, shelter.longitude)
        assert abs(found["distance_m"] - geodesic(*point, shelter_place)) <= TOLERANCE_M
        await set_postcode(session, shelter, "SH3 1TR")
        by_postcode = (await client.get(URL, params={"postcode": "sh31tr"}, headers=headers)).json()
        assert by_postcode["contents"][0]["location_id"] == str(shelter.id)
        assert by_postcode["contents"][0]["distance_m"] == 0
