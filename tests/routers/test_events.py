"""The event feed over HTTP: each referral and consent change writes its events in the same
transaction, to the organisations party to it, with ids and codes only; cursors page through
them in order; another organisation sees none of them."""

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from api.auth.scopes import Scope
from api.config import Settings
from api.services import referrals as referral_service
from tests.factories import referrals as factories
from tests.factories.auth import Partner, create_partner
from tests.factories.events import number_before_feed_reads
from tests.factories.referrals import NAME, Network, move, record_consent, refer

Json = dict[str, Any]


@pytest.fixture
async def network(session: AsyncSession, settings: Settings) -> Network:
    return await factories.network(session, settings)


@pytest.fixture(autouse=True)
def numbered(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    """Each feed read finds the events written before it numbered, as with a running worker."""
    number_before_feed_reads(client, session, settings)


async def feed(client: httpx.AsyncClient, partner: Partner, **params: Any) -> httpx.Response:
    return await client.get("/v1/events", params=params, headers=partner.headers)


async def all_events(client: httpx.AsyncClient, partner: Partner, **params: Any) -> list[Json]:
    response = await feed(client, partner, limit=500, **params)
    assert response.status_code == 200, response.text
    data: list[Json] = response.json()["data"]
    return data


def about(events: list[Json], referral_id: str) -> list[str]:
    return [e["type"] for e in events if e["data"].get("referral_id") == referral_id]


class TestReferralEvents:
    async def test_each_step_reaches_both_parties_in_order_without_personal_data(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        net = network
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        for target in ("received", "accepted"):
            moved = await move(client, net.receiver.headers, referral_id, status=target)
            assert moved.status_code == 200, moved.text
        note = await client.post(
            f"/v1/referrals/{referral_id}/notes",
            json={"note": f"{NAME} arrived with her aunt"},
            headers=net.receiver.headers,
        )
        assert note.status_code == 201

        expected = [
            "referral.created",
            "referral.status_changed",
            "referral.status_changed",
            "referral.note_added",
        ]
        for party in (net.sender, net.receiver):
            events = await all_events(client, party)
            assert about(events, referral_id) == expected
            steps = [e for e in events if e["data"].get("referral_id") == referral_id]
            assert [e["data"]["sequence"] for e in steps] == [1, 2, 3, 4]
            assert [e["data"]["status"] for e in steps] == [
                "requested",
                "received",
                "accepted",
                "accepted",
            ]
            assert all(e["id"].startswith("evt_") for e in steps)
            serialized = json.dumps(events)
            assert NAME not in serialized
            assert "aunt" not in serialized
            assert set(steps[0]["data"]) == {
                "referral_id",
                "sequence",
                "status",
                "priority",
                "from_organization_id",
                "to_organization_id",
            }
        sender_events = await all_events(client, net.sender)
        recorded = [e for e in sender_events if e["type"] == "consent.recorded"]
        assert [e["data"]["consent_id"] for e in recorded] == [consent_id]

    async def test_another_organisation_sees_none_of_it(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        net = network
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        events = await all_events(client, net.third)
        assert about(events, referral_id) == []
        assert consent_id not in json.dumps(events)

    async def test_consent_withdrawal_reaches_the_receivers_of_referrals_on_it(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        net = network
        consent_id = await record_consent(client, net)
        await refer(client, net, consent_id)
        for _ in range(2):  # a second withdrawal changes nothing and says nothing
            withdrawn = await client.post(
                f"/v1/consents/{consent_id}/withdraw",
                json={"reason": "withdrawn_by_person"},
                headers=net.sender.headers,
            )
            assert withdrawn.status_code == 200, withdrawn.text
        for party in (net.sender, net.receiver):
            events = await all_events(client, party, types="consent.withdrawn")
            assert [e["data"] for e in events] == [{"consent_id": consent_id, "state": "withdrawn"}]
        third = await all_events(client, net.third, types="consent.withdrawn")
        assert third == []

    async def test_the_workers_overdue_event_is_in_the_feed(
        self,
        client: httpx.AsyncClient,
        network: Network,
        session: AsyncSession,
        settings: Settings,
        connection: AsyncConnection,
    ) -> None:
        net = network
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        await connection.execute(
            text("UPDATE referral SET due_at = now() - interval '1 hour' WHERE id = :id"),
            {"id": uuid.UUID(referral_id)},
        )
        assert await referral_service.flag_overdue(session, settings) >= 1
        for party in (net.sender, net.receiver):
            events = await all_events(client, party, types="referral.overdue")
            assert about(events, referral_id) == ["referral.overdue"]


class TestCursor:
    async def test_pages_follow_each_other_and_an_empty_poll_keeps_its_place(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        net = network
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        for target in ("received", "accepted", "in-progress"):
            await move(client, net.receiver.headers, referral_id, status=target)
        everything = await all_events(client, net.receiver)

        seen: list[Json] = []
        cursor = None
        while True:
            params: Json = {"limit": 2}
            if cursor:
                params["after"] = cursor
            page = (await feed(client, net.receiver, **params)).json()
            seen += page["data"]
            cursor = page["meta"]["next_cursor"]
            if not page["data"]:
                break
        assert [e["id"] for e in seen] == [e["id"] for e in everything]
        again = (await feed(client, net.receiver, after=cursor)).json()
        assert again["data"] == []
        assert again["meta"]["next_cursor"] == cursor

        held = await move(
            client, net.receiver.headers, referral_id, status="on-hold", reason="awaiting_capacity"
        )
        assert held.status_code == 200, held.text
        later = (await feed(client, net.receiver, after=cursor)).json()
        assert [e["type"] for e in later["data"]] == ["referral.status_changed"]
        assert later["data"][0]["data"]["status"] == "on-hold"

    async def test_types_filter(self, client: httpx.AsyncClient, network: Network) -> None:
        net = network
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        await move(client, net.receiver.headers, referral_id, status="received")
        events = await all_events(client, net.sender, types="referral.status_changed")
        assert {e["type"] for e in events} == {"referral.status_changed"}
        both = await all_events(
            client, net.sender, types="referral.created,referral.status_changed"
        )
        assert about(both, referral_id) == ["referral.created", "referral.status_changed"]

    @pytest.mark.parametrize(
        ("params", "code"),
        [
            ({"after": "not-a-cursor"}, "invalid-cursor"),
            ({"after": "LTEuMg"}, "invalid-cursor"),  # "-1.2"
            ({"types": "referral.created,referral.deleted"}, "unknown-event-type"),
            ({"limit": 0}, "validation"),
            ({"limit": 501}, "validation"),
        ],
    )
    async def test_bad_parameters_are_422(
        self, client: httpx.AsyncClient, network: Network, params: Json, code: str
    ) -> None:
        response = await feed(client, network.sender, **params)
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"] == f"urn:relay:problem:{code}"

    async def test_a_cursor_older_than_the_retained_history_is_gone(
        self, client: httpx.AsyncClient, network: Network, connection: AsyncConnection
    ) -> None:
        net = network
        consent_id = await record_consent(client, net)
        await refer(client, net, consent_id)
        first = (await feed(client, net.sender, limit=1)).json()
        cursor = first["meta"]["next_cursor"]
        assert (await feed(client, net.sender, after=cursor)).status_code == 200
        # The retention sweep deleted past this cursor (as the worker's purge does).
        await connection.execute(text("UPDATE outbox_horizon SET seq = 9223372036854775806"))
        gone = await feed(client, net.sender, after=cursor)
        assert gone.status_code == 410
        assert gone.json()["type"] == "urn:relay:problem:cursor-expired"


class TestAccess:
    async def test_without_a_referral_or_webhook_scope_the_feed_is_403(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        reader = await create_partner(session, settings, scopes=[Scope.directory_read])
        response = await feed(client, reader)
        assert response.status_code == 403

    async def test_without_a_token_401(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/v1/events")).status_code == 401


class TestDirectoryEvents:
    async def test_a_public_change_reaches_everyone_a_confidential_one_its_owner_only(
        self, client: httpx.AsyncClient, network: Network, session: AsyncSession, settings: Settings
    ) -> None:
        net = network
        writer = await create_partner(
            session,
            settings,
            scopes=[Scope.directory_write, Scope.referrals_receive],
            name="Shelter NGO",
        )
        service = await factories.add_service(session, writer, ("safe-shelter",), name="Refuge")
        capacity = await client.put(
            f"/v1/services/{service.id}/capacity",
            json={"unit": "bed", "available": 2, "maximum": 5},
            headers=writer.headers,
        )
        assert capacity.status_code == 200, capacity.text
        hidden = await client.post(
            "/v1/locations",
            json={
                "name": "Safe house",
                "latitude": 14.1,
                "longitude": -16.0,
                "visibility": "confidential",
            },
            headers=writer.headers,
        )
        assert hidden.status_code == 201, hidden.text
        location_id = hidden.json()["id"]

        own = await all_events(client, writer, types="directory.changed")
        other = await all_events(client, net.third, types="directory.changed")
        own_ids = [e["data"]["id"] for e in own]
        other_ids = [e["data"]["id"] for e in other]
        assert str(service.id) in own_ids
        assert str(service.id) in other_ids
        assert location_id in own_ids
        assert location_id not in other_ids
        change = next(e for e in other if e["data"]["id"] == str(service.id))
        assert change["data"] == {
            "resource": "service",
            "id": str(service.id),
            "organization_id": str(writer.organization.id),
            "action": "update",
        }
