"""The audit trail: exactly the expected events for reads, lists, transitions, directory changes
and tokens; rows no role can update, delete or truncate; a chain and signed checkpoints that
reveal an edited event or deleted ones; each organisation sees only events about its own
resources; the FHIR AuditEvent export."""

import base64
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from api.auth.scopes import Scope
from api.config import Settings
from api.services import audit
from tests.conftest import TEST_DATABASE_URL
from tests.factories import referrals as factories
from tests.factories.audit import seal_and_sign
from tests.factories.auth import Partner, create_client, create_partner, issue_token
from tests.factories.referrals import Network, move, record_consent, refer

Json = dict[str, Any]
RELAY = str(Path(sys.executable).parent / "relay")
CONTEXT = {"X-Acting-User": "staff-17", "X-Purpose-Of-Use": "case-management"}


@pytest.fixture
async def network(session: AsyncSession, settings: Settings) -> Network:
    return await factories.network(session, settings)


async def latest_position(connection: AsyncConnection) -> int:
    await connection.execute(text("SELECT set_config('relay.worker', 'on', true)"))
    return int(await connection.scalar(text("SELECT coalesce(max(position), 0) FROM audit_event")))


async def events_since(connection: AsyncConnection, position: int) -> list[Json]:
    await connection.execute(text("SELECT set_config('relay.worker', 'on', true)"))
    rows = await connection.execute(
        text(
            "SELECT action, resource_type, resource_ids, parties, outcome, client_id,"
            " organization_id, acting_user, purpose_of_use, request_id, client_ip"
            " FROM audit_event WHERE position > :position ORDER BY position"
        ),
        {"position": position},
    )
    return [dict(row._mapping) for row in rows]


def brief(events: list[Json]) -> list[tuple[str, str, list[str]]]:
    return [(e["action"], e["resource_type"], list(e["resource_ids"])) for e in events]


