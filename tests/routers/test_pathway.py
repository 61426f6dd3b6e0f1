"""The referral pathway in a constant number of statements (issue 23): the statements it issues
are counted, whatever the number of needs, and its answers are held, byte for byte, to one
nearest search per need (``limit=1``), the oracle, for anonymous callers, partners and cleared
partners, on a generated network with confidential places, partner-only records, places beyond
the radius and services covering the point."""

import asyncio
import json
import math
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from api.auth.scopes import Scope
from api.auth.viewer import Viewer
from api.config import Settings
from api.models.directory import (
    AdminArea,
    Attribute,
    Location,
    Service,
    ServiceArea,
    ServiceAtLocation,
)
from api.models.organization import Organization
from api.repositories.search import SearchFilters
from api.services import search
from api.services.search import DEFAULT_RADIUS_M, NearestQuery
from api.taxonomy import NEED_CODES, term_id
from tests.factories.auth import create_partner
from tests.factories.directory import DemoNetwork, load_demo
from tests.web.pages import KOUNDA

ANONYMOUS = Viewer(sees_partner_records=False, cleared=False)
PARTNER = Viewer(sees_partner_records=True, cleared=False)
CLEARED = Viewer(sees_partner_records=True, cleared=True)
VIEWERS = {"anonymous": ANONYMOUS, "partner": PARTNER, "cleared": CLEARED}
DAKAR_REGION = (14.1, -16.0)  # inside the demo network


class Statements:
    """Every statement the test's connection runs: the driver's own (``Compiled`` statements,
    through asyncpg's query logger) and SQLAlchemy's (sessions, savepoints)."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def issued(self) -> list[str]:
        await asyncio.sleep(0)  # asyncpg calls its query loggers on the next turn of the loop
        return list(self.texts)

    async def searches(self) -> list[str]:
        """The search's own: those reading the nearest index, and the details of what it found."""
        return [
            sql for sql in await self.issued() if "search_point" in sql or "wanted.position" in sql
        ]

    async def clear(self) -> None:
        await asyncio.sleep(0)
        self.texts.clear()


@pytest.fixture
async def statements(connection: AsyncConnection) -> AsyncIterator[Statements]:
    recorded = Statements()
    raw = (await connection.get_raw_connection()).driver_connection
    assert isinstance(raw, asyncpg.Connection)

    def logged(record: Any) -> None:
        recorded.texts.append(record.query)

    def executed(*arguments: Any) -> None:
        recorded.texts.append(arguments[2])

    raw.add_query_logger(logged)
    event.listen(connection.sync_connection, "before_cursor_execute", executed)
    yield recorded
    event.remove(connection.sync_connection, "before_cursor_execute", executed)
    raw.remove_query_logger(logged)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """``open_now`` at one instant for every search of the test (the answers are compared)."""
    instant = datetime(2026, 12, 9, 10, 30, tzinfo=UTC)

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> "Frozen":
            moment = instant.astimezone(tz) if tz else instant.replace(tzinfo=None)
            return cls.fromtimestamp(moment.timestamp(), moment.tzinfo)

    monkeypatch.setattr(search, "datetime", Frozen)
    return instant


@pytest.fixture
async def network(session: AsyncSession) -> DemoNetwork:
    return await load_demo(session)


def _item(nearest_body: bytes) -> bytes | None:
    """The only result of a nearest search's body (``limit=1``), as it was written."""
    start = len(b'{"data":[')
    end = nearest_body.rindex(b'],"meta":')
    return nearest_body[start:end] or None


async def _one_search_per_need(
    session: AsyncSession, viewer: Viewer, latitude: float, longitude: float, radius_m: float
) -> bytes:
    """The pathway's ``data`` as fifteen nearest searches write their first results."""
    steps = []
    for code in NEED_CODES:
        filters = SearchFilters(needs=(code,), radius_m=radius_m)
        body = await search.nearest_json(
            session, viewer, NearestQuery(latitude, longitude, filters, None, 1)
        )
        item = _item(body)
        step = b'{"need":"' + code.encode() + b'"'
        steps.append(step + (b',"service":' + item if item else b"") + b"}")
    return b'{"data":[' + b",".join(steps) + b"]"


