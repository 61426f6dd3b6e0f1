"""Issue 22, part 2 (acceptance 4): a country's national lines, entered by the operator, are
shown for a need no service near the point meets — on the lookup result, the pathway and
``/v1/search/nearest`` — so that nobody reads "no service known" alone."""

import uuid
from typing import Any

import httpx
import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.scopes import Scope
from api.config import Settings
from api.models.directory import AdminArea
from tests.factories.auth import Partner, create_partner
from tests.web.pages import Page

# A country of the tests' own, far from any other test's places.
INSIDE = {"lat": "-23.40", "lon": "43.70"}
OUTSIDE = {"lat": "-23.40", "lon": "46.50"}
POLICE = {"country": "mg", "kind": "police", "name": "Police secours", "number": "117"}


@pytest.fixture
async def operator(session: AsyncSession, settings: Settings) -> Partner:
    return await create_partner(session, settings, scopes=[Scope.admin, Scope.directory_write])


@pytest.fixture
async def country(session: AsyncSession) -> AdminArea:
    area = AdminArea(
        name="Atsimo-Andrefana (test)",
        level=0,
        country="MG",
        geom=from_shape(MultiPolygon([box(43.2, -24.0, 44.5, -22.8)]), srid=4326),
    )
    session.add(area)
    await session.flush()
    return area


async def entered(client: httpx.AsyncClient, operator: Partner, **body: Any) -> dict[str, Any]:
    created = await client.post(
        "/v1/admin/national-lines", json={**POLICE, **body}, headers=operator.headers
    )
    assert created.status_code == 201, created.text
    line: dict[str, Any] = created.json()
    return line


class TestOperator:
    async def test_the_operator_enters_lists_and_removes_lines(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        operator: Partner,
    ) -> None:
        line = await entered(client, operator)
        assert (line["country"], line["needs"]) == ("MG", ["emergency-police"])
        again = await client.post("/v1/admin/national-lines", json=POLICE, headers=operator.headers)
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"
        # Two digits are enough for an emergency number: Senegal's police is 17.
        senegal = await entered(client, operator, country="SN", name="Police", number="17")
        assert senegal["number"] == "17"
        for wrong in (
            {"country": "MDG"},
            {"kind": "army"},
            {"number": "call us"},
            {"number": "7"},
            {"needs": ["x"]},
        ):
            refused = await client.post(
                "/v1/admin/national-lines", json={**POLICE, **wrong}, headers=operator.headers
            )
            assert refused.status_code == 422, wrong
        listed = await client.get("/v1/admin/national-lines?country=MG", headers=operator.headers)
        assert line["id"] in [item["id"] for item in listed.json()]
        writer = await create_partner(session, settings, scopes=[Scope.directory_write])
        forbidden = await client.get("/v1/admin/national-lines", headers=writer.headers)
        assert forbidden.status_code == 403
        url = f"/v1/admin/national-lines/{line['id']}"
        assert (await client.delete(url, headers=operator.headers)).status_code == 204
        assert (await client.delete(url, headers=operator.headers)).status_code == 404
        unknown = f"/v1/admin/national-lines/{uuid.uuid4()}"
        assert (await client.delete(unknown, headers=operator.headers)).status_code == 404


class TestShownWhenNothingNearer:
    async def test_lookup_pathway_and_search_show_the_national_police_number(
        self, client: httpx.AsyncClient, operator: Partner, country: AdminArea
    ) -> None:
        await entered(client, operator)
        await entered(
            client, operator, kind="child_helpline", name="Ligne verte enfance", number="147"
        )

        page = Page(
            (await client.get("/lookup", params={**INSIDE, "need": "emergency-police"})).text
        )
        assert page.services() == []
        assert page.all("a", href="tel:117"), page.text
        assert "Police emergency" in page.text
        assert "Police secours" in page.text
        assert not page.all("a", href="tel:147")  # not a line for this need

        pathway = Page((await client.get("/lookup/pathway", params=INSIDE)).text)
        assert pathway.step("emergency-police").all("a", href="tel:117")
        assert pathway.step("helpline").all("a", href="tel:147")
        assert not pathway.step("medical-care").all("a")

        found = await client.get(
            "/v1/search/nearest", params={**INSIDE, "need": "emergency-police"}
        )
        assert found.status_code == 200
        body = found.json()
        assert body["data"] == []
        assert body["meta"]["national_lines"] == [
            {
                "country": "MG",
                "kind": "police",
                "name": "Police secours",
                "number": "117",
                "needs": ["emergency-police"],
            }
        ]
        steps = (await client.get("/v1/search/pathway", params=INSIDE)).json()["data"]
        police = next(step for step in steps if step["need"] == "emergency-police")
        assert [line["number"] for line in police["national_lines"]] == ["117"]

    async def test_not_outside_the_country_nor_when_a_service_is_near(
        self, client: httpx.AsyncClient, operator: Partner, country: AdminArea
    ) -> None:
        await entered(client, operator)
        outside = await client.get(
            "/v1/search/nearest", params={**OUTSIDE, "need": "emergency-police"}
        )
        assert "national_lines" not in outside.json()["meta"]
        page = Page(
            (await client.get("/lookup", params={**OUTSIDE, "need": "emergency-police"})).text
        )
        assert not page.all("a", href="tel:117")

        body = {
            "name": "Commissariat de Toliara (test)",
            "needs": ["emergency-police"],
            "phones": [{"number": "+261 20 94 000 00"}],
            "locations": [{"name": "Commissariat", "latitude": -23.35, "longitude": 43.67}],
        }
        created = await client.post("/v1/services", json=body, headers=operator.headers)
        assert created.status_code == 201, created.text
        found = (
            await client.get("/v1/search/nearest", params={**INSIDE, "need": "emergency-police"})
        ).json()
        assert [item["service"]["id"] for item in found["data"]] == [created.json()["id"]]
        assert "national_lines" not in found["meta"]
        page = Page(
            (await client.get("/lookup", params={**INSIDE, "need": "emergency-police"})).text
        )
        assert page.services() == [created.json()["id"]]
        assert not page.all("a", href="tel:117")
