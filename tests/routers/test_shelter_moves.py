"""A shelter moved inside the area it is listed in: nothing a caller who may not locate it can
observe changes (issue 17).

Before, a confidential place was ranked at the nearest node of a 0.5-degree grid: about 80
anonymous searches found the node, and the shelter was then placed in the intersection of its
listed area and the node's cell. Now it is ranked at a point chosen from its listed area alone.
These tests move the demo shelter to several places of its area (corners and edges included) and
compare, byte for byte after normalisation, everything an anonymous caller and a partner without
``directory:confidential`` can ask about it: nearest searches from a grid of points for each of
its needs, with and without a radius or an area, the pathway of places and areas, the lookup
pages and downloads, HSDS and OGC. A partner with ``directory:confidential`` does see the move.
"""

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.auth.scopes import Scope
from api.config import Settings
from api.models.directory import AdminArea, Location
from api.models.organization import Organization
from api.models.people import UserRole
from tests.factories.apps import issue_person_token
from tests.factories.auth import (
    Partner,
    create_client,
    create_partner,
    issue_token,
    register_app,
)
from tests.factories.directory import DemoNetwork, load_demo
from tests.factories.people import create_person
from tests.web.pages import KOUNDA, REGION, SABALI, SHELTER_SERVICE, demo_id

MBAYENE = demo_id("area", "mbayene")
SHELTER_ORGANIZATION = demo_id("organization", "shelter")
AREAS = (REGION, SABALI, KOUNDA, MBAYENE)
NEEDS = ("safe-shelter", "psychosocial-support")  # what the demo shelter offers
# Search points: a 6 x 6 grid over the demo region and around it (the region spans latitudes
# 13.8 to 14.4 and longitudes -16.4 to -15.5).
GRID = [(13.6 + row * 0.2, -16.6 + column * 0.25) for row in range(6) for column in range(6)]
# Where the shelter is put, all inside the area it is listed in (corners and edges included),
# and where it is searched from too. The demo lists it in the region; the write API lists a
# place in the smallest area containing it (Kounda, for these).
IN_THE_REGION = [
    (14.03, -16.02),
    (13.8003, -16.3997),
    (14.3997, -15.5003),
    (14.25, -15.62),
    (13.8002, -15.95),
]
IN_KOUNDA = [
    (14.03, -16.02),
    (13.8004, -16.0996),
    (14.3996, -15.8004),
    (14.1, -15.8002),
]

Snapshot = dict[str, str]
Headers = dict[str, str]


CLOCK = {"open_now", "timeStamp"}  # what follows the clock, not the shelter


def _without_clock(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_clock(item) for key, item in value.items() if key not in CLOCK}
    if isinstance(value, list):
        return [_without_clock(item) for item in value]
    return value


def _normalised(response: httpx.Response) -> str:
    assert response.status_code == 200, (response.request.url, response.text)
    if response.headers["content-type"].startswith("text/html"):
        return re.sub(r'<span class="(open|closed)">[^<]*</span>', "", response.text)
    return json.dumps(_without_clock(response.json()), sort_keys=True, ensure_ascii=False)


async def _snapshot(
    client: httpx.AsyncClient, headers: Headers, points: list[tuple[float, float]]
) -> Snapshot:
    """Everything the caller can ask that could depend on where the shelter is."""
    requests: list[tuple[str, dict[str, Any]]] = []
    for lat, lon in points:
        here = {"lat": lat, "lon": lon}
        for need in NEEDS:
            requests.append(("/v1/search/nearest", {**here, "need": need, "limit": 5}))
        requests.append(("/v1/search/nearest", {**here, "limit": 20}))
        requests.append(
            ("/v1/search/nearest", {**here, "need": list(NEEDS), "radius_m": 25_000, "limit": 10})
        )
    for area in AREAS:
        for lat, lon in points[::12]:
            params = {"lat": lat, "lon": lon, "need": "safe-shelter", "area": area, "limit": 10}
            requests.append(("/v1/search/nearest", params))
        requests.append(("/v1/search/pathway", {"area": area}))
        requests.append(("/lookup/pathway", {"area": area}))
        requests.append(("/lookup/export", {"area": area, "format": "geojson"}))
        requests.append(("/lookup", {"area": area, "need": list(NEEDS)}))
    for lat, lon in points[::4]:
        requests.append(("/v1/search/pathway", {"lat": lat, "lon": lon}))
        requests.append(("/lookup", {"lat": lat, "lon": lon, "need": list(NEEDS)}))
        requests.append(("/hsds/services", {"lat": lat, "long": lon, "per_page": 50}))
        requests.append(("/hsds/service_at_locations", {"lat": lat, "long": lon, "per_page": 50}))
    requests += [
        (f"/hsds/organizations/{SHELTER_ORGANIZATION}", {}),
        (f"/hsds/services/{SHELTER_SERVICE}", {}),
        ("/hsds/service_at_locations", {"per_page": 100}),
        ("/ogc/collections/services", {}),
        ("/ogc/collections/services/items", {"limit": 100}),
        ("/ogc/collections/services/items", {"limit": 100, "bbox": "-16.4,13.8,-15.5,14.4"}),
    ]
    snapshot = {}
    for path, params in requests:
        response = await client.get(path, params=params, headers=headers)
        snapshot[f"{path}?{sorted(params.items())}"] = _normalised(response)
    return snapshot


