"""Consents and referrals over HTTP: the closed loop, what each side sees, consent withdrawal,
idempotent creation under concurrency, encryption at rest and erasure, and every transition."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.config import Settings
from api.models.referral import Box, Referral, ReferralEventType, ReferralStatus
from api.repositories import referrals as repository
from api.repositories.base import act_as
from api.services.events import REFERRAL_EVENTS
from api.services.referrals import REASONS, STATUSES, TRANSITIONS
from api.services.referrals.history import AUDIT_ACTIONS
from tests.factories import referrals as factories
from tests.factories.referrals import (
    NAME,
    Json,
    Network,
    consent_body,
    move,
    record_consent,
    refer,
    referral_body,
    with_key,
)
from tests.isolation import assert_hidden_from_other_organisations


@pytest.fixture
async def network(session: AsyncSession, settings: Settings) -> Network:
    return await factories.network(session, settings)


class TestClosedLoop:
    async def test_a_full_loop_between_two_partners(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        net = network
        consent_id = await record_consent(client, net)
        created = await refer(client, net, consent_id)
        referral_id = created["id"]
        assert created["status"] == "requested"
        assert created["subject"]["name"] == NAME
        assert created["to_organization_id"] == str(net.receiver.organization.id)

        seen = (
            await client.get(f"/v1/referrals/{referral_id}", headers=net.receiver.headers)
        ).json()
        assert seen["role"] == "receiver"
        assert seen["subject"] == {"name": NAME, "age": 15, "gender": "female", "language": "fr"}
        assert seen["reason"]["gbv_type"] == "rape"
        assert seen["safety"]["do_not_contact_directly"] is True

        steps = [
            {"status": "received"},
            {"status": "accepted", "note": "We will see her today."},
            {"status": "in-progress"},
            {"status": "completed", "outcome": "service_provided"},
        ]
        for step in steps:
            response = await move(client, net.receiver.headers, referral_id, **step)
            assert response.status_code == 200, response.text
            assert response.json()["status"] == step["status"]

        events = (
            await client.get(f"/v1/referrals/{referral_id}/events", headers=net.sender.headers)
        ).json()["data"]
        assert [(e["sequence"], e["type"], e.get("status")) for e in events] == [
            (1, "created", "requested"),
            (2, "status_changed", "received"),
            (3, "status_changed", "accepted"),
            (4, "status_changed", "in-progress"),
            (5, "status_changed", "completed"),
        ]
        assert events[0]["organization_id"] == str(net.sender.organization.id)
        assert {e["organization_id"] for e in events[1:]} == {str(net.receiver.organization.id)}
        assert events[2]["note"] == "We will see her today."
        assert events[4]["outcome"] == "service_provided"

        # Closed: the receiver keeps the status and ids, not the person's data; the sender keeps it.
        closed = (
            await client.get(f"/v1/referrals/{referral_id}", headers=net.receiver.headers)
        ).json()
        assert closed["status"] == "completed"
        assert closed["personal_data_withheld"] == "closed"
        assert "subject" not in closed
        assert NAME not in str(closed)
        receiver_events = (
            await client.get(f"/v1/referrals/{referral_id}/events", headers=net.receiver.headers)
        ).json()["data"]
        assert receiver_events[2]["note_withheld"] is True
        sender_view = (
            await client.get(f"/v1/referrals/{referral_id}", headers=net.sender.headers)
        ).json()
        assert sender_view["subject"]["name"] == NAME

        received = (
            await client.get("/v1/referrals?box=received", headers=net.receiver.headers)
        ).json()
        assert [item["id"] for item in received["data"]] == [referral_id]
        assert NAME not in str(received)

    async def test_a_third_organisation_gets_404_on_everything(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        net = network
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        third = net.third.headers
        for url in (
            f"/v1/consents/{consent_id}",
            f"/v1/referrals/{referral_id}",
            f"/v1/referrals/{referral_id}/events",
            f"/v1/referrals/{referral_id}/export?format=fhir",
        ):
            await assert_hidden_from_other_organisations(
                client, url=url, owner_headers=net.sender.headers, other_headers=third
            )
        await assert_hidden_from_other_organisations(
            client,
            url=f"/v1/referrals/{referral_id}/notes",
            method="POST",
            json={"note": "hello"},
            owner_headers=net.sender.headers,
            other_headers=third,
        )
        for url, body in (
            (f"/v1/referrals/{referral_id}/status", {"status": "cancelled", "reason": "other"}),
            (f"/v1/consents/{consent_id}/withdraw", {"reason": "other"}),
        ):
            response = await client.post(url, json=body, headers=third)
            assert response.status_code == 404
        erase = await client.request(
            "DELETE",
            f"/v1/referrals/{referral_id}/personal-data",
            json={"reason": "entered_in_error"},
            headers=third,
        )
        assert erase.status_code == 404
        # The receiver cannot read the consent either: only who recorded it.
        assert (
            await client.get(f"/v1/consents/{consent_id}", headers=net.receiver.headers)
        ).status_code in (403, 404)
        listed = (await client.get("/v1/referrals?box=sent", headers=third)).json()
        assert listed["data"] == []


class TestConsent:
    async def test_withdrawal_hides_the_data_and_refuses_new_referrals(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        net = network
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        withdrawn = await client.post(
            f"/v1/consents/{consent_id}/withdraw",
            json={"reason": "withdrawn_by_guardian"},
            headers=net.sender.headers,
        )
        assert withdrawn.status_code == 200
        assert withdrawn.json()["state"] == "withdrawn"
        seen = (
            await client.get(f"/v1/referrals/{referral_id}", headers=net.receiver.headers)
        ).json()
        assert seen["personal_data_withheld"] == "consent_withdrawn"
        assert NAME not in str(seen)
        refused = await client.post(
            "/v1/referrals",
            json=referral_body(net, consent_id),
            headers=with_key(net.sender.headers),
        )
        assert refused.status_code == 422
        assert refused.json()["type"] == "urn:relay:problem:consent-does-not-allow"
        assert refused.json()["detail"] == "The consent is withdrawn."

    @pytest.mark.parametrize(
        ("changes", "detail"),
        [
            (
                {"allowed_organizations": [], "allowed_recipient_kinds": ["ngo"]},
                "does not allow sharing with this organisation",
            ),
            ({"purposes": ["statistics"]}, "does not allow referral to services"),
            ({"data_categories": ["demographics"]}, "does not cover the data categories"),
            ({"valid_from": "2099-01-01T00:00:00Z"}, "The consent is not yet valid."),
        ],
    )
    async def test_a_consent_that_does_not_cover_the_referral_refuses_it(
        self, client: httpx.AsyncClient, network: Network, changes: Json, detail: str
    ) -> None:
        consent_id = await record_consent(client, network, **changes)
        refused = await client.post(
            "/v1/referrals",
            json=referral_body(network, consent_id),
            headers=with_key(network.sender.headers),
        )
        assert refused.status_code == 422
        assert detail in refused.json()["detail"]

    async def test_police_only_when_named_and_for_reporting(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        net = network
        police = {
            "to_service_id": str(net.police_service.id),
            "needs": ["emergency-police"],
            "sharing_profile": "police_report",
            "subject": {},
            "reason": {"gbv_type": "rape", "incident_date": "2026-11-21"},
            "safety": {"safe_channel": "through_referrer"},
        }
        services_only = await record_consent(client, net, allowed_recipient_kinds=["police"])
        refused = await client.post(
            "/v1/referrals",
            json=referral_body(net, services_only, **police),
            headers=with_key(net.sender.headers),
        )
        assert refused.status_code == 422
        assert "reporting to the police" in refused.json()["detail"]
        reporting = await record_consent(
            client,
            net,
            allowed_recipient_kinds=["police"],
            purposes=["reporting_to_police"],
            data_categories=["incident", "safety"],
        )
        created = await refer(client, net, reporting, **police)
        seen = (
            await client.get(f"/v1/referrals/{created['id']}", headers=net.police.headers)
        ).json()
        assert seen["consent_to_report"] is True
        assert seen["reason"] == {"gbv_type": "rape", "incident_date": "2026-11-21"}
        assert "subject" not in seen
        with_name = await client.post(
            "/v1/referrals",
            json=referral_body(net, reporting, **{**police, "subject": {"name": NAME}}),
            headers=with_key(net.sender.headers),
        )
        assert with_name.status_code == 422
        assert with_name.json()["type"] == "urn:relay:problem:not-in-sharing-profile"
        assert NAME not in with_name.text

    @pytest.mark.parametrize(
        "changes",
        [
            {"given_by": "parent_guardian", "relationship": None},
            {"child_assent": None},
            {"allowed_organizations": []},
            {"purposes": []},
            {"subject_ref": "Amina Testperson"},
            {"valid_from": "2026-01-01T00:00:00"},
        ],
    )
    async def test_an_incoherent_consent_is_a_422(
        self, client: httpx.AsyncClient, network: Network, changes: Json
    ) -> None:
        response = await client.post(
            "/v1/consents", json=consent_body(network, **changes), headers=network.sender.headers
        )
        assert response.status_code == 422
        assert NAME not in response.text


class TestTargetChecks:
    async def test_capacity_eligibility_and_acceptance_are_checked(
        self, client: httpx.AsyncClient, session: AsyncSession, network: Network
    ) -> None:
        net = network
        consent_id = await record_consent(client, net)

        async def attempt(**changes: Any) -> httpx.Response:
            return await client.post(
                "/v1/referrals",
                json=referral_body(net, consent_id, **changes),
                headers=with_key(net.sender.headers),
            )

        walk_in = await factories.add_service(
            session, net.receiver, ("medical-care",), accepts_referrals=False
        )
        adults = await factories.add_service(
            session, net.receiver, ("post-rape-care",), minimum_age=18
        )
        full = await factories.add_service(session, net.receiver, ("post-rape-care",))
        await factories.set_capacity(session, full, 0)
        cases = [
            (
                {"to_service_id": str(walk_in.id), "needs": ["medical-care"]},
                409,
                "service-not-accepting-referrals",
            ),
            ({"to_service_id": str(adults.id)}, 409, "not-eligible"),
            ({"to_service_id": str(full.id)}, 409, "no-capacity"),
            ({"needs": ["legal-aid"]}, 409, "not-eligible"),
            ({"to_service_id": str(uuid.uuid4())}, 422, "unknown-service"),
            ({"consent_id": str(uuid.uuid4())}, 422, "consent-does-not-allow"),
        ]
        for changes, status, code in cases:
            response = await attempt(**changes)
            assert (response.status_code, response.json()["type"]) == (
                status,
                f"urn:relay:problem:{code}",
            ), changes
            assert NAME not in response.text


class TestIdempotency:
    async def test_a_retry_returns_the_same_referral_and_another_body_is_refused(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        net = network
        consent_id = await record_consent(client, net)
        headers = {**net.sender.headers, "Idempotency-Key": "retry-1"}
        body = referral_body(net, consent_id)
        first = await client.post("/v1/referrals", json=body, headers=headers)
        again = await client.post("/v1/referrals", json=body, headers=headers)
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.headers["idempotent-replayed"] == "true"
        assert first.json()["id"] == again.json()["id"]
        other = await client.post(
            "/v1/referrals", json={**body, "priority": "routine"}, headers=headers
        )
        assert other.status_code == 422
        assert other.json()["type"] == "urn:relay:problem:idempotency-key-reused"

    async def test_without_a_key_nothing_is_created_and_the_problem_says_why(
        self, client: httpx.AsyncClient, connection: Any, network: Network
    ) -> None:
        net = network
        consent_id = await record_consent(client, net)
        body = referral_body(net, consent_id)
        refused = [
            await client.post("/v1/referrals", json=body, headers=net.sender.headers)
            for _ in range(2)
        ]
        for response in refused:
            assert response.status_code == 400
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["type"] == "urn:relay:problem:idempotency-key-required"
            assert "Idempotency-Key" in problem["detail"]
            assert "twice" in problem["detail"]
            assert NAME not in response.text
        count = await connection.scalar(
            text("SELECT count(*) FROM referral WHERE consent_id = :id"), {"id": consent_id}
        )
        assert count == 0

    @pytest.mark.parametrize("key", ["", "with space", "x" * 256, "clé".encode()])
    async def test_a_malformed_key_is_a_422_naming_the_header(
        self, client: httpx.AsyncClient, network: Network, key: str | bytes
    ) -> None:
        consent_id = await record_consent(client, network)
        response = await client.post(
            "/v1/referrals",
            json=referral_body(network, consent_id),
            headers={**network.sender.headers, "Idempotency-Key": key},
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]

    async def test_the_key_is_required_in_the_openapi_document(self, app: FastAPI) -> None:
        operation = app.openapi()["paths"]["/v1/referrals"]["post"]
        [parameter] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert (parameter["in"], parameter["required"]) == ("header", True)

    async def test_five_concurrent_posts_create_one_referral(
        self, app: FastAPI, owner_engine: AsyncEngine, settings: Settings
    ) -> None:
        """Real concurrency needs real connections: this test commits its rows (through the
        API's own pool) and deletes them afterwards as the owner."""
        sessions = async_sessionmaker(owner_engine, expire_on_commit=False)
        async with sessions() as session:
            net = await factories.network(session, settings)
            await session.commit()
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
                consent_id = await record_consent(client, net)
                headers = {**net.sender.headers, "Idempotency-Key": f"race-{uuid.uuid4()}"}
                body = referral_body(net, consent_id)
                responses = await asyncio.gather(
                    *(client.post("/v1/referrals", json=body, headers=headers) for _ in range(5))
                )
            assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201]
            assert len({r.json()["id"] for r in responses}) == 1
            async with owner_engine.connect() as connection:
                count = await connection.scalar(
                    text("SELECT count(*) FROM referral WHERE consent_id = :id"), {"id": consent_id}
                )
            assert count == 1
        finally:
            await factories.delete_network(owner_engine, net)