class TestWhatIsRecorded:
    async def test_reads_lists_and_transitions_of_a_referral(
        self, client: httpx.AsyncClient, network: Network, connection: AsyncConnection
    ) -> None:
        net = network
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        parties = {net.sender.organization.id, net.receiver.organization.id}

        mark = await latest_position(connection)
        read = await client.get(
            f"/v1/referrals/{referral_id}", headers={**net.receiver.headers, **CONTEXT}
        )
        assert read.status_code == 200
        [event] = await events_since(connection, mark)
        assert brief([event]) == [("read", "referral", [referral_id])]
        assert set(event["parties"]) == parties
        assert event["outcome"] == "success"
        assert event["client_id"] == net.receiver.client.client_id
        assert event["organization_id"] == net.receiver.organization.id
        assert event["acting_user"] == "staff-17"
        assert event["purpose_of_use"] == "case-management"
        assert event["request_id"] == read.headers["x-request-id"]
        assert event["client_ip"]

        mark = await latest_position(connection)
        listed = await client.get(
            "/v1/referrals", params={"box": "received"}, headers=net.receiver.headers
        )
        assert listed.status_code == 200
        events = await events_since(connection, mark)
        assert brief(events) == [("list", "referral", [referral_id])]
        assert events[0]["parties"] == [net.receiver.organization.id]

        for target in ("received", "accepted", "in-progress"):
            mark = await latest_position(connection)
            moved = await move(client, net.receiver.headers, referral_id, status=target)
            assert moved.status_code == 200
            assert brief(await events_since(connection, mark)) == [
                ("transition", "referral", [referral_id])
            ]

        mark = await latest_position(connection)
        refused = await move(client, net.receiver.headers, referral_id, status="requested")
        assert refused.status_code >= 400
        assert await events_since(connection, mark) == []  # nothing happened, nothing recorded

    async def test_creation_export_and_erasure(
        self, client: httpx.AsyncClient, network: Network, connection: AsyncConnection
    ) -> None:
        net = network
        mark = await latest_position(connection)
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        assert brief(await events_since(connection, mark)) == [
            ("create", "consent", [consent_id]),
            ("create", "referral", [referral_id]),
        ]
        mark = await latest_position(connection)
        exported = await client.get(
            f"/v1/referrals/{referral_id}/export",
            params={"format": "fhir"},
            headers=net.sender.headers,
        )
        assert exported.status_code == 200
        assert brief(await events_since(connection, mark)) == [
            ("export", "referral", [referral_id])
        ]
        mark = await latest_position(connection)
        erased = await client.request(
            "DELETE",
            f"/v1/referrals/{referral_id}/personal-data",
            json={"reason": "requested_by_person"},
            headers=net.sender.headers,
        )
        assert erased.status_code == 200, erased.text
        assert brief(await events_since(connection, mark)) == [("erase", "referral", [referral_id])]

    async def test_each_directory_change(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        connection: AsyncConnection,
    ) -> None:
        writer = await create_partner(session, settings, scopes=[Scope.directory_write])
        service = await factories.add_service(session, writer, ("safe-shelter",))
        mark = await latest_position(connection)
        capacity = await client.put(
            f"/v1/services/{service.id}/capacity",
            json={"unit": "bed", "available": 3},
            headers=writer.headers,
        )
        assert capacity.status_code == 200
        location = await client.post(
            "/v1/locations",
            json={"name": "Desk", "latitude": 14.1, "longitude": -16.0},
            headers=writer.headers,
        )
        assert location.status_code == 201
        events = await events_since(connection, mark)
        assert brief(events) == [
            ("update", "service", [str(service.id)]),
            ("create", "location", [location.json()["id"]]),
        ]
        assert all(e["parties"] == [writer.organization.id] for e in events)

    async def test_a_token_issued_and_a_token_refused(
        self, client: httpx.AsyncClient, network: Network, connection: AsyncConnection
    ) -> None:
        credentials = network.sender.client
        assert credentials.client_secret
        mark = await latest_position(connection)
        issued = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth(credentials.client_id, credentials.client_secret),
        )
        assert issued.status_code == 200
        refused = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth(credentials.client_id, "not-the-secret"),
        )
        assert refused.status_code == 401
        unknown = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth("rly_client_nobody", "whatever"),
        )
        assert unknown.status_code == 401
        events = await events_since(connection, mark)
        assert [(e["action"], e["outcome"], list(e["resource_ids"])) for e in events] == [
            ("token.issue", "success", [credentials.client_id]),
            ("token.refuse", "failure", [credentials.client_id]),
            ("token.refuse", "failure", []),  # an unknown id is not written down
        ]
        serialized = json.dumps([{k: str(v) for k, v in e.items()} for e in events])
        assert credentials.client_secret not in serialized
        assert "not-the-secret" not in serialized
        assert "rly_at_" not in serialized


class TestAppendOnly:
    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE audit_event SET action = 'read'",
            "DELETE FROM audit_event",
            "TRUNCATE audit_event",
            "UPDATE audit_chain SET hash = ''",
            "DELETE FROM audit_chain",
            "TRUNCATE audit_checkpoint",
        ],
    )
    async def test_the_application_role_cannot_rewrite(
        self,
        client: httpx.AsyncClient,
        network: Network,
        connection: AsyncConnection,
        statement: str,
    ) -> None:
        await record_consent(client, network)  # at least one event
        savepoint = await connection.begin_nested()
        with pytest.raises(DBAPIError, match="permission denied"):
            await connection.execute(text(statement))
        await savepoint.rollback()

    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE audit_event SET action = 'read'",
            "DELETE FROM audit_event",
            "TRUNCATE audit_chain",
        ],
    )
    async def test_even_the_owner_is_refused_by_the_trigger(
        self, owner_engine: AsyncEngine, statement: str
    ) -> None:
        async with owner_engine.connect() as connection:
            await connection.execute(
                text(
                    "INSERT INTO audit_event (id, at, action, resource_type, resource_ids, parties,"
                    " outcome) VALUES (gen_random_uuid(), now(), 'read', 'test', '{}', '{}',"
                    " 'success')"
                )
            )
            with pytest.raises(DBAPIError, match="append-only"):
                await connection.execute(text(statement))
            await connection.rollback()

    async def test_an_event_leaves_the_sealing_queue_only_once_chained(
        self,
        client: httpx.AsyncClient,
        network: Network,
        connection: AsyncConnection,
        session: AsyncSession,
        settings: Settings,
    ) -> None:
        await record_consent(client, network)
        waiting = await connection.scalar(text("SELECT count(*) FROM audit_pending"))
        assert waiting >= 1
        savepoint = await connection.begin_nested()
        with pytest.raises(DBAPIError, match="not sealed yet"):
            await connection.execute(text("DELETE FROM audit_pending"))
        await savepoint.rollback()
        assert await audit.seal(session, settings) == waiting
        assert await connection.scalar(text("SELECT count(*) FROM audit_pending")) == 0


