"""Nearest-service search: against an independent geodesic oracle, and the shelter kept hidden."""

import json
import math
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from geoalchemy2.shape import from_shape
from geographiclib.geodesic import Geodesic
from jsonschema import Draft202012Validator
from shapely.geometry import MultiPolygon, box
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from api.auth.scopes import Scope
from api.config import Settings
from api.importers.facilities import import_facilities
from api.models.directory import (
    AdminArea,
    Attribute,
    Location,
    Service,
    ServiceArea,
    ServiceAtLocation,
)
from api.models.organization import Organization
from api.schemas.search import Pathway, SearchPage
from api.services.demo import _id
from api.services.search import DEFAULT_RADIUS_M, MAXIMUM_RADIUS_M
from api.taxonomy import NEED_CODES, term_id
from tests.factories.auth import create_partner
from tests.factories.directory import WHO_KEMRI, DemoNetwork, load_demo
from tests.factories.organizations import create_organization

MADAGASCAR = (-25.6, 43.2, -11.9, 50.5)  # south, west, north, east
LIMIT = 10
SPECIAL_NEED = "post-rape-care"


def oracle_order(
    point: tuple[float, float],
    places: list[tuple[str, float, float]],
    *,
    within_m: float = DEFAULT_RADIUS_M,
) -> list[tuple[str, float]]:
    """The first places by geodesic distance, within ``within_m`` (the API's default radius)."""
    lat, lon = point
    # A spherical pre-selection (off by well under 1 % from the ellipsoid) keeps the exact
    # geodesic computation to a few dozen places per point.
    rough = sorted(places, key=lambda place: _haversine(lat, lon, place[1], place[2]))[: LIMIT * 5]
    distances = [
        (link, Geodesic.WGS84.Inverse(lat, lon, place_lat, place_lon)["s12"])
        for link, place_lat, place_lon in rough
    ]
    within = [item for item in distances if item[1] <= within_m]
    return sorted(within, key=lambda item: item[1])[:LIMIT]


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def assert_same_ranking(got: list[dict[str, object]], expected: list[tuple[str, float]]) -> None:
    assert len(got) == len(expected)
    for item, (_, distance) in zip(got, expected, strict=True):
        assert abs(float(item["distance_m"]) - distance) < 0.5, (item, distance)  # type: ignore[arg-type]
    got_links = [str(item["location"]["id"]) for item in got]  # type: ignore[index]
    expected_links = [link for link, _ in expected]
    for index, (mine, theirs) in enumerate(zip(got_links, expected_links, strict=True)):
        if mine != theirs:  # only a tie may swap two places
            assert abs(expected[index][1] - dict(expected).get(mine, float("inf"))) < 0.5