class TestPersonalDataAtRest:
    async def test_no_clear_text_in_the_database_and_erasure_shreds(
        self,
        client: httpx.AsyncClient,
        connection: Any,
        network: Network,
    ) -> None:
        net = network
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        await client.post(
            f"/v1/referrals/{referral_id}/notes",
            json={"note": f"{NAME} called"},
            headers=net.sender.headers,
        )
        dump = await connection.scalar(
            text(
                "SELECT string_agg(t::text, ' ') FROM ("
                " SELECT to_jsonb(r)::text AS t FROM referral r WHERE id = :id"
                " UNION ALL SELECT to_jsonb(e)::text FROM referral_event e WHERE referral_id = :id"
                " UNION ALL SELECT encode(personal_data, 'escape') FROM referral WHERE id = :id"
                ") rows"
            ),
            {"id": referral_id},
        )
        assert dump
        for secret in (NAME, "Testperson", "gbv_type", "2026-11-21", "through_referrer", "called"):
            assert secret not in dump
        sealed = await connection.scalar(
            text("SELECT personal_data FROM referral WHERE id = :id"), {"id": referral_id}
        )
        assert sealed

        # Only the sender erases, with a reason.
        receiver_erase = await client.request(
            "DELETE",
            f"/v1/referrals/{referral_id}/personal-data",
            json={"reason": "requested_by_person"},
            headers=net.receiver.headers,
        )
        assert receiver_erase.status_code == 403
        erased = await client.request(
            "DELETE",
            f"/v1/referrals/{referral_id}/personal-data",
            json={"reason": "requested_by_person"},
            headers=net.sender.headers,
        )
        assert erased.status_code == 200, erased.text
        assert erased.json()["personal_data_withheld"] == "erased"
        for headers in (net.sender.headers, net.receiver.headers):
            view = (await client.get(f"/v1/referrals/{referral_id}", headers=headers)).json()
            assert view["personal_data_withheld"] == "erased"
            events = (
                await client.get(f"/v1/referrals/{referral_id}/events", headers=headers)
            ).json()
            assert NAME not in str(events)
        assert (
            await connection.scalar(
                text("SELECT count(*) FROM referral_key WHERE referral_id = :id"),
                {"id": referral_id},
            )
            == 0
        )
        assert (
            await connection.scalar(
                text("SELECT personal_data FROM referral WHERE id = :id"), {"id": referral_id}
            )
            is None
        )


