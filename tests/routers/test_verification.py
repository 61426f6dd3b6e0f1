"""Issue 22, part 1: verification. An organisation confirms its entry in one call (HSDS
``assured_date``/``assurer_email``), the lookup card, the pathway and the search say when it was
checked, and the worker flags the entries nobody confirmed for ``RELAY_DIRECTORY_STALE_DAYS``
(``directory.stale`` once, to the owner; the operator's list) until someone confirms them."""

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.auth.scopes import Scope
from api.config import Settings
from api.models.events import EventType, OutboxEvent
from api.services import verification
from tests.factories.auth import Partner, create_partner
from tests.hsds_conformance import validate_hsds
from tests.web.pages import Page

# A police post in a place the tests own (public, near Antananarivo).
POST_BODY: dict[str, Any] = {
    "name": "Poste de police Ambohimanarina (verification)",
    "needs": ["emergency-police"],
    "phones": [{"number": "+261 20 22 000 01", "type": "voice"}],
    "locations": [{"name": "Poste Ambohimanarina", "latitude": -18.87, "longitude": 47.51}],
}
POINT = {"lat": "-18.8705", "lon": "47.5105"}


@pytest.fixture
async def owner(session: AsyncSession, settings: Settings) -> Partner:
    partner = await create_partner(
        session, settings, scopes=[Scope.directory_write], name="Police nationale (test)"
    )
    partner.organization.email = "contact@police.example"
    await session.flush()
    return partner


@pytest.fixture
async def operator(session: AsyncSession, settings: Settings) -> Partner:
    return await create_partner(session, settings, scopes=[Scope.admin, Scope.directory_write])


async def listed(client: httpx.AsyncClient, owner: Partner) -> dict[str, Any]:
    created = await client.post("/v1/services", json=POST_BODY, headers=owner.headers)
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def events_of(session: AsyncSession, kind: EventType, subject: str) -> list[OutboxEvent]:
    found = await session.execute(
        select(OutboxEvent).where(
            col(OutboxEvent.type) == kind.value, col(OutboxEvent.subject_id) == uuid.UUID(subject)
        )
    )
    return list(found.scalars())


async def age(session: AsyncSession, service_id: str, days: int) -> None:
    """The service was listed ``days`` ago (test-only: time passes)."""
    await session.execute(
        text("UPDATE service SET created_at = now() - make_interval(days => :days) WHERE id = :id"),
        {"days": days, "id": uuid.UUID(service_id)},
    )


class TestConfirm:
    async def test_one_call_confirms_with_the_organisations_address(
        self, client: httpx.AsyncClient, session: AsyncSession, owner: Partner
    ) -> None:
        service = await listed(client, owner)
        assert "assured_date" not in service
        url = f"/v1/services/{service['id']}"
        before = await client.get(url, headers=owner.headers)
        confirmed = await client.post(f"{url}/confirm", headers=owner.headers)
        assert confirmed.status_code == 200, confirmed.text
        body = confirmed.json()
        assert body["assured_date"] == datetime.now(UTC).date().isoformat()
        assert body["assurer_email"] == "contact@police.example"
        assert confirmed.headers["etag"] != before.headers["etag"]
        assert validate_hsds(body, "service") == []
        public = (await client.get(f"/hsds/services/{service['id']}")).json()
        assert public["assured_date"] == body["assured_date"]
        changed = await events_of(session, EventType.directory_changed, service["id"])
        assert [event.data["action"] for event in changed] == ["create", "update"]

    async def test_a_stale_etag_or_another_organisation_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, owner: Partner
    ) -> None:
        service = await listed(client, owner)
        url = f"/v1/services/{service['id']}/confirm"
        stale = await client.post(url, headers={**owner.headers, "If-Match": '"v0"'})
        assert stale.status_code == 412
        assert stale.headers["content-type"] == "application/problem+json"
        stranger = await create_partner(session, settings, scopes=[Scope.directory_write])
        assert (await client.post(url, headers=stranger.headers)).status_code == 404
        reader = await create_partner(session, settings, scopes=[Scope.directory_read])
        assert (await client.post(url, headers=reader.headers)).status_code == 403
        unknown = await client.post(f"/v1/services/{uuid.uuid4()}/confirm", headers=owner.headers)
        assert unknown.status_code == 404

    async def test_the_lookup_card_the_pathway_and_the_search_say_when(
        self, client: httpx.AsyncClient, owner: Partner
    ) -> None:
        service = await listed(client, owner)
        query = {**POINT, "need": "emergency-police", "lang": "en"}
        card = Page((await client.get("/lookup", params=query)).text).card(service["id"])
        assert "Checked on" not in card.text
        pathway = Page((await client.get("/lookup/pathway", params=POINT)).text)
        row = pathway.step("emergency-police")
        assert "Not checked" in row.text
        await client.post(f"/v1/services/{service['id']}/confirm", headers=owner.headers)
        today = datetime.now(UTC).date().isoformat()
        card = Page((await client.get("/lookup", params=query)).text).card(service["id"])
        assert f"Checked on {today}" in card.text
        pathway = Page((await client.get("/lookup/pathway", params=POINT)).text)
        assert today in pathway.step("emergency-police").text
        found = await client.get(
            "/v1/search/nearest",
            params={**POINT, "need": "emergency-police"},
        )
        first = found.json()["data"][0]["service"]
        assert (first["id"], first["assured_date"]) == (service["id"], today)


