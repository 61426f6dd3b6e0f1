"""Referrals through an app acting for a person (issue 20, acceptance 4): a volunteer refers and
follows what they sent, and never reads the person's data back, not even of their own referral;
a caseworker of the same organisation does. Tokens from the real flow (the code exchanged over
HTTP), calls through the HTTP API."""

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.models.people import UserRole
from tests.factories.apps import bearer, exchange
from tests.factories.auth import register_app
from tests.factories.people import create_person
from tests.factories.referrals import (
    NAME,
    Json,
    Network,
    consent_body,
    move,
    network,
    referral_body,
    with_key,
)


class Committee:
    def __init__(self, volunteer: dict[str, str], caseworker: dict[str, str]) -> None:
        self.volunteer = volunteer
        self.caseworker = caseworker


@pytest.fixture
async def net(session: AsyncSession, settings: Settings) -> Network:
    return await network(session, settings)


@pytest.fixture
async def committee(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, net: Network
) -> Committee:
    """The sending committee's field app, and the headers of a volunteer and of a caseworker
    of the committee signed in to it."""
    organization = net.sender.organization
    app = await register_app(session, settings, organization)
    tokens = {}
    for role in (UserRole.volunteer, UserRole.caseworker):
        person = await create_person(session, settings, organization, role)
        signed_in = await person.signed_in(session)
        tokens[role] = bearer(await exchange(client, session, settings, app, signed_in))
    return Committee(tokens[UserRole.volunteer], tokens[UserRole.caseworker])


async def refer_as(client: httpx.AsyncClient, net: Network, headers: dict[str, str]) -> Json:
    consent = await client.post("/v1/consents", json=consent_body(net), headers=headers)
    assert consent.status_code == 201, consent.text
    created = await client.post(
        "/v1/referrals",
        json=referral_body(net, consent.json()["id"]),
        headers=with_key(headers),
    )
    assert created.status_code == 201, created.text
    body: Json = created.json()
    return body


class TestAVolunteer:
    async def test_refers_and_sees_the_status_never_the_persons_data(
        self, client: httpx.AsyncClient, net: Network, committee: Committee
    ) -> None:
        created = await refer_as(client, net, committee.volunteer)
        # Not even in the answer to their own creation.
        assert created["personal_data_withheld"] == "not_for_your_role"
        assert NAME not in str(created)
        assert {"subject", "reason", "safety"}.isdisjoint(created)

        referral_id = created["id"]
        await move(client, net.receiver.headers, referral_id, status="received")
        read = await client.get(f"/v1/referrals/{referral_id}", headers=committee.volunteer)
        assert read.status_code == 200
        assert read.json()["status"] == "received"
        assert read.json()["personal_data_withheld"] == "not_for_your_role"
        assert NAME not in read.text

        for kind in ("fhir", "html"):
            export = await client.get(
                f"/v1/referrals/{referral_id}/export?format={kind}", headers=committee.volunteer
            )
            assert export.status_code == 200, export.text
            assert NAME not in export.text
            assert "Amina" not in export.text

    async def test_writes_notes_it_cannot_read_back(
        self, client: httpx.AsyncClient, net: Network, committee: Committee
    ) -> None:
        referral_id = (await refer_as(client, net, committee.volunteer))["id"]
        note = "She is at her aunt's house near the market"
        added = await client.post(
            f"/v1/referrals/{referral_id}/notes", json={"note": note}, headers=committee.volunteer
        )
        assert added.status_code == 201, added.text
        assert added.json()["note_withheld"] is True
        assert note not in added.text
        events = await client.get(
            f"/v1/referrals/{referral_id}/events", headers=committee.volunteer
        )
        assert note not in events.text
        assert [event.get("note_withheld") for event in events.json()["data"]][-1] is True
        # The caseworker of the same committee, and the receiver, read it.
        for reader in (committee.caseworker, net.receiver.headers):
            shown = await client.get(f"/v1/referrals/{referral_id}/events", headers=reader)
            assert note in shown.text

    async def test_may_cancel_what_it_sent_and_still_sees_no_data(
        self, client: httpx.AsyncClient, net: Network, committee: Committee
    ) -> None:
        referral_id = (await refer_as(client, net, committee.volunteer))["id"]
        cancelled = await move(
            client, committee.volunteer, referral_id, status="cancelled", reason="other"
        )
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["personal_data_withheld"] == "not_for_your_role"
        assert NAME not in cancelled.text

    async def test_has_no_received_box(
        self, client: httpx.AsyncClient, committee: Committee
    ) -> None:
        response = await client.get("/v1/referrals?box=received", headers=committee.volunteer)
        assert response.status_code == 403


class TestACaseworkerOfTheSameOrganisation:
    async def test_reads_the_referral_a_volunteer_sent(
        self, client: httpx.AsyncClient, net: Network, committee: Committee
    ) -> None:
        referral_id = (await refer_as(client, net, committee.volunteer))["id"]
        read = await client.get(f"/v1/referrals/{referral_id}", headers=committee.caseworker)
        assert read.status_code == 200
        assert "personal_data_withheld" not in read.json()
        assert read.json()["subject"]["name"] == NAME

    async def test_and_its_own_creation_shows_the_data(
        self, client: httpx.AsyncClient, net: Network, committee: Committee
    ) -> None:
        created = await refer_as(client, net, committee.caseworker)
        assert created["subject"]["name"] == NAME