def _change(target: ReferralStatus) -> Json:
    change: Json = {"status": target.value}
    if target in REASONS:
        change["reason"] = next(iter(REASONS[target])).value
    if target is ReferralStatus.completed:
        change["outcome"] = "service_provided"
    return change


class TestOneSourceOfTruth:
    def test_every_status_has_its_row_in_the_table(self) -> None:
        assert set(STATUSES) == set(ReferralStatus)

    def test_every_referral_event_type_becomes_a_partner_event_and_an_audit_action(self) -> None:
        assert set(REFERRAL_EVENTS) == set(ReferralEventType)
        assert set(AUDIT_ACTIONS) == set(ReferralEventType)


class TestTransitionTable:
    async def test_every_status_every_target_every_party(
        self, client: httpx.AsyncClient, session: AsyncSession, network: Network
    ) -> None:
        """Every status x every target x (sender, receiver, third party): allowed moves succeed and
        append an event, moves of the other side are 403, moves from the wrong status 409, and a
        third organisation always gets 404."""
        net = network
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        parties = {Box.sent: net.sender, Box.received: net.receiver}
        checked = 0
        for current in ReferralStatus:
            for target in ReferralStatus:
                for who in (Box.sent, Box.received, None):
                    await act_as(session, net.sender.organization.id)
                    await session.execute(
                        update(Referral)
                        .where(Referral.id == uuid.UUID(referral_id))  # type: ignore[arg-type]
                        .values(status=current.value)
                    )
                    headers = parties[who].headers if who else net.third.headers
                    response = await move(client, headers, referral_id, **_change(target))
                    allowed = TRANSITIONS.get((who, target)) if who else None
                    if who is None:
                        expected = 404
                    elif allowed is None:
                        expected = 403
                    elif current in allowed:
                        expected = 200
                    else:
                        expected = 409
                    assert response.status_code == expected, (current, target, who, response.text)
                    checked += 1
        assert checked == len(ReferralStatus) ** 2 * 3

    @pytest.mark.parametrize(
        "change",
        [
            {"status": "rejected"},
            {"status": "rejected", "reason": "because"},
            {"status": "accepted", "reason": "no_capacity"},
            {"status": "completed"},
            {"status": "accepted", "outcome": "service_provided"},
            {"status": "finished"},
        ],
    )
    async def test_codes_are_required_where_the_status_needs_them(
        self, client: httpx.AsyncClient, network: Network, change: Json
    ) -> None:
        consent_id = await record_consent(client, network)
        referral_id = (await refer(client, network, consent_id))["id"]
        response = await move(client, network.receiver.headers, referral_id, **change)
        assert response.status_code in (409, 422)
        if change["status"] != "completed":
            assert response.status_code == 422