class TestStatements:
    @pytest.mark.parametrize("count", [1, 2, 5, 15])
    async def test_two_statements_whatever_the_number_of_needs(
        self,
        session: AsyncSession,
        network: DemoNetwork,
        statements: Statements,
        count: int,
    ) -> None:
        needs = NEED_CODES[:count]
        await search.nearest_of_each_need(  # the session's transaction begun
            session, ANONYMOUS, *DAKAR_REGION, needs, limit=1, radius_m=DEFAULT_RADIUS_M
        )
        await statements.clear()
        found = await search.nearest_of_each_need(
            session, ANONYMOUS, *DAKAR_REGION, needs, limit=1, radius_m=DEFAULT_RADIUS_M
        )
        issued = await statements.issued()
        assert len(issued) == 2, issued
        assert "search_point" in issued[0]
        assert "wanted.position" in issued[1]
        assert list(found) == list(needs)
        assert any(found.values())

        # One search per need, as the pathway was answered before: three statements a need.
        await statements.clear()
        for code in needs:
            filters = SearchFilters(needs=(code,), radius_m=DEFAULT_RADIUS_M)
            await search.nearest_found(
                session, ANONYMOUS, NearestQuery(*DAKAR_REGION, filters, None, 1)
            )
        assert len(await statements.issued()) >= 2 * count

    @pytest.mark.parametrize(
        ("caller", "path", "params"),
        [
            ("anonymous", "/v1/search/pathway", {"area": KOUNDA}),
            ("anonymous", "/v1/search/pathway", {"lat": 14.1, "lon": -16.0}),
            ("reader", "/v1/search/pathway", {"lat": 14.1, "lon": -16.0, "radius_m": 20_000}),
            ("confidential", "/v1/search/pathway", {"lat": 14.1, "lon": -16.0}),
            ("anonymous", "/lookup/pathway", {"area": KOUNDA}),
            ("anonymous", "/lookup/pathway", {"lat": 14.1, "lon": -16.0, "lang": "fr"}),
        ],
    )
    async def test_the_pathway_routes_search_in_two_statements(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        network: DemoNetwork,
        statements: Statements,
        caller: str,
        path: str,
        params: dict[str, Any],
    ) -> None:
        scopes = {
            "anonymous": None,
            "reader": [Scope.directory_read],
            "confidential": [Scope.directory_read, Scope.directory_confidential],
        }[caller]
        headers = (await create_partner(session, settings, scopes=scopes)).headers if scopes else {}
        await statements.clear()
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        searched = await statements.searches()
        issued = await statements.issued()
        # Fifteen needs: one statement reads every need's nearest places and the services
        # covering the point, one shows what was chosen. Around them, the request's own (the
        # token, the place, the session's savepoint): a handful, none per need.
        assert len(searched) == 2, searched
        assert len(issued) <= 10, issued

    async def test_a_need_whose_window_does_not_settle_is_read_again_alone(
        self,
        session: AsyncSession,
        network: DemoNetwork,
        statements: Statements,
        frozen_clock: datetime,
    ) -> None:
        """Twenty places 100 km east along the equator and one 100.4 km north (as in
        ``TestEllipsoidalOrder``): the first window of eight rows cannot tell which is nearest
        on the ellipsoid, so that need is read again, further; the others are not. Three
        statements, whether one need is asked or fifteen."""
        service = next(s for s in network.services if s.visibility == "public")
        code = "legal-aid"
        session.add(
            Attribute(link_id=service.id, link_entity="service", taxonomy_term_id=term_id(code))
        )
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
            places.append(place.id)
        await session.flush()
        for needs in ((code,), NEED_CODES):
            await statements.clear()
            found = await search.nearest_of_each_need(
                session, ANONYMOUS, 0.0, 100.0, needs, limit=1, radius_m=DEFAULT_RADIUS_M
            )
            issued = await statements.issued()
            assert len(issued) == 3, issued
            [nearest] = found[code]
            assert nearest.candidate.location_id == places[-1]
        body = await search.pathway_json(session, ANONYMOUS, 0.0, 100.0, area=None)
        assert body.startswith(
            await _one_search_per_need(session, ANONYMOUS, 0.0, 100.0, DEFAULT_RADIUS_M)
        )