def _first_difference(before: Snapshot, after: Snapshot) -> str | None:
    assert before.keys() == after.keys()
    for key, answer in before.items():
        if after[key] != answer:
            return key
    return None


@pytest.fixture
async def network(session: AsyncSession) -> DemoNetwork:
    return await load_demo(session)


@pytest.fixture
async def callers(session: AsyncSession, settings: Settings) -> dict[str, Partner]:
    return {
        "reader": await create_partner(session, settings, scopes=[Scope.directory_read]),
        "cleared": await create_partner(
            session, settings, scopes=[Scope.directory_read, Scope.directory_confidential]
        ),
        "writer": await create_partner(
            session, settings, scopes=[Scope.admin, Scope.directory_write], name="Operator"
        ),
    }


def _moved_by_any_write(
    session: AsyncSession, network: DemoNetwork
) -> Callable[[float, float], Awaitable[None]]:
    async def move(latitude: float, longitude: float) -> None:
        await session.execute(
            update(Location)
            .where(col(Location.id) == network.shelter.id)
            .values(latitude=latitude, longitude=longitude)
        )
        await session.flush()

    return move


def _moved_by_the_write_api(
    client: httpx.AsyncClient, writer: Partner, network: DemoNetwork
) -> Callable[[float, float], Awaitable[None]]:
    url = f"/v1/locations/{network.shelter.id}"

    async def move(latitude: float, longitude: float) -> None:
        current = await client.get(url, headers=writer.headers)
        moved = await client.patch(
            url,
            json={"latitude": latitude, "longitude": longitude},
            headers={**writer.headers, "If-Match": current.headers["etag"]},
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["admin_area"]["id"] == KOUNDA

    return move


async def _listed_area(session: AsyncSession, network: DemoNetwork) -> Any:
    return await session.scalar(
        select(col(Location.admin_area_id)).where(col(Location.id) == network.shelter.id)
    )


async def _cleared_view(
    client: httpx.AsyncClient, cleared: Partner, point: tuple[float, float]
) -> str:
    response = await client.get(
        "/v1/search/nearest",
        params={"lat": point[0], "lon": point[1], "need": "safe-shelter", "limit": 5},
        headers=cleared.headers,
    )
    return _normalised(response)


class TestAShelterMovedWithinItsListedArea:
    @pytest.mark.parametrize("path", ["any write", "write api"])
    async def test_changes_nothing_but_for_a_cleared_partner(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        network: DemoNetwork,
        callers: dict[str, Partner],
        path: str,
    ) -> None:
        if path == "any write":
            move = _moved_by_any_write(session, network)
            positions, listed = IN_THE_REGION, REGION
        else:
            move = _moved_by_the_write_api(client, callers["writer"], network)
            positions, listed = IN_KOUNDA, KOUNDA
        await move(*positions[0])
        assert str(await _listed_area(session, network)) == listed
        points = GRID + positions
        viewers = {"anonymous": {}, "reader": callers["reader"].headers}
        before = {
            name: await _snapshot(client, headers, points) for name, headers in viewers.items()
        }
        assert any(str(network.shelter.id) in answer for answer in before["anonymous"].values()), (
            "the shelter must be found, or the comparison says nothing"
        )
        cleared = await _cleared_view(client, callers["cleared"], positions[0])

        for position in positions[1:]:
            await move(*position)
            assert str(await _listed_area(session, network)) == listed
            for name, headers in viewers.items():
                after = await _snapshot(client, headers, points)
                difference = _first_difference(before[name], after)
                assert difference is None, (name, position, difference)
            # A partner who may locate shelters sees it move: the comparison can fail.
            assert await _cleared_view(client, callers["cleared"], positions[0]) != cleared


class TestTheStandIn:
    async def test_is_a_point_of_the_listed_area_shared_by_every_shelter_listed_there(
        self, session: AsyncSession, network: DemoNetwork
    ) -> None:
        stand_in = text("SELECT ST_AsText(stand_in) FROM location WHERE id = :id")
        area_point = text(
            "SELECT ST_AsText(ST_PointOnSurface(geom)::geography) FROM admin_area WHERE id = :id"
        )
        shelter = network.shelter
        expected = await session.scalar(area_point, {"id": shelter.admin_area_id})
        assert await session.scalar(stand_in, {"id": shelter.id}) == expected
        other = Location(
            organization_id=shelter.organization_id,
            name="Second house",
            latitude=14.35,
            longitude=-15.55,
            admin_area_id=shelter.admin_area_id,
            visibility="confidential",
        )
        session.add(other)
        await session.flush()
        assert await session.scalar(stand_in, {"id": other.id}) == expected

        # Its listed area's outline changes: the stand-in follows.
        await session.execute(
            update(AdminArea)
            .where(col(AdminArea.id) == shelter.admin_area_id)
            .values(geom=text("ST_Multi(ST_MakeEnvelope(-16.4, 13.8, -15.5, 15.0, 4326))"))
        )
        moved = await session.scalar(area_point, {"id": shelter.admin_area_id})
        assert moved != expected
        assert await session.scalar(stand_in, {"id": other.id}) == moved
        in_search = text(
            "SELECT DISTINCT ST_AsText(stand_in) FROM search_point WHERE location_id = :id"
        )
        assert list(await session.scalars(in_search, {"id": shelter.id})) == [moved]

    async def test_a_shelter_listed_nowhere_is_listed_where_it_is_or_not_ranked(
        self, client: httpx.AsyncClient, session: AsyncSession, network: DemoNetwork
    ) -> None:
        """No listed area: the smallest area containing the place becomes it; outside every
        area the place has no stand-in and is not ranked for callers who may not locate it."""
        shelter = network.shelter
        await session.execute(
            update(Location).where(col(Location.id) == shelter.id).values(admin_area_id=None)
        )
        await session.flush()
        assert str(await _listed_area(session, network)) == KOUNDA
        await session.execute(
            update(Location)
            .where(col(Location.id) == shelter.id)
            .values(admin_area_id=None, latitude=-10.0, longitude=-30.0)
        )
        await session.flush()
        assert await _listed_area(session, network) is None
        stand_in = text("SELECT stand_in IS NULL FROM location WHERE id = :id")
        assert await session.scalar(stand_in, {"id": shelter.id}) is True
        for params in ({"need": "safe-shelter"}, {}):
            body = (
                await client.get(
                    "/v1/search/nearest", params={"lat": -10, "lon": -30, "limit": 100, **params}
                )
            ).json()
            assert str(shelter.id) not in json.dumps(body)
        # Still listed, unlocated, for everyone.
        listed = await client.get(f"/hsds/organizations/{SHELTER_ORGANIZATION}")
        [location] = listed.json()["locations"]
        assert location["id"] == str(shelter.id)
        assert location["confidential"] is True
        assert "latitude" not in location

    async def test_an_imported_place_made_confidential_is_listed_where_it_is(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        network: DemoNetwork,
        callers: dict[str, Partner],
    ) -> None:
        """Importers list no area; the write API lists the place when it becomes confidential."""
        place = Location(
            organization_id=network.shelter.organization_id,
            name="Imported house",
            latitude=14.2,
            longitude=-15.9,
        )
        session.add(place)
        await session.flush()
        writer = callers["writer"]
        url = f"/v1/locations/{place.id}"
        current = await client.get(url, headers=writer.headers)
        changed = await client.patch(
            url,
            json={"visibility": "confidential"},
            headers={**writer.headers, "If-Match": current.headers["etag"]},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["admin_area"]["id"] == KOUNDA
        stand_in = text("SELECT ST_AsText(stand_in) FROM location WHERE id = :id")
        area_point = text(
            "SELECT ST_AsText(ST_PointOnSurface(geom)::geography) FROM admin_area WHERE id = :id"
        )
        assert await session.scalar(stand_in, {"id": place.id}) == await session.scalar(
            area_point, {"id": KOUNDA}
        )


class TestItsOwnOrganisation:
    async def test_reads_it_whole_from_its_system_and_redacted_through_a_persons_app(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        network: DemoNetwork,
    ) -> None:
        """No role is cleared for confidential places: the shelter's own org admin, through an
        app acting for them, reads the shelter as their pages show it (no name, address or
        position); the shelter's own system (a machine client) reads it whole."""
        owner = await session.get(Organization, network.shelter.organization_id)
        assert owner is not None
        url = f"/v1/locations/{network.shelter.id}"
        machine = await create_client(session, settings, owner, scopes=[Scope.directory_write])
        system = {"Authorization": f"Bearer {await issue_token(session, settings, machine)}"}
        whole = await client.get(url, headers=system)
        assert whole.status_code == 200, whole.text
        assert whole.json()["latitude"] is not None
        app = await register_app(session, settings, owner)
        admin = await create_person(session, settings, owner, UserRole.org_admin)
        token = await issue_person_token(session, settings, app, admin)
        read = await client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert read.status_code == 200, read.text
        body = read.json()
        assert body["confidential"] is True
        assert "latitude" not in body
        assert network.shelter.name not in read.text