class TestRowLevelSecurity:
    async def test_the_database_itself_hides_other_organisations_rows(
        self, client: httpx.AsyncClient, connection: Any, network: Network
    ) -> None:
        """Behind the repositories: as the application role, with no organisation condition in
        the query, only the parties' rows are visible (migration 0008's policies)."""
        net = network
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        counts = {}
        for name, organization in (
            ("sender", net.sender.organization.id),
            ("receiver", net.receiver.organization.id),
            ("third", net.third.organization.id),
            ("nobody", ""),
        ):
            await connection.execute(
                text("SELECT set_config('relay.organization_id', :org, true)"),
                {"org": str(organization)},
            )
            counts[name] = tuple(
                [
                    await connection.scalar(
                        text(f"SELECT count(*) FROM {table} WHERE {column} = :id"),
                        {"id": identifier},
                    )
                    for table, column, identifier in (
                        ("referral", "id", referral_id),
                        ("referral_event", "referral_id", referral_id),
                        ("referral_key", "referral_id", referral_id),
                        ("consent", "id", consent_id),
                    )
                ]
            )
        assert counts == {
            "sender": (1, 1, 1, 1),
            "receiver": (1, 1, 1, 1),
            "third": (0, 0, 0, 0),
            "nobody": (0, 0, 0, 0),
        }

    async def test_the_history_is_append_only_for_the_application(
        self, client: httpx.AsyncClient, connection: Any, network: Network
    ) -> None:
        consent_id = await record_consent(client, network)
        referral_id = (await refer(client, network, consent_id))["id"]
        for statement in (
            "UPDATE referral_event SET type = 'x' WHERE referral_id = :id",
            "DELETE FROM referral_event WHERE referral_id = :id",
        ):
            with pytest.raises(DBAPIError, match="permission denied"):
                async with connection.begin_nested():
                    await connection.execute(text(statement), {"id": referral_id})


