"""Webhook subscriptions over HTTP: the secret shown once, rotation, enable/disable, the limit,
another organisation's ids, the scope, and URLs that would lead the worker inside (SSRF)."""

import uuid
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address, ip_network
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from api import crypto, net
from api.auth.scopes import Scope
from api.config import Settings
from api.models.events import WebhookSubscription
from api.services import delivery, keys, notify
from api.services.webhooks import MAXIMUM_SUBSCRIPTIONS, signing_secrets
from tests.conftest import make_settings
from tests.factories import referrals as factories
from tests.factories.auth import Partner, create_partner
from tests.factories.events import number_before_feed_reads, number_events
from tests.factories.referrals import Network, record_consent, refer
from tests.isolation import assert_hidden_from_other_organisations

Json = dict[str, Any]
PUBLIC_URL = "https://93.184.215.14/relay-hooks"  # public; these tests never send to it


@pytest.fixture
async def network(session: AsyncSession, settings: Settings) -> Network:
    return await factories.network(session, settings)


@pytest.fixture(autouse=True)
def numbered(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    """Each feed read finds the events written before it numbered, as with a running worker."""
    number_before_feed_reads(client, session, settings)


async def subscribe(client: httpx.AsyncClient, partner: Partner, **body: Any) -> httpx.Response:
    return await client.post(
        "/v1/webhooks", json={"url": PUBLIC_URL, **body}, headers=partner.headers
    )


class TestSubscriptions:
    async def test_create_shows_the_secret_once(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        created = await subscribe(
            client, network.receiver, event_types=["referral.created"], description="Case system"
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["secret"].startswith("whsec_")
        assert created.headers["cache-control"] == "no-store"
        assert created.headers["location"] == f"/v1/webhooks/{body['id']}"
        assert body["enabled"] is True
        assert body["event_types"] == ["referral.created"]

        again = (
            await client.get(created.headers["location"], headers=network.receiver.headers)
        ).json()
        assert "secret" not in again
        listed = (await client.get("/v1/webhooks", headers=network.receiver.headers)).json()
        assert [item["id"] for item in listed["data"]] == [body["id"]]
        assert body["secret"] not in str(listed)

    async def test_the_secret_is_sealed_in_the_database(
        self, client: httpx.AsyncClient, network: Network, connection: AsyncConnection
    ) -> None:
        body = (await subscribe(client, network.receiver)).json()
        stored = await connection.scalar(
            text("SELECT secret FROM webhook_subscription WHERE id = :id"), {"id": body["id"]}
        )
        assert body["secret"].encode() not in stored
        assert body["secret"].removeprefix("whsec_").encode() not in stored

    async def test_update_disable_enable_delete(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        headers = network.receiver.headers
        url = f"/v1/webhooks/{(await subscribe(client, network.receiver)).json()['id']}"
        off = await client.patch(url, json={"enabled": False}, headers=headers)
        assert off.status_code == 200
        assert off.json()["enabled"] is False
        assert off.json()["disabled_reason"] == "by_owner"
        on = await client.patch(
            url, json={"enabled": True, "event_types": ["referral.overdue"]}, headers=headers
        )
        assert on.json()["enabled"] is True
        assert "disabled_reason" not in on.json()
        assert on.json()["event_types"] == ["referral.overdue"]
        refused = await client.patch(url, json={"url": "http://127.0.0.1/x"}, headers=headers)
        assert refused.status_code == 422
        assert (await client.delete(url, headers=headers)).status_code == 204
        assert (await client.get(url, headers=headers)).status_code == 404

    async def test_rotation_signs_with_both_secrets_during_the_overlap(
        self, client: httpx.AsyncClient, network: Network, session: AsyncSession, settings: Settings
    ) -> None:
        created = (await subscribe(client, network.receiver)).json()
        rotated = await client.post(
            f"/v1/webhooks/{created['id']}/secret",
            json={"overlap_hours": 2},
            headers=network.receiver.headers,
        )
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()
        assert new["secret"] != created["secret"]
        assert "previous_secret_expires_at" in new
        stored = await session.get(WebhookSubscription, uuid.UUID(created["id"]))
        assert stored is not None
        await session.refresh(stored)
        now = datetime.now(UTC)
        assert signing_secrets(settings, stored, now) == [new["secret"], created["secret"]]
        assert signing_secrets(settings, stored, now + timedelta(hours=3)) == [new["secret"]]

    async def test_at_most_ten_per_organisation(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        for _ in range(MAXIMUM_SUBSCRIPTIONS):
            assert (await subscribe(client, network.receiver)).status_code == 201
        over = await subscribe(client, network.receiver)
        assert over.status_code == 409
        assert over.json()["type"] == "urn:relay:problem:too-many-webhooks"

    @pytest.mark.parametrize(
        "body",
        [
            {"event_types": ["referral.deleted"]},
            {"event_types": ["referral.created", "referral.created"]},
            {"url": "not a url at all"},
            {"secret": "whsec_mine"},
        ],
    )
    async def test_invalid_bodies_are_422(
        self, client: httpx.AsyncClient, network: Network, body: Json
    ) -> None:
        response = await subscribe(client, network.receiver, **body)
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")


class TestAccess:
    async def test_another_organisations_webhook_is_not_there(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        webhook_id = (await subscribe(client, network.receiver)).json()["id"]
        for suffix, method, body in (
            ("", "GET", None),
            ("", "PATCH", {"enabled": False}),
            ("/deliveries", "GET", None),
            ("/secret", "POST", {}),
        ):
            await assert_hidden_from_other_organisations(
                client,
                url=f"/v1/webhooks/{webhook_id}{suffix}",
                missing_url=f"/v1/webhooks/00000000-0000-4000-8000-000000000000{suffix}",
                owner_headers=network.receiver.headers,
                other_headers=network.sender.headers,
                method=method,
                json=body,
            )
        listed = (await client.get("/v1/webhooks", headers=network.sender.headers)).json()
        assert listed["data"] == []

    async def test_webhooks_manage_is_required(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        partner = await create_partner(session, settings, scopes=[Scope.referrals_receive])
        response = await subscribe(client, partner)
        assert response.status_code == 403
        assert (await client.get("/v1/webhooks", headers=partner.headers)).status_code == 403


class TestServerSideRequestForgery:
    @pytest.mark.parametrize(
        "url",
        [
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1/hook",
            "http://127.0.0.1:8000/v1/admin",
            "http://localhost/hook",
            "http://[::1]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://10.0.0.5/hook",
            "http://192.168.1.1/hook",
            "http://172.16.0.1/hook",
            "http://100.64.0.1/hook",
            "http://0.0.0.0/hook",
            "http://224.0.0.1/hook",
            "http://[fe80::1]/hook",
            "http://[fd00::1]/hook",
            "http://2130706433/hook",  # 127.0.0.1 as one number
            "https://user:password@93.184.215.14/hook",
            "ftp://93.184.215.14/hook",
            "file:///etc/passwd",
            "http://no-such-host.invalid/hook",
        ],
    )
    async def test_refused_by_default(
        self, client: httpx.AsyncClient, network: Network, url: str
    ) -> None:
        response = await subscribe(client, network.receiver, url=url)
        assert response.status_code == 422, url
        assert response.json()["type"] == "urn:relay:problem:webhook-url-refused"
        assert url not in response.text  # the problem names the rule, not the value

    def test_an_allowed_network_lets_loopback_through_and_nothing_else(self) -> None:
        allowed = [ip_network("127.0.0.0/8")]
        assert net.allowed(ip_address("127.0.0.1"), allowed)
        assert not net.allowed(ip_address("169.254.169.254"), allowed)
        assert not net.allowed(ip_address("10.1.2.3"), allowed)
        assert net.allowed(ip_address("203.0.113.10"), []) is False  # documentation range
        assert net.allowed(ip_address("8.8.8.8"), [])

    def test_production_accepts_https_only(self) -> None:
        with pytest.raises(net.UrlRefused):
            net.parse("http://partner.example/hook", https_only=True)
        assert net.parse("https://partner.example/hook", https_only=True).hostname

    def test_a_pinned_request_keeps_the_host_and_server_name(self) -> None:
        parts = net.parse("https://partner.example:8443/hooks?a=1", https_only=True)
        pinned = net.pin(parts, ip_address("198.51.100.7"))
        assert pinned.url == "https://198.51.100.7:8443/hooks?a=1"
        assert pinned.host_header == "partner.example:8443"
        assert pinned.server_name == "partner.example"


class TestDeliveryLog:
    async def test_fan_out_makes_one_delivery_per_event_of_the_chosen_types(
        self,
        client: httpx.AsyncClient,
        network: Network,
        session: AsyncSession,
        settings: Settings,
    ) -> None:
        netw = network
        hook = (await subscribe(client, netw.receiver, event_types=["referral.created"])).json()
        everything = (await subscribe(client, netw.receiver)).json()
        consent_id = await record_consent(client, netw)
        referral_id = (await refer(client, netw, consent_id))["id"]
        await client.post(
            f"/v1/referrals/{referral_id}/status",
            json={"status": "received"},
            headers=netw.receiver.headers,
        )
        await number_events(session, settings)
        assert await delivery.fan_out(session, settings) >= 3
        assert await delivery.fan_out(session, settings) == 0  # the cursor moved past them

        log = (
            await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=netw.receiver.headers)
        ).json()
        assert [item["event_type"] for item in log["data"]] == ["referral.created"]
        item = log["data"][0]
        assert item["status"] == "pending"
        assert item["attempts"] == 0
        one = (
            await client.get(
                f"/v1/webhooks/{hook['id']}/deliveries/{item['id']}",
                headers=netw.receiver.headers,
            )
        ).json()
        assert one["message"]["data"]["referral_id"] == referral_id
        assert one["message"]["id"] == item["webhook_id"]
        assert one["attempt_log"] == []

        full = (
            await client.get(
                f"/v1/webhooks/{everything['id']}/deliveries",
                params={"limit": 1},
                headers=netw.receiver.headers,
            )
        ).json()
        assert len(full["data"]) == 1
        rest = (
            await client.get(
                f"/v1/webhooks/{everything['id']}/deliveries",
                params={"limit": 1, "cursor": full["meta"]["next_cursor"]},
                headers=netw.receiver.headers,
            )
        ).json()
        assert rest["data"][0]["id"] != full["data"][0]["id"]

        redelivered = await client.post(
            f"/v1/webhooks/{hook['id']}/deliveries/{item['id']}/redeliver",
            headers=netw.receiver.headers,
        )
        assert redelivered.status_code == 202
        assert redelivered.json()["status"] == "pending"


class TestMaintenance:
    async def test_an_endpoint_failing_for_days_is_disabled_and_its_organisation_told(
        self,
        client: httpx.AsyncClient,
        network: Network,
        session: AsyncSession,
        settings: Settings,
        connection: AsyncConnection,
    ) -> None:
        failing = (await subscribe(client, network.receiver)).json()
        healthy = (await subscribe(client, network.receiver)).json()
        await connection.execute(
            text("UPDATE webhook_subscription SET failing_since = :at WHERE id = :id"),
            {
                "id": uuid.UUID(failing["id"]),
                "at": datetime.now(UTC) - timedelta(hours=settings.webhook_disable_after_hours + 1),
            },
        )
        await connection.execute(
            text("UPDATE webhook_subscription SET failing_since = now() WHERE id = :id"),
            {"id": uuid.UUID(healthy["id"])},
        )
        assert await delivery.disable_failing(session, settings) == 1
        headers = network.receiver.headers
        off = (await client.get(f"/v1/webhooks/{failing['id']}", headers=headers)).json()
        assert off["enabled"] is False
        assert off["disabled_reason"] == "failing"
        on = (await client.get(f"/v1/webhooks/{healthy['id']}", headers=headers)).json()
        assert on["enabled"] is True
        told = (
            await client.get("/v1/events", params={"types": "webhook.disabled"}, headers=headers)
        ).json()["data"]
        assert [event["data"] for event in told] == [
            {"webhook_id": failing["id"], "reason": "failing"}
        ]

    async def test_events_past_retention_go_and_their_cursors_are_refused(
        self,
        client: httpx.AsyncClient,
        network: Network,
        session: AsyncSession,
        settings: Settings,
        connection: AsyncConnection,
    ) -> None:
        consent_id = await record_consent(client, network)
        await refer(client, network, consent_id)
        page = (await client.get("/v1/events", headers=network.sender.headers)).json()
        cursor = page["meta"]["next_cursor"]
        assert page["data"]
        assert await delivery.purge_events(session, settings) == 0  # all recent
        for _ in range(3):  # the notifications read the events first (the sweep waits for them)
            await notify.queue_urgent(session, settings)
        # The same sweep, a retention period later (the application role cannot back-date an
        # event: it may not update the outbox).
        later = settings.model_copy(update={"event_retention_days": -1})
        assert await delivery.purge_events(session, later) == 1
        left = await connection.scalar(
            text("SELECT count(*) FROM outbox_event WHERE organization_id = :id"),
            {"id": network.sender.organization.id},
        )
        assert left == 0
        gone = await client.get(
            "/v1/events", params={"after": cursor}, headers=network.sender.headers
        )
        assert gone.status_code == 410

    async def test_master_key_rotation_reseals_webhook_secrets(
        self, client: httpx.AsyncClient, network: Network, session: AsyncSession, settings: Settings
    ) -> None:
        created = (await subscribe(client, network.receiver)).json()
        old = settings.master_keys.get_secret_value()
        new = crypto.generate_master_key(2)
        rotated = make_settings(master_keys=f"{old},{new}")
        summary = await keys.rotate_master(session, rotated)
        assert summary["webhook_secrets_resealed"] >= 1
        stored = await session.get(WebhookSubscription, uuid.UUID(created["id"]))
        assert stored is not None
        await session.refresh(stored)
        assert stored.secret_version == 2
        only_new = make_settings(master_keys=new)
        assert signing_secrets(only_new, stored, datetime.now(UTC)) == [created["secret"]]