def _verify_cli(settings: Settings, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own command)
        [RELAY, "audit", "verify", *options],
        env={**os.environ, **_cli_env(settings)},
        capture_output=True,
        text=True,
        timeout=120,
    )


class TestTamperEvidence:
    """These tests commit (the CLI reads what is committed) and put everything back."""

    @pytest.fixture
    async def sealed(self, app: Any, owner_engine: AsyncEngine, settings: Settings) -> list[Json]:
        """Three committed events, sealed and signed: their ids and seqs."""
        sessions = async_sessionmaker(app.state.engine, expire_on_commit=False)
        ids = []
        async with sessions() as session:
            for _ in range(3):
                identifier = uuid.uuid4()
                ids.append(identifier)
                await audit.record(
                    session, audit.RELAY, audit.Action.read, "tamper_test", [identifier], []
                )
            await session.commit()
        await seal_and_sign(app.state.engine, settings)
        async with owner_engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT c.seq, e.id, e.action FROM audit_chain c JOIN audit_event e"
                    " ON e.id = c.event_id WHERE e.resource_ids[1] = ANY(:ids) ORDER BY c.seq"
                ),
                {"ids": [str(i) for i in ids]},
            )
            return [dict(row._mapping) for row in rows]

    async def test_an_edited_event_is_named_by_its_seq(
        self, sealed: list[Json], owner_engine: AsyncEngine, settings: Settings
    ) -> None:
        intact = _verify_cli(settings, "--json")
        assert intact.returncode == 0, intact.stdout + intact.stderr
        assert json.loads(intact.stdout)["ok"] is True

        victim = sealed[1]
        await _as_superuser_without_triggers(
            owner_engine,
            "UPDATE audit_event SET action = 'list' WHERE id = :id",
            {"id": victim["id"]},
        )
        try:
            broken = _verify_cli(settings, "--json")
            assert broken.returncode == 1
            report = json.loads(broken.stdout)
            assert report["ok"] is False
            assert report["first_broken_seq"] == victim["seq"]
            assert "altered" in report["problem"]
            text_report = _verify_cli(settings)
            assert text_report.returncode == 1
            assert f"seq {victim['seq']}" in text_report.stderr
        finally:
            await _as_superuser_without_triggers(
                owner_engine,
                "UPDATE audit_event SET action = :action WHERE id = :id",
                {"id": victim["id"], "action": victim["action"]},
            )
        assert _verify_cli(settings, "--json").returncode == 0

    async def test_deleting_the_last_events_is_caught_by_the_checkpoints(
        self, sealed: list[Json], owner_engine: AsyncEngine, settings: Settings
    ) -> None:
        last = sealed[-1]["seq"]
        async with owner_engine.connect() as connection:
            head = await connection.scalar(text("SELECT max(seq) FROM audit_chain"))
            assert head == last
            for table in ("audit_chain", "audit_event"):
                await connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            await connection.execute(
                text("DELETE FROM audit_chain WHERE seq >= :seq"), {"seq": last - 1}
            )
            await connection.execute(
                text("DELETE FROM audit_event WHERE id = ANY(:ids)"),
                {"ids": [row["id"] for row in sealed[-2:]]},
            )
            session = AsyncSession(bind=connection)
            report = await audit.verify(session, settings)
            await connection.rollback()  # nothing was deleted for real
        assert report.ok is False
        assert report.first_broken_seq == last - 1
        assert "events deleted" in (report.problem or "")