class TestScopes:
    async def test_each_side_needs_its_own_scope(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, network: Network
    ) -> None:
        """A token of the receiving organisation without referrals:receive cannot read or move a
        referral; the sender's token without referrals:send cannot cancel it."""
        from api.auth.scopes import Scope
        from tests.factories.auth import issue_token

        net = network
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        directory_only = await issue_token(
            session, settings, net.receiver.client, scopes=[Scope.directory_read.value]
        )
        headers = {"Authorization": f"Bearer {directory_only}"}
        for method, url, body in (
            ("GET", f"/v1/referrals/{referral_id}", None),
            ("GET", f"/v1/referrals/{referral_id}/events", None),
            ("GET", f"/v1/referrals/{referral_id}/export", None),
            ("POST", f"/v1/referrals/{referral_id}/status", {"status": "received"}),
            ("POST", f"/v1/referrals/{referral_id}/notes", {"note": "x"}),
            ("GET", "/v1/referrals?box=received", None),
        ):
            response = await client.request(method, url, json=body, headers=headers)
            assert response.status_code == 403, (url, response.text)
        receive_only = await issue_token(
            session, settings, net.sender.client, scopes=[Scope.referrals_receive.value]
        )
        cancel = await move(
            client,
            {"Authorization": f"Bearer {receive_only}"},
            referral_id,
            status="cancelled",
            reason="other",
        )
        assert cancel.status_code == 403