class TestStale:
    async def test_flagged_once_listed_for_the_operator_and_cleared_by_a_confirmation(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        owner: Partner,
        operator: Partner,
    ) -> None:
        service = await listed(client, owner)
        fresh = await listed(client, owner)
        await age(session, service["id"], settings.directory_stale_days + 1)
        await age(session, fresh["id"], settings.directory_stale_days - 1)

        assert await verification.flag_stale(session, settings) >= 1
        await verification.flag_stale(session, settings)  # again: nothing new for it
        stale = await events_of(session, EventType.directory_stale, service["id"])
        assert len(stale) == 1
        assert stale[0].organization_id == owner.organization.id  # the owner alone hears
        assert stale[0].data == {
            "resource": "service",
            "id": service["id"],
            "organization_id": str(owner.organization.id),
            "assured_date": None,
        }
        assert await events_of(session, EventType.directory_stale, fresh["id"]) == []

        listing = await client.get("/v1/admin/stale-services?limit=100", headers=operator.headers)
        assert listing.status_code == 200
        ids = [row["service_id"] for row in listing.json()["data"]]
        assert service["id"] in ids
        assert fresh["id"] not in ids
        refused = await client.get("/v1/admin/stale-services", headers=owner.headers)
        assert refused.status_code == 403

        etag = (await client.get(f"/v1/services/{service['id']}", headers=owner.headers)).headers
        assert etag["etag"] == '"v1"'  # flagging changes nothing partners read

        await client.post(f"/v1/services/{service['id']}/confirm", headers=operator.headers)
        listing = await client.get("/v1/admin/stale-services?limit=100", headers=operator.headers)
        assert service["id"] not in [row["service_id"] for row in listing.json()["data"]]
        # Confirmed today: not due again for the whole period.
        await verification.flag_stale(session, settings)
        assert len(await events_of(session, EventType.directory_stale, service["id"])) == 1

    async def test_a_check_older_than_the_period_is_stale_again(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, owner: Partner
    ) -> None:
        service = await listed(client, owner)
        await client.post(f"/v1/services/{service['id']}/confirm", headers=owner.headers)
        await session.execute(
            text(
                "UPDATE service SET assured_date = current_date - CAST(:days AS int), "
                "created_at = now() - make_interval(days => CAST(:days AS int)) WHERE id = :id"
            ),
            {"days": settings.directory_stale_days + 5, "id": uuid.UUID(service["id"])},
        )
        await verification.flag_stale(session, settings)
        stale = await events_of(session, EventType.directory_stale, service["id"])
        assert [event.data["assured_date"] is not None for event in stale] == [True]