# A generated network far from every other test's places (the south of Finland).
CENTRE = (61.0, 25.0)
RADIUS_M = 60_000.0
NEEDS = (
    "medical-care",
    "safe-shelter",
    "legal-aid",
    "psychosocial-support",
    "helpline",
    "emergency-police",
)


async def _generated(session: AsyncSession, generator: random.Random) -> None:
    """Organisations (some listed to partners only, one suspended), two listed areas,
    services meeting one to three needs each at one or two places spread about 150 km around
    the centre (beyond the radius too): public, partner-only and confidential places, the
    confidential ones listed in an area (ranked at its stand-in) or in none (not ranked for a
    caller who may not locate them), and three services covering the centre (one not vetted)."""
    latitude, longitude = CENTRE
    organizations = [
        Organization(
            name=f"Pathway organisation {number}",
            kind="ngo",
            status="suspended" if number == 0 else "active",
            visibility="partners" if number in (1, 2) else "public",
        )
        for number in range(8)
    ]
    areas = [
        AdminArea(
            name=f"Pathway district {number}",
            level=2,
            geom=from_shape(
                MultiPolygon(
                    [box(longitude + west, latitude - 0.5, longitude + west + 1.0, latitude + 0.5)]
                ),
                srid=4326,
            ),
        )
        for number, west in enumerate((-1.2, 0.2))
    ]
    session.add_all([*organizations, *areas])
    await session.flush()
    for number in range(90):
        owner = generator.choice(organizations)
        service = Service(
            organization_id=owner.id,
            name=f"Pathway service {number}",
            status="inactive" if generator.random() < 0.08 else "active",
            visibility="partners" if generator.random() < 0.3 else "public",
            accepts_referrals=generator.random() < 0.5,
        )
        session.add(service)
        await session.flush()
        for code in generator.sample(NEEDS, generator.choice([1, 1, 2, 3])):
            session.add(
                Attribute(link_id=service.id, link_entity="service", taxonomy_term_id=term_id(code))
            )
        for _ in range(generator.choice([1, 1, 2])):
            visibility = generator.choices(
                ["public", "partners", "confidential"], weights=[6, 2, 3]
            )[0]
            place_latitude = latitude + generator.uniform(-0.9, 0.9)
            place_longitude = longitude + generator.uniform(-1.6, 1.6)
            listed_in = next(
                (
                    area
                    for area, west in zip(areas, (-1.2, 0.2), strict=True)
                    if longitude + west <= place_longitude <= longitude + west + 1.0
                    and abs(place_latitude - latitude) <= 0.5
                ),
                None,
            )
            place = Location(
                organization_id=generator.choice([owner, *organizations]).id,
                name=f"Pathway place {number}",
                latitude=place_latitude,
                longitude=place_longitude,
                visibility=visibility,
                admin_area_id=(
                    listed_in.id if listed_in is not None and generator.random() < 0.8 else None
                ),
            )
            session.add(place)
            await session.flush()
            session.add(ServiceAtLocation(service_id=service.id, location_id=place.id))
        if number < 3:  # teams covering the centre
            session.add(
                ServiceArea(
                    service_id=service.id,
                    name="Around the centre",
                    extent=from_shape(
                        MultiPolygon(
                            [box(longitude - 0.3, latitude - 0.2, longitude + 0.3, latitude + 0.2)]
                        ),
                        srid=4326,
                    ),
                    vetted=number != 2,
                )
            )
    await session.flush()