class TestMasterKeyRotation:
    async def test_rotation_rewraps_every_data_key_and_the_old_master_can_go(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, network: Network
    ) -> None:
        import json

        from api import crypto
        from api.crypto import CryptoError, MasterKeys
        from api.services import keys
        from tests.conftest import make_settings

        consent_id = await record_consent(client, network)
        referral_id = uuid.UUID((await refer(client, network, consent_id))["id"])
        old = settings.master_keys.get_secret_value()
        new = crypto.generate_master_key(2)
        rotated = make_settings(master_keys=f"{old},{new}")
        summary = await keys.rotate_master(session, rotated)
        assert summary["version"] == 2
        assert summary["rewrapped"] >= 1
        again = await keys.rotate_master(session, rotated)
        assert again["rewrapped"] == 0

        key = await repository.key_of(session, referral_id)
        assert key is not None
        assert key.master_version == 2
        only_new = MasterKeys.parse(new)
        data_key = only_new.unwrap(key.wrapped_key, 2, referral_id)
        sealed = await session.scalar(
            text("SELECT personal_data FROM referral WHERE id = :id"), {"id": referral_id}
        )
        plain = crypto.open_sealed(
            data_key, sealed, table="referral", column="personal_data", row=referral_id
        )
        assert json.loads(plain)["identity"]["name"] == NAME
        with pytest.raises(CryptoError):
            MasterKeys.parse(old).unwrap(key.wrapped_key, 2, referral_id)
        with pytest.raises(CryptoError):  # a wrapped key moved to another referral does not open
            only_new.unwrap(key.wrapped_key, 2, uuid.uuid4())


