"""Issue 22, part 6: the HSDS fields partners ask for — ``alert`` (with Relay's
``alert_until``), ``wait_time``, ``required_documents``, ``cost_options``, ``contacts`` — written
by the directory API, read back as valid HSDS 3.1, and the alert shown on the lookup card while
it lasts."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.auth.scopes import Scope
from api.config import Settings
from api.models.directory import Metadata
from tests.factories.auth import Partner, create_partner
from tests.hsds_conformance import validate_hsds
from tests.web.pages import Page

TOMORROW = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
BODY: dict[str, Any] = {
    "name": "Clinique juridique Antsirabe (fields)",
    "needs": ["legal-aid"],
    "phones": [{"number": "+261 20 44 000 05"}],
    "locations": [{"name": "Antsirabe", "latitude": -19.87, "longitude": 47.03}],
    "alert": "Closed for the holidays; call the national line.",
    "alert_until": TOMORROW,
    "wait_time": "Same day",
    "required_documents": [{"document": "Any identity document, if there is one"}],
    "cost_options": [
        {"option": "Consultation", "amount": 0, "currency": "MGA", "amount_description": "Free"}
    ],
    "contacts": [{"title": "Reception desk", "email": "accueil@clinique.example"}],
}
POINT = {"lat": "-19.87", "lon": "47.03", "need": "legal-aid", "lang": "en"}


@pytest.fixture
async def writer(session: AsyncSession, settings: Settings) -> Partner:
    return await create_partner(session, settings, scopes=[Scope.directory_write])


async def test_written_read_back_as_hsds_and_replaced_as_a_whole(
    client: httpx.AsyncClient, session: AsyncSession, writer: Partner
) -> None:
    created = await client.post("/v1/services", json=BODY, headers=writer.headers)
    assert created.status_code == 201, created.text
    service_id = created.json()["id"]
    public = (await client.get(f"/hsds/services/{service_id}")).json()
    assert validate_hsds(public, "service") == []
    assert (public["alert"], public["alert_until"], public["wait_time"]) == (
        BODY["alert"],
        TOMORROW,
        "Same day",
    )
    assert [item["document"] for item in public["required_documents"]] == [
        "Any identity document, if there is one"
    ]
    assert public["cost_options"][0]["currency"] == "MGA"
    assert public["cost_options"][0]["amount"] == 0
    assert public["contacts"][0]["title"] == "Reception desk"

    current = await client.get(f"/v1/services/{service_id}", headers=writer.headers)
    changed = await client.patch(
        f"/v1/services/{service_id}",
        json={"cost_options": [{"option": "Court filing", "amount": 5000, "currency": "MGA"}]},
        headers={**writer.headers, "If-Match": current.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert [item["option"] for item in changed.json()["cost_options"]] == ["Court filing"]
    assert changed.json()["contacts"][0]["title"] == "Reception desk"  # not sent: kept
    history = await session.execute(
        select(col(Metadata.field_name)).where(col(Metadata.resource_id) == uuid.UUID(service_id))
    )
    assert "cost_options" in set(history.scalars())


@pytest.mark.parametrize(
    "wrong",
    [
        {"cost_options": [{"currency": "mga"}]},
        {"cost_options": [{"amount": -1}]},
        {"cost_options": [{"valid_from": "2026-02-01", "valid_to": "2026-01-01"}]},
        {"alert": "x" * 501},
        {"alert_until": "soon"},
        {"contacts": [{"email": "not an address"}]},
        {"required_documents": [{"document": ""}]},
    ],
)
async def test_bad_fields_are_422(
    client: httpx.AsyncClient, writer: Partner, wrong: dict[str, Any]
) -> None:
    refused = await client.post("/v1/services", json={**BODY, **wrong}, headers=writer.headers)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"


async def test_the_card_shows_the_alert_while_it_lasts(
    client: httpx.AsyncClient, session: AsyncSession, writer: Partner
) -> None:
    created = await client.post("/v1/services", json=BODY, headers=writer.headers)
    service_id = created.json()["id"]
    card = Page((await client.get("/lookup", params=POINT)).text).card(service_id)
    assert BODY["alert"] in card.text
    assert f"(until {TOMORROW})" in card.text
    found = await client.get("/v1/search/nearest", params=POINT)
    assert found.json()["data"][0]["service"]["alert"] == BODY["alert"]

    await session.execute(
        text("UPDATE service SET alert_until = current_date - 1 WHERE id = :id"),
        {"id": uuid.UUID(service_id)},
    )
    card = Page((await client.get("/lookup", params=POINT)).text).card(service_id)
    assert BODY["alert"] not in card.text
    found = await client.get("/v1/search/nearest", params=POINT)
    assert "alert" not in found.json()["data"][0]["service"]