class TestAgainstOneSearchPerNeed:
    async def test_a_generated_network(
        self, session: AsyncSession, statements: Statements, frozen_clock: datetime
    ) -> None:
        generator = random.Random(2326)
        await _generated(session, generator)
        latitude, longitude = CENTRE
        points = [
            CENTRE,
            (latitude + 0.1, longitude - 0.1),  # covered
            (latitude + 0.4, longitude - 0.8),  # inside the first district
            (latitude - 0.3, longitude + 0.9),  # inside the second
            (latitude + 0.8, longitude + 1.5),  # at the edge: some needs with nothing near
            (latitude - 1.5, longitude),  # beyond most places' radius
        ]
        seen: dict[str, set[str]] = {name: set() for name in VIEWERS}
        for name, viewer in VIEWERS.items():
            for point in points:
                body = await search.pathway_json(
                    session, viewer, *point, area=None, radius_m=RADIUS_M
                )
                expected = await _one_search_per_need(session, viewer, *point, RADIUS_M)
                assert body.startswith(expected + b',"meta":'), (name, point)
                answer = json.loads(body)
                assert answer["meta"] == {
                    "latitude": point[0],
                    "longitude": point[1],
                    "radius_m": RADIUS_M,
                }
                for step in answer["data"]:
                    found = step.get("service")
                    if found is None:
                        seen[name].add("nothing")
                        continue
                    seen[name].add("covering" if found["covering"] else "located")
                    if found["position_withheld"]:
                        seen[name].add("withheld")
                    if (
                        found.get("location", {}).get("visibility") == "confidential"
                        and "latitude" in found["location"]
                    ):
                        seen[name].add("confidential located")
                    if found["service"]["visibility"] == "partners":
                        seen[name].add("partners")
        # The network exercised what the pathway must get right, for each caller.
        assert seen["anonymous"] >= {"nothing", "covering", "located", "withheld"}
        assert seen["partner"] >= {"nothing", "covering", "located", "withheld", "partners"}
        assert seen["cleared"] >= {"nothing", "covering", "located", "confidential located"}
        assert "withheld" not in seen["cleared"]
        assert not {"confidential located"} & (seen["anonymous"] | seen["partner"])

    @pytest.mark.parametrize("caller", ["anonymous", "reader", "confidential"])
    async def test_the_route_sends_what_one_search_per_need_sends(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        network: DemoNetwork,
        frozen_clock: datetime,
        caller: str,
    ) -> None:
        """Through HTTP, on the demo network: each step of ``/v1/search/pathway`` is, byte for
        byte, the first result of ``/v1/search/nearest`` for that need with ``limit=1``."""
        scopes = {
            "anonymous": None,
            "reader": [Scope.directory_read],
            "confidential": [Scope.directory_read, Scope.directory_confidential],
        }[caller]
        headers = (await create_partner(session, settings, scopes=scopes)).headers if scopes else {}
        for lat, lon in [(14.1, -16.0), (14.03, -16.02), (13.9, -15.6)]:
            pathway = await client.get(
                "/v1/search/pathway", params={"lat": lat, "lon": lon}, headers=headers
            )
            steps = []
            for code in NEED_CODES:
                nearest = await client.get(
                    "/v1/search/nearest",
                    params={"lat": lat, "lon": lon, "need": code, "limit": 1},
                    headers=headers,
                )
                item = _item(nearest.content)
                steps.append(
                    b'{"need":"'
                    + code.encode()
                    + b'"'
                    + (b',"service":' + item if item else b"")
                    + b"}"
                )
            assert pathway.content.startswith(b'{"data":[' + b",".join(steps) + b'],"meta":')