class TestExport:
    async def test_the_fhir_bundle_validates_and_carries_the_loop(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        from fhir.resources.R4B.bundle import Bundle

        net = network
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        await move(client, net.receiver.headers, referral_id, status="received")
        await move(
            client, net.receiver.headers, referral_id, status="rejected", reason="no_capacity"
        )
        for headers in (net.sender.headers, net.receiver.headers):
            response = await client.get(
                f"/v1/referrals/{referral_id}/export?format=fhir", headers=headers
            )
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "application/fhir+json"
            assert response.headers["cache-control"] == "no-store"
            bundle = Bundle.model_validate(response.json())  # every resource is validated too
            kinds = [entry.resource.get_resource_type() for entry in bundle.entry]
            assert kinds == [
                "Task",
                "ServiceRequest",
                "Consent",
                "Patient",
                "Organization",
                "Organization",
            ]
            task = bundle.entry[0].resource
            assert task.status == "rejected"
            assert task.statusReason.coding[0].code == "no_capacity"
            assert task.priority == "urgent"
            request = bundle.entry[1].resource
            assert request.status == "revoked"
            assert [c.code for c in request.code.coding] == ["post-rape-care"]
            assert bundle.entry[2].resource.provision.purpose[0].code == "services"
        # Closed: the receiver's bundle holds no personal data; the sender's does (its profile).
        receiver = (
            await client.get(f"/v1/referrals/{referral_id}/export", headers=net.receiver.headers)
        ).json()
        sender = (
            await client.get(f"/v1/referrals/{referral_id}/export", headers=net.sender.headers)
        ).json()
        assert NAME not in str(receiver)
        assert NAME in str(sender)
        assert "CASE-2026-0042" not in str(sender)  # the case reference never travels

    async def test_the_minimal_profile_exports_no_identity(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        from fhir.resources.R4B.bundle import Bundle

        net = network
        consent_id = await record_consent(client, net)
        referral_id = (
            await refer(
                client,
                net,
                consent_id,
                sharing_profile="minimal",
                reason={},
                subject={"age": 15, "gender": "female"},
            )
        )["id"]
        response = await client.get(
            f"/v1/referrals/{referral_id}/export", headers=net.receiver.headers
        )
        bundle = Bundle.model_validate(response.json())
        patient = bundle.entry[3].resource
        assert patient.gender == "female"
        assert patient.name is None
        assert patient.birthDate is None

    async def test_the_printable_form_renders_what_the_profile_shares(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        net = network
        consent_id = await record_consent(client, net)
        referral_id = (await refer(client, net, consent_id))["id"]
        response = await client.get(
            f"/v1/referrals/{referral_id}/export?format=html", headers=net.sender.headers
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["cache-control"] == "no-store"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        page = response.text
        assert "Referral form" in page
        assert NAME in page
        assert "Safety: read before any contact" in page
        assert "Care after rape (within 72 hours)" in page
        assert "<script" not in page
        third = await client.get(
            f"/v1/referrals/{referral_id}/export?format=html", headers=net.third.headers
        )
        assert third.status_code == 404
        bad = await client.get(
            f"/v1/referrals/{referral_id}/export?format=pdf", headers=net.sender.headers
        )
        assert bad.status_code == 422


class TestWorkerJobs:
    async def test_overdue_referrals_get_one_event_with_alternatives_near_the_target(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        """A referral to the demo's Kounda health centre not received in time: the worker adds
        an ``overdue`` event (once) naming other services for the same need, nearest first."""
        from datetime import UTC, datetime, timedelta

        from api.auth.scopes import Scope
        from api.models.organization import OrganizationKind
        from api.services import referrals as service
        from tests.factories.auth import create_partner
        from tests.factories.directory import load_demo
        from tests.web.pages import KOUNDA_POST_RAPE_CARE, demo_id

        await load_demo(session)
        sender = await create_partner(
            session, settings, scopes=[Scope.referrals_send], kind=OrganizationKind.committee
        )
        consent = await client.post(
            "/v1/consents",
            json={
                "subject_ref": "CASE-1",
                "given_by": "self",
                "age_at_consent": 30,
                "method": "written",
                "recorded_by": "staff-1",
                "purposes": ["services"],
                "allowed_recipient_kinds": ["health"],
                "data_categories": ["demographics", "safety"],
            },
            headers=sender.headers,
        )
        assert consent.status_code == 201, consent.text
        created = await client.post(
            "/v1/referrals",
            json={
                "to_service_id": KOUNDA_POST_RAPE_CARE,
                "consent_id": consent.json()["id"],
                "priority": "stat",
                "needs": ["post-rape-care"],
                "sharing_profile": "minimal",
                "subject": {"age": 30, "gender": "female"},
            },
            headers=with_key(sender.headers),
        )
        assert created.status_code == 201, created.text
        referral_id = created.json()["id"]
        assert await service.flag_overdue(session, settings) == 0  # due in an hour: not yet

        await act_as(session, sender.organization.id)
        await session.execute(
            update(Referral)
            .where(Referral.id == uuid.UUID(referral_id))  # type: ignore[arg-type]
            .values(due_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        assert await service.flag_overdue(session, settings) >= 1
        assert await service.flag_overdue(session, settings) == 0  # once

        events = (
            await client.get(f"/v1/referrals/{referral_id}/events", headers=sender.headers)
        ).json()["data"]
        overdue = events[-1]
        assert overdue["type"] == "overdue"
        assert "organization_id" not in overdue
        # The other districts' post-rape care (Mbayene is 30 km from Kounda, Sabali 31 km).
        assert overdue["alternatives"][:2] == [
            demo_id("service", "health-mbayene-prc"),
            demo_id("service", "health-sabali-prc"),
        ]
        assert KOUNDA_POST_RAPE_CARE not in overdue["alternatives"]

    async def test_closed_referrals_past_retention_lose_the_persons_data(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, network: Network
    ) -> None:
        from datetime import UTC, datetime, timedelta

        from api.services import referrals as service

        net = network
        consent_id = await record_consent(client, net)
        kept = (await refer(client, net, consent_id))["id"]
        old = (await refer(client, net, consent_id))["id"]
        for referral_id in (kept, old):
            await move(client, net.sender.headers, referral_id, status="cancelled", reason="other")
        await act_as(session, net.sender.organization.id)
        await session.execute(
            update(Referral)
            .where(Referral.id == uuid.UUID(old))  # type: ignore[arg-type]
            .values(
                closed_at=datetime.now(UTC) - timedelta(days=settings.referral_retention_days + 1)
            )
        )
        assert await service.purge_closed(session, settings) >= 1
        views = {
            referral_id: (
                await client.get(f"/v1/referrals/{referral_id}", headers=net.sender.headers)
            ).json()
            for referral_id in (kept, old)
        }
        assert views[old]["personal_data_withheld"] == "erased"
        assert views[kept]["subject"]["name"] == NAME
        events = (
            await client.get(f"/v1/referrals/{old}/events", headers=net.sender.headers)
        ).json()["data"]
        assert (events[-1]["type"], events[-1]["reason"]) == (
            "personal_data_erased",
            "retention_expired",
        )


class TestListing:
    async def test_boxes_filters_and_pages(
        self, client: httpx.AsyncClient, network: Network
    ) -> None:
        net = network
        consent_id = await record_consent(client, net)
        made = [
            (await refer(client, net, consent_id, priority=p))["id"]
            for p in ("urgent", "routine", "stat")
        ]
        await move(client, net.receiver.headers, made[0], status="received")

        async def listing(headers: dict[str, str], query: str) -> Json:
            response = await client.get(f"/v1/referrals?{query}", headers=headers)
            assert response.status_code == 200, response.text
            body: Json = response.json()
            return body

        first = await listing(net.sender.headers, "box=sent&limit=2")
        assert len(first["data"]) == 2
        second = await listing(
            net.sender.headers, f"box=sent&limit=2&cursor={first['meta']['next_cursor']}"
        )
        assert "next_cursor" not in second["meta"]
        ids = [item["id"] for item in first["data"] + second["data"]]
        assert sorted(ids) == sorted(made)
        assert ids[0] == made[0]  # most recently updated first
        received = await listing(net.receiver.headers, "box=received&status=received")
        assert [item["id"] for item in received["data"]] == [made[0]]
        stat = await listing(net.receiver.headers, "box=received&priority=stat&priority=asap")
        assert [item["id"] for item in stat["data"]] == [made[2]]
        future = await listing(net.sender.headers, "box=sent&updated_since=2099-01-01T00:00:00Z")
        assert future["data"] == []
        # The receiver's token cannot send: its "sent" box needs referrals:send.
        sent = await client.get("/v1/referrals?box=sent", headers=net.receiver.headers)
        assert sent.status_code == 403
        for query in (
            "box=sent&cursor=nonsense",
            "box=inbox",
            "box=sent&limit=101",
            "box=sent&status=done",
        ):
            response = await client.get(f"/v1/referrals?{query}", headers=net.sender.headers)
            assert response.status_code == 422, query