def _cli_env(settings: Settings) -> dict[str, str]:
    assert TEST_DATABASE_URL
    return {
        "RELAY_ENVIRONMENT": "test",
        "RELAY_DATABASE_URL": TEST_DATABASE_URL,
        "RELAY_SECRET_KEY": settings.secret_key.get_secret_value(),
        "RELAY_MASTER_KEYS": settings.master_keys.get_secret_value(),
        "RELAY_AUDIT_SIGNING_KEY": settings.audit_signing_key.get_secret_value(),
        "RELAY_PUBLIC_URL": settings.public_url,
    }


async def _as_superuser_without_triggers(
    engine: AsyncEngine, statement: str, values: dict[str, Any]
) -> None:
    """What an operator with every right could do: switch the trigger off, edit, switch it on."""
    async with engine.begin() as connection:
        await connection.execute(
            text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
        )
        await connection.execute(text(statement), values)
        await connection.execute(
            text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only")
        )


class TestPartnersView:
    async def test_an_organisation_sees_only_events_about_its_resources(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        net = await factories.network(session, settings)
        auditors = {}
        for name, partner in (
            ("sender", net.sender),
            ("receiver", net.receiver),
            ("third", net.third),
        ):
            auditors[name] = await _auditor_of(session, settings, partner)
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        await client.get(f"/v1/referrals/{referral_id}", headers=net.receiver.headers)

        def about(page: Json) -> list[tuple[str, str]]:
            return [
                (e["action"], e["resource_type"])
                for e in page["data"]
                if referral_id in e["resource_ids"] or consent_id in e["resource_ids"]
            ]

        sender = (await client.get("/v1/audit", headers=auditors["sender"].headers)).json()
        receiver = (await client.get("/v1/audit", headers=auditors["receiver"].headers)).json()
        third = (await client.get("/v1/audit", headers=auditors["third"].headers)).json()
        assert sorted(about(sender)) == [
            ("create", "consent"),
            ("create", "referral"),
            ("read", "referral"),
        ]
        assert sorted(about(receiver)) == [("create", "referral"), ("read", "referral")]
        assert about(third) == []
        for event in third["data"]:
            assert str(net.sender.organization.id) not in json.dumps(event)

        filtered = (
            await client.get(
                "/v1/audit",
                params={"action": "read", "resource_type": "referral", "resource_id": referral_id},
                headers=auditors["sender"].headers,
            )
        ).json()
        assert [e["action"] for e in filtered["data"]] == ["read"]
        assert filtered["data"][0]["actor"]["organization_id"] == str(net.receiver.organization.id)

        page = (
            await client.get("/v1/audit", params={"limit": 1}, headers=auditors["sender"].headers)
        ).json()
        rest = (
            await client.get(
                "/v1/audit",
                params={"limit": 1, "cursor": page["meta"]["next_cursor"]},
                headers=auditors["sender"].headers,
            )
        ).json()
        assert page["data"][0]["id"] != rest["data"][0]["id"]

        fhir = await client.get(
            "/v1/audit", params={"format": "fhir"}, headers=auditors["sender"].headers
        )
        bundle = Bundle.model_validate(fhir.json())
        assert bundle.entry
        assert {entry.resource.get_resource_type() for entry in bundle.entry} == {"AuditEvent"}

    async def test_another_organisations_client_staff_and_address_are_not_shown(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        net = await factories.network(session, settings)
        sender = await _auditor_of(session, settings, net.sender)
        receiver = await _auditor_of(session, settings, net.receiver)
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        await client.get(
            f"/v1/referrals/{referral_id}",
            headers={**net.receiver.headers, "X-Acting-User": "nurse-4711"},
        )
        address = "127.0.0.1"  # every request of the test client comes from there

        async def events(auditor: Partner, format_: str = "json") -> Json:
            response = await client.get(
                "/v1/audit",
                params={"resource_id": referral_id, "format": format_},
                headers=auditor.headers,
            )
            assert response.status_code == 200, response.text
            body: Json = response.json()
            return body

        by_action = {e["action"]: e for e in (await events(sender))["data"]}
        own, others = by_action["create"], by_action["read"]
        assert own["actor"]["client_id"] == net.sender.client.client_id
        assert own["client_ip"] == address
        assert others["actor"]["organization_id"] == str(net.receiver.organization.id)
        assert others["actor"]["client_id"] is None
        assert others["actor"]["acting_user"] is None
        assert others["client_ip"] is None
        assert net.receiver.client.client_id not in json.dumps(others)
        assert "nurse-4711" not in json.dumps(others)
        assert address not in json.dumps(others)

        by_action = {e["action"]: e for e in (await events(receiver))["data"]}
        assert by_action["read"]["actor"]["client_id"] == net.receiver.client.client_id
        assert by_action["read"]["actor"]["acting_user"] == "nurse-4711"
        assert by_action["create"]["actor"]["client_id"] is None
        assert by_action["create"]["client_ip"] is None
        assert net.sender.client.client_id not in json.dumps(by_action["create"])

        bundle = await events(sender, "fhir")
        Bundle.model_validate(bundle)
        agents = {
            entry["resource"]["subtype"][0]["code"]: entry["resource"]["agent"][0]
            for entry in bundle["entry"]
        }
        assert agents["create"]["who"]["identifier"]["value"] == net.sender.client.client_id
        assert agents["create"]["network"]["address"] == address
        read = agents["read"]
        assert read["who"] == {"display": f"Organization/{net.receiver.organization.id}"}
        assert "network" not in read
        assert "altId" not in read
        assert net.receiver.client.client_id not in json.dumps(read)

    async def test_audit_read_is_required(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        response = await client.get("/v1/audit", headers=network.sender.headers)
        assert response.status_code == 403


async def _auditor_of(session: AsyncSession, settings: Settings, partner: Partner) -> Partner:
    client = await create_client(session, settings, partner.organization, scopes=[Scope.audit_read])
    return Partner(partner.organization, client, await issue_token(session, settings, client))


class TestCheckpoints:
    async def test_checkpoints_verify_with_the_published_key(
        self, client: httpx.AsyncClient, network: Network, session: AsyncSession, settings: Settings
    ) -> None:
        await record_consent(client, network)
        every = settings.model_copy(update={"audit_checkpoint_events": 1})
        assert await audit.seal(session, every) >= 1
        assert await audit.sign_checkpoint(session, every) == 1
        assert await audit.sign_checkpoint(session, every) == 0  # nothing new
        page = (await client.get("/v1/audit/checkpoints", params={"limit": 1000})).json()
        keys = (await client.get("/v1/audit/public-key")).json()["keys"]
        key = keys[0]
        public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(key["x"] + "=="))
        newest = page["data"][-1]
        message = audit.checkpoint_message(
            newest["seq"],
            bytes.fromhex(newest["hash"]),
            datetime.fromisoformat(newest["time"]),
            key["kid"],
        )
        public.verify(base64.urlsafe_b64decode(newest["signature"] + "=="), message)
        assert newest["key_id"] == key["kid"]

    async def test_verify_endpoint_is_for_the_operator(
        self, client: httpx.AsyncClient, network: Network, session: AsyncSession, settings: Settings
    ) -> None:
        operator = await create_partner(session, settings, scopes=[Scope.admin])
        report = await client.get("/v1/audit/verify", headers=operator.headers)
        assert report.status_code == 200
        assert report.json()["ok"] is True
        assert (
            await client.get("/v1/audit/verify", headers=network.sender.headers)
        ).status_code == 403