@pytest.fixture(scope="module")
async def madagascar(
    app: FastAPI, owner_engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[list[tuple[str, float, float, bool]]]:
    """The WHO/KEMRI Madagascar facilities, committed and analysed once for this module (the
    planner needs statistics that rows inside a rolled-back test never get), removed afterwards.
    Every seventh facility also offers post-rape care, so a need filter selects a real subset."""
    report = tmp_path_factory.mktemp("import") / "report.csv"
    async with app.state.engine.connect() as connection, AsyncSession(bind=connection) as session:
        await import_facilities(
            session, WHO_KEMRI, "who-kemri", countries=["MDG"], report_path=report
        )
        await session.commit()
        links = list(
            (
                await session.execute(
                    select(col(ServiceAtLocation.service_id))
                    .join(Location, col(Location.id) == col(ServiceAtLocation.location_id))
                    .where(col(Location.source) == "who-kemri")
                    .order_by(col(Location.source_id))
                )
            ).scalars()
        )
        special = term_id(SPECIAL_NEED)
        session.add_all(
            Attribute(link_id=service, link_entity="service", taxonomy_term_id=special)
            for service in links[::7]
        )
        await session.commit()
        rows = await session.execute(
            select(
                col(Location.id),
                col(Location.latitude),
                col(Location.longitude),
                col(Attribute.id).is_not(None),
            )
            .join(ServiceAtLocation, col(ServiceAtLocation.location_id) == col(Location.id))
            .outerjoin(
                Attribute,
                (col(Attribute.link_id) == col(ServiceAtLocation.service_id))
                & (col(Attribute.taxonomy_term_id) == special),
            )
            .where(col(Location.source) == "who-kemri")
        )
        places = [(str(a), float(b), float(c), bool(d)) for a, b, c, d in rows]
    async with owner_engine.begin() as owner:
        await owner.execute(text("ANALYZE"))
    assert len(places) > 2600
    try:
        yield places
    finally:
        async with owner_engine.begin() as owner:
            services = "SELECT id FROM service WHERE source = 'who-kemri'"
            for statement in (
                # The import told partners of each facility (directory.changed): forgotten too.
                f"DELETE FROM outbox_event WHERE subject_id IN ({services})",
                f"DELETE FROM attribute WHERE link_id IN ({services})",
                f"DELETE FROM service_at_location WHERE service_id IN ({services})",
                "DELETE FROM service WHERE source = 'who-kemri'",
                "DELETE FROM location WHERE source = 'who-kemri'",
                "DELETE FROM organization WHERE source = 'who-kemri'",
            ):
                await owner.execute(text(statement))


class TestAgainstAnOracle:
    async def test_200_random_points_with_and_without_a_need(
        self, client: httpx.AsyncClient, madagascar: list[tuple[str, float, float, bool]]
    ) -> None:
        generator = random.Random(20261123)
        everything = [(link, lat, lon) for link, lat, lon, _ in madagascar]
        maternal = [(link, lat, lon) for link, lat, lon, has in madagascar if has]
        assert len(maternal) >= LIMIT
        south, west, north, east = MADAGASCAR
        for _ in range(200):
            point = (generator.uniform(south, north), generator.uniform(west, east))
            plain = await client.get(
                "/v1/search/nearest", params={"lat": point[0], "lon": point[1], "limit": LIMIT}
            )
            assert plain.status_code == 200, plain.text
            assert_same_ranking(plain.json()["data"], oracle_order(point, everything))
            needed = await client.get(
                "/v1/search/nearest",
                params={
                    "lat": point[0],
                    "lon": point[1],
                    "limit": LIMIT,
                    "need": SPECIAL_NEED,
                },
            )
            assert_same_ranking(needed.json()["data"], oracle_order(point, maternal))

    async def test_radius_keeps_only_places_within_it(
        self, client: httpx.AsyncClient, madagascar: list[tuple[str, float, float, bool]]
    ) -> None:
        body = (
            await client.get(
                "/v1/search/nearest",
                params={"lat": -18.91, "lon": 47.52, "radius_m": 5000, "limit": 100},
            )
        ).json()
        assert body["data"]
        assert all(item["distance_m"] <= 5000 for item in body["data"])


@pytest.fixture
async def network(session: AsyncSession) -> DemoNetwork:
    return await load_demo(session)


class TestEllipsoidalOrder:
    async def test_a_place_ranked_far_on_the_sphere_comes_first_on_the_ellipsoid(
        self, client: httpx.AsyncClient, session: AsyncSession, network: DemoNetwork
    ) -> None:
        """Twenty places 100 km east along the equator and one 100.4 km north: on the sphere
        the index ranks the northern one 21st, on the ellipsoid (meridians are shorter) it is
        the nearest. More rows than the first window must be read to get that right."""
        service = next(s for s in network.services if s.visibility == "public")
        needs = set(
            await session.scalars(
                select(Attribute.taxonomy_term_id).where(col(Attribute.link_id) == service.id)
            )
        )
        code = next(code for code in NEED_CODES if term_id(code) in needs)
        radius = 6_371_008.8  # PostGIS's sphere
        spots = [(0.0, 100.0 + math.degrees((100_000 + 10 * i) / radius)) for i in range(20)]
        spots.append((math.degrees(100_400 / radius), 100.0))
        places = []
        for latitude, longitude in spots:
            place = Location(
                organization_id=service.organization_id,
                name="Equator",
                latitude=latitude,
                longitude=longitude,
            )
            session.add(place)
            await session.flush()
            session.add(ServiceAtLocation(service_id=service.id, location_id=place.id))
            places.append((str(place.id), latitude, longitude))
        await session.flush()

        body = (
            await client.get(
                "/v1/search/nearest",
                params={"lat": 0, "lon": 100, "need": code, "radius_m": MAXIMUM_RADIUS_M},
            )
        ).json()
        assert body["data"][0]["location"]["id"] == places[-1][0]
        assert_same_ranking(
            body["data"], oracle_order((0.0, 100.0), places, within_m=MAXIMUM_RADIUS_M)
        )


# In the Atlantic, about 335 km west of the demo region (13.8-14.4 N, 16.4-15.5 W).
OFFSHORE = {"lat": 14.1, "lon": -19.5}


class TestRadius:
    async def test_without_a_radius_nothing_beyond_the_default_and_the_answer_says_so(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        response = await client.get(
            "/v1/search/nearest", params={**OFFSHORE, "need": "emergency-police"}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["data"] == []
        assert body["meta"]["radius_m"] == DEFAULT_RADIUS_M
        assert body["meta"]["nothing_within_radius"] is True
        assert "within 250 km" in body["meta"]["message"]
        assert "radius_m" in body["meta"]["message"]

    async def test_a_larger_radius_finds_the_far_places(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        body = (
            await client.get(
                "/v1/search/nearest",
                params={**OFFSHORE, "need": "emergency-police", "radius_m": 1_000_000},
            )
        ).json()
        assert body["data"]
        assert all(DEFAULT_RADIUS_M < item["distance_m"] <= 1_000_000 for item in body["data"])
        assert body["meta"]["radius_m"] == 1_000_000
        assert "nothing_within_radius" not in body["meta"]
        assert "message" not in body["meta"]

    async def test_places_within_the_default_are_listed_as_before(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        body = (await client.get("/v1/search/nearest", params={"lat": 14.1, "lon": -16.0})).json()
        assert body["data"]
        assert all(item.get("distance_m", 0) <= DEFAULT_RADIUS_M for item in body["data"])
        assert body["meta"]["radius_m"] == DEFAULT_RADIUS_M
        assert "nothing_within_radius" not in body["meta"]

    async def test_a_radius_beyond_the_maximum_is_a_422(self, client: httpx.AsyncClient) -> None:
        response = await client.get(
            "/v1/search/nearest", params={**OFFSHORE, "radius_m": MAXIMUM_RADIUS_M + 1}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["query", "radius_m"]

    async def test_the_default_is_documented(self, app: FastAPI) -> None:
        operation = app.openapi()["paths"]["/v1/search/nearest"]["get"]
        assert "250 km" in operation["description"]
        [radius] = [p for p in operation["parameters"] if p["name"] == "radius_m"]
        assert "default 250,000" in radius["description"]


class TestShelterStaysHidden:
    @pytest.mark.parametrize("caller", ["anonymous", "reader"])
    async def test_many_query_points_never_locate_it(
        self,
        client: httpx.AsyncClient,
        network: DemoNetwork,
        session: AsyncSession,
        settings: Settings,
        caller: str,
    ) -> None:
        headers = {}
        if caller == "reader":
            headers = (
                await create_partner(session, settings, scopes=[Scope.directory_read])
            ).headers
        shelter = network.shelter
        generator = random.Random(7)
        seen = 0
        for _ in range(60):
            lat, lon = generator.uniform(13.8, 14.4), generator.uniform(-16.4, -15.5)
            response = await client.get(
                "/v1/search/nearest",
                params={"lat": lat, "lon": lon, "need": "safe-shelter", "limit": 5},
                headers=headers,
            )
            text = response.text.replace(" ", "")
            assert f'"latitude":{shelter.latitude},' not in text
            assert f'"longitude":{shelter.longitude},' not in text
            assert f'"longitude":{shelter.longitude}}}' not in text
            for item in response.json()["data"]:
                if item["location"]["id"] == str(shelter.id):
                    seen += 1
                    assert item["position_withheld"] is True
                    assert "distance_m" not in item
                    assert "latitude" not in item["location"]
                    assert item["location"]["admin_area"]["name"] == "Terre-Démo (demo)"
        assert seen == 60, "the shelter must still be found, without its position"

    async def test_located_with_directory_confidential(
        self,
        client: httpx.AsyncClient,
        network: DemoNetwork,
        session: AsyncSession,
        settings: Settings,
    ) -> None:
        partner = await create_partner(
            session, settings, scopes=[Scope.directory_read, Scope.directory_confidential]
        )
        shelter = network.shelter
        response = await client.get(
            "/v1/search/nearest",
            params={"lat": shelter.latitude, "lon": shelter.longitude, "need": "safe-shelter"},
            headers=partner.headers,
        )
        [first, *_] = response.json()["data"]
        assert first["location"]["id"] == str(shelter.id)
        assert first["distance_m"] == 0
        assert first["location"]["latitude"] == shelter.latitude


class TestFiltersAndValidation:
    async def test_area_keeps_places_inside_it(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        kounda = _id("area", "kounda")  # longitudes -16.10 to -15.80
        point = {"lat": 14.1, "lon": -16.3, "limit": 100}
        everywhere = (await client.get("/v1/search/nearest", params=point)).json()["data"]
        inside = (
            await client.get("/v1/search/nearest", params={**point, "area": str(kounda)})
        ).json()["data"]
        located = [item for item in inside if not item["covering"]]
        assert located, "Kounda has services"
        assert len(located) < len([item for item in everywhere if not item["covering"]])
        for item in located:
            if "longitude" in item["location"]:
                assert -16.10 <= item["location"]["longitude"] <= -15.80
        missing = await client.get(
            "/v1/search/nearest",
            params={**point, "area": "00000000-0000-4000-8000-000000000000"},
        )
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"

    async def test_hotline_covers_the_region(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        body = (
            await client.get(
                "/v1/search/nearest", params={"lat": 14.0, "lon": -16.2, "need": "helpline"}
            )
        ).json()
        [hotline] = [item for item in body["data"] if item["covering"]]
        assert hotline["service"]["name"] == "National child and women helpline (demo)"

    async def test_repeated_needs_are_any_of_and_unknown_parameters_ignored(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        point = {"lat": 14.1, "lon": -15.8, "limit": 100}

        async def needs(*codes: str, **more: object) -> dict[str, set[str]]:
            params = {**point, "need": list(codes), **more}
            response = await client.get("/v1/search/nearest", params=params)
            assert response.status_code == 200, response.text
            return {
                item["service"]["id"]: set(item["matched"]["needs"])
                for item in response.json()["data"]
            }

        legal, shelter = await needs("legal-aid"), await needs("safe-shelter")
        both = await needs("legal-aid", "safe-shelter", unknown="ignored")
        assert legal
        assert shelter
        assert set(both) == set(legal) | set(shelter)
        for service, matched in both.items():
            assert matched == legal.get(service, set()) | shelter.get(service, set())

    async def test_eligibility_filters(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        def names(body: dict[str, object]) -> set[str]:
            return {item["service"]["name"] for item in body["data"]}  # type: ignore[index,union-attr,attr-defined]

        base = {"lat": 14.1, "lon": -15.8, "limit": 50}
        boys = (await client.get("/v1/search/nearest", params={**base, "gender": "male"})).json()
        assert "Listening and psychosocial support (demo)" not in names(boys)
        adult = (await client.get("/v1/search/nearest", params={**base, "age": 30})).json()
        assert "Child protection case management (demo)" not in names(adult)
        child = (await client.get("/v1/search/nearest", params={**base, "age": 10})).json()
        assert "Child protection case management (demo)" in names(child)
        beds = (
            await client.get("/v1/search/nearest", params={**base, "has_capacity": True})
        ).json()
        assert names(beds) == {"Emergency shelter for women and children (demo)"}
        # Every demo service speaks French and Wolof, none English (imported facilities,
        # which other tests may have left nearby, publish no languages).
        everyone = (await client.get("/v1/search/nearest", params=base)).json()
        wolof = (await client.get("/v1/search/nearest", params={**base, "language": "wo"})).json()
        demo = {name for name in names(everyone) if name.endswith("(demo)")}
        assert demo
        assert names(wolof) == demo
        assert wolof["data"][0]["matched"]["eligibility"] == ["speaks wo"]
        english = (await client.get("/v1/search/nearest", params={**base, "language": "en"})).json()
        assert english["data"] == []

    async def test_open_at_filters_by_local_hours(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        sunday_night = "2026-11-22T23:00:00+00:00"  # Dakar is UTC+0
        body = (
            await client.get(
                "/v1/search/nearest",
                params={"lat": 14.1, "lon": -16.0, "open_at": sunday_night, "limit": 50},
            )
        ).json()
        assert body["data"]
        assert all(item["open_now"] is True for item in body["data"])
        assert "Free legal aid for survivors (demo)" not in {
            item["service"]["name"] for item in body["data"]
        }

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"lat": 91, "lon": 0}, "lat"),
            ({"lat": 0, "lon": 0, "need": "hairdressing"}, "need"),
            ({"lat": 0, "lon": 0, "open_at": "2026-11-23T10:00:00"}, "open_at"),
            ({"lat": 0, "lon": 0, "limit": 101}, "limit"),
            ({"lon": 0}, "lat"),
            ({"lat": "north", "lon": 0}, "lat"),
            ({"lat": 0, "lon": 0, "need": ["medical-care"] * 16}, "need"),
            ({"lat": 0, "lon": 0, "gender": "robot"}, "gender"),
            ({"lat": 0, "lon": 0, "has_capacity": "perhaps"}, "has_capacity"),
            ({"lat": 0, "lon": 0, "area": "not-a-uuid"}, "area"),
        ],
    )
    async def test_bad_input_is_422_naming_the_field(
        self, client: httpx.AsyncClient, params: dict[str, object], field: str
    ) -> None:
        response = await client.get("/v1/search/nearest", params=params)
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"][:2] == ["query", field]


class TestWhatSearchMustNotShow:
    @pytest.mark.parametrize("owner", ["partners", "suspended"])
    async def test_place_of_a_hidden_organisation_stays_hidden(
        self, client: httpx.AsyncClient, session: AsyncSession, network: DemoNetwork, owner: str
    ) -> None:
        """A public service offered at a place owned by a partners-only or suspended
        organisation: the place is not shown to anonymous callers (as /hsds/locations)."""
        service = next(s for s in network.services if s.visibility == "public")
        host = Organization(
            name="Partner-only host",
            kind="ngo",
            status="suspended" if owner == "suspended" else "active",
            visibility="partners" if owner == "partners" else "public",
        )
        session.add(host)
        await session.flush()
        place = Location(organization_id=host.id, name="Host house", latitude=14.2, longitude=-16.2)
        session.add(place)
        await session.flush()
        session.add(ServiceAtLocation(service_id=service.id, location_id=place.id))
        await session.flush()
        assert (await client.get(f"/hsds/locations/{place.id}")).status_code == 404
        for params in ({}, {"need": "medical-care"}):
            body = (
                await client.get(
                    "/v1/search/nearest", params={"lat": 14.2, "lon": -16.2, "limit": 50, **params}
                )
            ).json()
            assert str(place.id) not in str(body)
            assert "Host house" not in str(body)

    async def test_area_filter_places_a_withheld_shelter_no_finer_than_its_listed_area(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        network: DemoNetwork,
    ) -> None:
        """Areas far smaller than the shelter's listed area (communes of about 1 km around it,
        one around its stand-in) and the districts: an answer per area would say which one holds
        it. Without directory:confidential a shelter is inside an area only when the area it is
        listed in (the region) lies within it, so every smaller area answers the same."""
        shelter = network.shelter
        stand_in = (
            await session.execute(
                text(
                    "SELECT ST_Y(stand_in::geometry), ST_X(stand_in::geometry) FROM location "
                    "WHERE id = :id"
                ),
                {"id": shelter.id},
            )
        ).one()
        communes = []
        for index, (latitude, west) in enumerate(
            [
                (shelter.latitude, shelter.longitude - 0.015),
                (shelter.latitude, shelter.longitude - 0.005),
                (shelter.latitude, shelter.longitude + 0.005),
                (stand_in[0], stand_in[1] - 0.005),
            ]
        ):
            commune = AdminArea(
                name=f"Commune {index} (test)",
                level=3,
                geom=from_shape(
                    MultiPolygon([box(west, latitude - 0.005, west + 0.01, latitude + 0.005)]),
                    srid=4326,
                ),
            )
            session.add(commune)
            communes.append(commune)
        await session.flush()
        districts = [_id("area", key) for key in ("sabali", "kounda", "mbayene")]
        region = _id("area", "region")
        cleared = await create_partner(
            session, settings, scopes=[Scope.directory_read, Scope.directory_confidential]
        )

        async def found(area: object, headers: dict[str, str]) -> bool:
            body = (
                await client.get(
                    "/v1/search/nearest",
                    params={
                        "lat": shelter.latitude,
                        "lon": shelter.longitude,
                        "need": "safe-shelter",
                        "area": str(area),
                    },
                    headers=headers,
                )
            ).json()
            return any(item["location"]["id"] == str(shelter.id) for item in body["data"])

        smaller = [commune.id for commune in communes] + districts
        assert [await found(area, {}) for area in smaller] == [False] * 7
        assert await found(region, {})
        assert [await found(area, cleared.headers) for area in smaller] == [
            False,
            True,
            False,
            False,
            False,
            True,  # Kounda
            False,
        ]


HELPLINE_IN_THE_REGION = {"lat": 14.0, "lon": -16.2, "need": "helpline"}


class TestCoveringIsHonest:
    """A service area claiming the whole world, already in the table (imported, or written
    before areas were bounded), must not rank its service first, at distance 0, everywhere."""

    async def _world_helpline(self, session: AsyncSession, *, vetted: bool) -> str:
        organization = await create_organization(session, name="Helpline everywhere")
        service = Service(
            organization_id=organization.id, name="Helpline everywhere", status="active"
        )
        session.add(service)
        await session.flush()
        place = Location(
            organization_id=organization.id, name="Office", latitude=48.85, longitude=2.35
        )
        session.add(place)
        await session.flush()
        session.add_all(
            [
                Attribute(
                    link_id=service.id,
                    link_entity="service",
                    link_type="need",
                    taxonomy_term_id=term_id("helpline"),
                ),
                ServiceAtLocation(service_id=service.id, location_id=place.id),
                ServiceArea(
                    service_id=service.id,
                    name="The world",
                    extent=from_shape(MultiPolygon([box(-180, -85, 180, 85)]), srid=4326),
                    vetted=vetted,
                ),
            ]
        )
        await session.flush()
        return str(service.id)

    async def test_an_unvetted_world_wide_area_does_not_cover(
        self, client: httpx.AsyncClient, session: AsyncSession, network: DemoNetwork
    ) -> None:
        poisoner = await self._world_helpline(session, vetted=False)
        body = (await client.get("/v1/search/nearest", params=HELPLINE_IN_THE_REGION)).json()
        [first, *_] = body["data"]
        assert first["service"]["name"] == "National child and women helpline (demo)"
        assert first["covering"] is True
        # Its office is in Paris, beyond any radius from the demo region: its area brings it
        # nowhere near the region's answers.
        assert poisoner not in {item["service"]["id"] for item in body["data"]}
        near_office = await client.get(
            "/v1/search/nearest", params={"lat": 48.8, "lon": 2.3, "need": "helpline"}
        )
        theirs = [item for item in near_office.json()["data"] if item["service"]["id"] == poisoner]
        assert theirs, "still found, by its office"
        for item in theirs:
            assert item["covering"] is False
            assert 0 < item["distance_m"] < 20_000

    async def test_an_area_the_operator_declared_covers(
        self, client: httpx.AsyncClient, session: AsyncSession, network: DemoNetwork
    ) -> None:
        declared = await self._world_helpline(session, vetted=True)
        body = (await client.get("/v1/search/nearest", params=HELPLINE_IN_THE_REGION)).json()
        covering = {item["service"]["id"] for item in body["data"] if item["covering"]}
        assert declared in covering

    async def test_an_unvetted_area_does_not_put_its_service_in_an_area_export(
        self, client: httpx.AsyncClient, session: AsyncSession, network: DemoNetwork
    ) -> None:
        poisoner = await self._world_helpline(session, vetted=False)
        region = _id("area", "region")
        exported = await client.get(
            "/lookup/export", params={"area": str(region), "format": "geojson"}
        )
        assert exported.status_code == 200, exported.text
        assert "National child and women helpline" in exported.text
        assert poisoner not in exported.text


OPENAPI_FILE = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def documented_search_body(path: str = "/v1/search/nearest") -> Draft202012Validator:
    """The committed document's schema of a 200 from a search route, refs resolved in it."""
    document = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
    response = document["paths"][path]["get"]["responses"]["200"]
    schema = {**response["content"]["application/json"]["schema"], **document}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


SHELTER = "safe-shelter"
CALLER_SCOPES: dict[str, list[Scope] | None] = {
    "anonymous": None,
    "reader": [Scope.directory_read],
    "confidential": [Scope.directory_read, Scope.directory_confidential],
}


async def _caller_headers(session: AsyncSession, settings: Settings, caller: str) -> dict[str, str]:
    """No token for ``anonymous``; a partner's token with the caller's scopes otherwise."""
    scopes = CALLER_SCOPES[caller]
    return (await create_partner(session, settings, scopes=scopes)).headers if scopes else {}


SUNDAY_NIGHT = "2026-11-22T23:00:00+00:00"


class TestTheBytesAreTheDocumentedBody:
    """The route sends the body the service wrote, never validated on its way out: here it is
    held to the document, field by field, for each kind of caller and result."""

    @pytest.mark.parametrize(
        ("caller", "params"),
        [
            ("anonymous", {"lat": 14.1, "lon": -16.0, "limit": 50}),
            ("anonymous", {"lat": 14.1, "lon": -16.0, "need": SHELTER}),
            ("reader", {"lat": 14.1, "lon": -16.0, "limit": 50}),
            ("confidential", {"lat": 14.1, "lon": -16.0, "need": SHELTER}),
            ("anonymous", {"lat": 14.1, "lon": -16.0, "open_at": SUNDAY_NIGHT, "limit": 50}),
            ("reader", {"lat": 14.1, "lon": -16.0, "open_at": "now", "age": 15}),
            ("anonymous", {**OFFSHORE, "need": "emergency-police"}),
        ],
    )
    async def test_body_matches_the_document(
        self,
        client: httpx.AsyncClient,
        network: DemoNetwork,
        session: AsyncSession,
        settings: Settings,
        caller: str,
        params: dict[str, Any],
    ) -> None:
        headers = await _caller_headers(session, settings, caller)
        response = await client.get("/v1/search/nearest", params=params, headers=headers)
        assert response.status_code == 200

        errors = [error.message for error in documented_search_body().iter_errors(response.json())]
        assert errors == []
        # Every field named by the model (which refuses any other), in the order it names them,
        # as it would write them itself: what the pathway, which re-encodes results, sends.
        page = SearchPage.model_validate_json(response.content)
        assert page.model_dump_json(exclude_none=True).encode() == response.content

        shelter = [
            item for item in page.data if item.location and item.location.id == network.shelter.id
        ]
        if params.get("need") == SHELTER:
            [found] = shelter
            assert found.position_withheld is (caller != "confidential")
            assert (found.distance_m is None) is found.position_withheld
            assert (found.location and found.location.latitude is None) is found.position_withheld
        if "open_at" in params:
            assert page.data
            assert all(item.open_now is not None for item in page.data)
        if params.get("limit") == 50 and "open_at" not in params:
            assert any(item.covering for item in page.data)
            assert any(item.capacity for item in page.data)
            assert any(item.service.translations for item in page.data)
        if params["lon"] == OFFSHORE["lon"]:
            assert page.data == []
            assert page.meta.nothing_within_radius is True

    @pytest.mark.parametrize(
        ("caller", "params"),
        [
            ("anonymous", {"lat": 14.1, "lon": -16.0}),
            ("confidential", {"lat": 14.1, "lon": -16.0, "radius_m": 2_000_000}),
            ("reader", {**OFFSHORE}),
        ],
    )
    async def test_the_pathway_matches_the_document(
        self,
        client: httpx.AsyncClient,
        network: DemoNetwork,
        session: AsyncSession,
        settings: Settings,
        caller: str,
        params: dict[str, Any],
    ) -> None:
        """The pathway's route sends bytes too (each step as the search writes its results)."""
        headers = await _caller_headers(session, settings, caller)
        response = await client.get("/v1/search/pathway", params=params, headers=headers)
        assert response.status_code == 200
        body = response.json()
        validator = documented_search_body("/v1/search/pathway")
        assert [error.message for error in validator.iter_errors(body)] == []
        pathway = Pathway.model_validate_json(response.content)
        assert [step.need for step in pathway.data] == list(NEED_CODES)
        found = [step for step in pathway.data if step.service is not None]
        if params["lon"] == OFFSHORE["lon"]:
            assert found == []
        else:
            assert found, "the demo network meets some needs near Dakar"
