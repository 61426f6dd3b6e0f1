"""Area lookup, one area's outline, and the printable referral pathway."""

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from api.services.demo import _id
from api.taxonomy import NEED_CODES
from tests.factories.directory import DemoNetwork, load_demo


@pytest.fixture
async def network(session: AsyncSession) -> DemoNetwork:
    return await load_demo(session)


class TestAreas:
    async def test_lookup_lists_containing_areas_smallest_first(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        body = (await client.get("/v1/areas/lookup", params={"lat": 14.1, "lon": -16.25})).json()
        assert [area["name"] for area in body["data"]] == ["Sabali (demo)", "Terre-Démo (demo)"]
        outside = (await client.get("/v1/areas/lookup", params={"lat": 0, "lon": 0})).json()
        assert outside["data"] == []

    async def test_one_area_with_simplified_outline(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        area_id = _id("area", "kounda")
        plain = (await client.get(f"/v1/areas/{area_id}")).json()
        assert plain["name"] == "Kounda (demo)"
        assert "geometry" not in plain
        outlined = (
            await client.get(f"/v1/areas/{area_id}", params={"geometry": True, "simplify": 0.01})
        ).json()
        assert outlined["geometry"]["type"] == "MultiPolygon"
        missing = await client.get("/v1/areas/00000000-0000-4000-8000-000000000000")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"


class TestPathway:
    async def test_every_need_once_nearest_service_or_none(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        body = (
            await client.get("/v1/search/pathway", params={"area": str(_id("area", "sabali"))})
        ).json()
        assert [step["need"] for step in body["data"]] == list(NEED_CODES)
        police = next(step for step in body["data"] if step["need"] == "emergency-police")
        assert police["service"]["service"]["name"] == "Sabali police: emergency response (demo)"
        shelter = next(step for step in body["data"] if step["need"] == "safe-shelter")
        assert shelter["service"]["position_withheld"] is True
        assert "latitude" not in shelter["service"]["location"]

    async def test_needs_a_place(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/search/pathway", params={"lat": 14.0})
        assert response.status_code == 422

    async def test_only_services_within_the_radius_are_steps(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        near = {"lat": 14.1, "lon": -16.25}
        # About 650 km north of the demo region: nothing of it within the default 250 km...
        far = {"lat": 20.0, "lon": -16.25}
        body = (await client.get("/v1/search/pathway", params=far)).json()
        assert body["meta"]["radius_m"] == 250_000
        assert [step.get("service") for step in body["data"]] == [None] * len(NEED_CODES)
        # ... but asked further, the region's police answer, at its distance.
        wider = (
            await client.get("/v1/search/pathway", params={**far, "radius_m": 1_000_000})
        ).json()
        police = next(step for step in wider["data"] if step["need"] == "emergency-police")
        assert police["service"]["distance_m"] > 250_000
        close = (await client.get("/v1/search/pathway", params={**near, "radius_m": 20_000})).json()
        assert close["meta"]["radius_m"] == 20_000
        assert any(step.get("service") for step in close["data"])
        too_far = await client.get("/v1/search/pathway", params={**near, "radius_m": 3_000_000})
        assert too_far.status_code == 422
