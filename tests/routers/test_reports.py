"""Issue 22, part 3 (acceptance 5): anyone may report a wrong entry from a lookup card or a
pathway line, anonymously; reports are throttled per address, keep nothing of who sent them, and
wait in the review queue of the entry's organisation and the operator."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.auth.scopes import Scope
from api.config import Settings
from api.models.directory import DirectoryReport
from tests.factories.auth import Partner, create_partner
from tests.web.pages import Page

POST_BODY: dict[str, Any] = {
    "name": "Centre de santé Ankadifotsy (reports)",
    "needs": ["medical-care"],
    "phones": [{"number": "+261 20 22 000 02"}],
    "locations": [{"name": "CSB Ankadifotsy", "latitude": -18.90, "longitude": 47.53}],
}
SAME_SITE = {"Sec-Fetch-Site": "same-origin", "Origin": "http://test"}


@asynccontextmanager
async def visitor(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous browser at ``address`` (the app is bound to the test's transaction)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as browser:
        yield browser


@pytest.fixture
async def owner(session: AsyncSession, settings: Settings) -> Partner:
    return await create_partner(
        session, settings, scopes=[Scope.directory_write], name="CSB Ankadifotsy"
    )


@pytest.fixture
async def operator(session: AsyncSession, settings: Settings) -> Partner:
    return await create_partner(session, settings, scopes=[Scope.admin, Scope.directory_write])


@pytest.fixture
async def service(client: httpx.AsyncClient, owner: Partner) -> dict[str, Any]:
    created = await client.post("/v1/services", json=POST_BODY, headers=owner.headers)
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def send(
    browser: httpx.AsyncClient, service_id: str, reason: str = "wrong_number", **extra: str
) -> httpx.Response:
    form = {"service": service_id, "reason": reason, **extra}
    return await browser.post("/lookup/report?lang=en", data=form, headers=SAME_SITE)


class TestReporting:
    async def test_a_card_and_a_pathway_line_lead_to_the_form(
        self, client: httpx.AsyncClient, service: dict[str, Any]
    ) -> None:
        query = {"lat": "-18.9", "lon": "47.53", "need": "medical-care", "lang": "fr"}
        card = Page((await client.get("/lookup", params=query)).text).card(service["id"])
        link = f"/lookup/report?service={service['id']}&lang=fr"
        assert card.all("a", href=link)
        pathway = Page((await client.get("/lookup/pathway", params=query)).text)
        assert pathway.step("medical-care").all("a", href=link)
        form = await client.get(link)
        assert form.status_code == 200
        assert form.headers["cache-control"] == "no-store"
        page = Page(form.text)
        assert "Centre de santé Ankadifotsy" in page.text
        assert [attrs["value"] for attrs in page.all("input", type="radio")] == [
            "wrong_number",
            "closed",
            "moved",
            "other",
        ]

    async def test_a_report_keeps_nothing_of_who_sent_it(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        session: AsyncSession,
        service: dict[str, Any],
    ) -> None:
        address = "203.0.113.77"
        async with visitor(app, address) as browser:
            sent = await send(
                browser, service["id"], correction="Le bon numéro\x07 : 034 00 000 01"
            )
        assert sent.status_code == 200, sent.text
        assert "Thank you" in Page(sent.text).text
        report = (
            await session.execute(
                select(DirectoryReport).where(
                    col(DirectoryReport.service_id) == uuid.UUID(service["id"])
                )
            )
        ).scalar_one()
        assert (report.reason, report.status) == ("wrong_number", "open")
        assert report.correction == "Le bon numéro : 034 00 000 01"
        columns = set(
            (
                await session.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = 'directory_report'"
                    )
                )
            ).scalars()
        )
        assert columns == {
            "id",
            "service_id",
            "organization_id",
            "reason",
            "correction",
            "status",
            "created_at",
            "resolved_at",
            "resolved_by",
        }
        # The throttle's key is a keyed hash: the address is nowhere in clear.
        for table in ("directory_report", "sign_in_address_failures"):
            dump = await session.scalar(text(f"SELECT string_agg(t::text, ' ') FROM {table} t"))
            assert address not in (dump or "")

    async def test_throttled_per_address(
        self, app: FastAPI, settings: Settings, service: dict[str, Any]
    ) -> None:
        async with visitor(app, "203.0.113.90") as browser:
            for _ in range(settings.reports_per_address):
                assert (await send(browser, service["id"])).status_code == 200
            refused = await send(browser, service["id"])
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) > 0
            assert "Too many reports" in Page(refused.text).text
        async with visitor(app, "203.0.113.91") as elsewhere:
            assert (await send(elsewhere, service["id"])).status_code == 200

    async def test_bad_input_is_a_form_error_never_a_500(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        service: dict[str, Any],
    ) -> None:
        async with visitor(app, "203.0.113.100") as browser:
            assert (await send(browser, service["id"], reason="lies")).status_code == 422
            assert (await send(browser, service["id"], reason="")).status_code == 422
            assert (await send(browser, "not-an-id")).status_code == 404
            assert (await send(browser, str(uuid.uuid4()))).status_code == 404
            foreign = await browser.post(
                "/lookup/report",
                data={"service": service["id"], "reason": "closed"},
                headers={"Sec-Fetch-Site": "cross-site"},
            )
            assert foreign.status_code == 403
            assert (await browser.get("/lookup/report?service=nope")).status_code == 404
            long = await send(browser, service["id"], correction="9" * 5000)
            assert long.status_code == 200
        partner = await create_partner(session, settings, scopes=[Scope.directory_write])
        hidden = await client.post(
            "/v1/services", json={**POST_BODY, "visibility": "partners"}, headers=partner.headers
        )
        async with visitor(app, "203.0.113.101") as browser:
            assert (await send(browser, hidden.json()["id"])).status_code == 404
        kept = (await session.execute(select(DirectoryReport.correction))).scalars()
        assert max(len(value or "") for value in kept) == 300


class TestQueue:
    async def test_the_owner_and_the_operator_accept_or_dismiss_once(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        owner: Partner,
        operator: Partner,
        service: dict[str, Any],
    ) -> None:
        async with visitor(app, "203.0.113.120") as browser:
            await send(browser, service["id"], correction="+261 34 00 000 01")
            await send(browser, service["id"], reason="moved")
        queue = await client.get("/v1/directory/reports", headers=owner.headers)
        assert queue.status_code == 200
        listed = queue.json()
        assert listed["meta"]["total"] == 2
        assert [item["reason"] for item in listed["data"]] == ["wrong_number", "moved"]
        assert listed["data"][0]["correction"] == "+261 34 00 000 01"

        stranger = await create_partner(session, settings, scopes=[Scope.directory_write])
        theirs = await client.get("/v1/directory/reports", headers=stranger.headers)
        assert theirs.json()["meta"]["total"] == 0
        first, second = (item["id"] for item in listed["data"])
        refused = await client.post(
            f"/v1/directory/reports/{first}/accept", headers=stranger.headers
        )
        assert refused.status_code == 404

        everyone = await client.get(
            "/v1/directory/reports",
            params={"organization_id": str(owner.organization.id)},
            headers=operator.headers,
        )
        assert everyone.json()["meta"]["total"] == 2

        accepted = await client.post(f"/v1/directory/reports/{first}/accept", headers=owner.headers)
        assert accepted.json()["status"] == "accepted"
        again = await client.post(f"/v1/directory/reports/{first}/dismiss", headers=owner.headers)
        assert again.status_code == 409
        dismissed = await client.post(
            f"/v1/directory/reports/{second}/dismiss", headers=operator.headers
        )
        assert dismissed.json()["status"] == "dismissed"
        empty = await client.get("/v1/directory/reports", headers=owner.headers)
        assert empty.json() == {"data": [], "meta": {"total": 0}}
