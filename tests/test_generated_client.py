"""The contract partners generate clients from: openapi-python-client reads the committed
openapi/openapi.json, and the client it writes drives the real server over a socket through the
closed loop (consent, referral, receipt, acceptance, completion) and the event feed, handing back
its own typed objects, never plain dicts.

The generator runs once per session from its own environment (.venv/openapi-client, which
``make venv`` installs from requirements-openapi-client.lock); the client it writes runs here,
on httpx and attrs, as it would in a partner's application.
"""

import datetime
import importlib
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from tests.factories import referrals as factories
from tests.factories.events import number_events
from tests.factories.referrals import NAME, Network

ROOT = Path(__file__).resolve().parent.parent
OPENAPI_FILE = ROOT / "openapi" / "openapi.json"
GENERATOR = ROOT / ".venv" / "openapi-client" / "bin" / "openapi-python-client"
PACKAGE = "relay_partner_client"


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package generated from the committed document, importable for the session."""
    assert GENERATOR.exists(), f"{GENERATOR} is missing: run `make venv`"
    directory = tmp_path_factory.mktemp("generated-client")
    config = directory / "config.json"
    # No formatting afterwards: the code is imported, not read.
    config.write_text(json.dumps({"post_hooks": [], "package_name_override": PACKAGE}))
    result = subprocess.run(  # noqa: S603 (the generator of the lock, fixed arguments)
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(OPENAPI_FILE),
            "--output-path",
            str(directory / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    said = result.stdout + result.stderr
    assert result.returncode == 0, said
    # A warning means a schema or an operation the generator skipped: a hole in the contract.
    assert "warning" not in said.lower(), said
    sys.path.insert(0, str(directory))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(directory))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def operation(tag: str, name: str) -> Any:
    """The generated module of one operation, e.g. ``operation("referrals", "get_referral")``."""
    return importlib.import_module(f"{PACKAGE}.api.{tag}.{tag}_{name}")


def assert_all_documented(value: Any) -> None:
    """Every object, however deep, is a generated class, and carries no field the document does
    not name (the generated classes keep such fields aside, in ``additional_properties``)."""
    if isinstance(value, list):
        for item in value:
            assert_all_documented(item)
        return
    assert not isinstance(value, dict), value
    fields = getattr(type(value), "__attrs_attrs__", None)
    if fields is None:
        return  # a str, number, enum, UUID, date-time, or UNSET
    assert type(value).__module__.startswith(f"{PACKAGE}.models."), type(value)
    assert value.additional_properties == {}, (type(value).__name__, value.additional_properties)
    for field in fields:
        if field.name != "additional_properties":
            assert_all_documented(getattr(value, field.name))


@dataclass
class Parties:
    net: Network
    sender: Any  # the generated AuthenticatedClient of each organisation
    receiver: Any


@pytest.fixture
async def parties(
    generated: ModuleType, served: str, session: AsyncSession, settings: Settings
) -> AsyncIterator[Parties]:
    """The sending and the receiving organisation, each with the generated client on its token,
    against the test app served on a loopback port."""
    net = await factories.network(session, settings)

    def client_of(token: str) -> Any:
        return generated.AuthenticatedClient(
            base_url=served, token=token, raise_on_unexpected_status=True
        )

    async with client_of(net.sender.token) as sender, client_of(net.receiver.token) as receiver:
        yield Parties(net, sender, receiver)


class TestAPartnersGeneratedClient:
    async def test_closed_loop_and_event_feed(
        self,
        generated: ModuleType,
        parties: Parties,
        session: AsyncSession,
        settings: Settings,
    ) -> None:
        models = importlib.import_module(f"{PACKAGE}.models")
        net, sender, receiver = parties.net, parties.sender, parties.receiver

        consent = await operation("consents", "create_consent").asyncio(
            client=sender,
            body=models.ConsentCreate(
                subject_ref="CASE-2026-0042",
                given_by=models.ConsentGiver.PARENT_GUARDIAN,
                relationship="mother",
                child_assent=True,
                age_at_consent=15,
                method=models.ConsentMethod.VERBAL,
                recorded_by="staff-17",
                purposes=[models.ConsentPurpose.SERVICES],
                allowed_organizations=[net.receiver.organization.id],
                data_categories=list(models.DataCategory),
            ),
        )
        assert isinstance(consent, models.ConsentPublic), consent
        assert consent.state is models.ConsentState.ACTIVE
        assert isinstance(consent.valid_from, datetime.datetime)
        assert_all_documented(consent)

        creation = models.ReferralCreate(
            to_service_id=net.service.id,
            consent_id=consent.id,
            priority=models.Priority.URGENT,
            needs=["post-rape-care"],
            sharing_profile=models.SharingProfile.STANDARD,
            reason=models.Reason(
                gbv_type=models.GbvType.RAPE, incident_date=datetime.date(2026, 11, 21)
            ),
            subject=models.Subject(name=NAME, age=15, gender=models.Gender.FEMALE),
            safety=models.Safety(
                do_not_contact_directly=True,
                safe_channel=models.ContactChannel.THROUGH_REFERRER,
            ),
        )
        key = str(uuid.uuid4())
        create = operation("referrals", "create_referral")
        sent = await create.asyncio(client=sender, body=creation, idempotency_key=key)
        assert isinstance(sent, models.ReferralPublic), sent
        assert sent.status is models.ReferralStatus.REQUESTED
        assert sent.role is models.ReferralRole.SENDER
        assert sent.subject.name == NAME
        assert sent.safety.do_not_contact_directly is True
        assert_all_documented(sent)
        # A retry after a lost answer: the same referral, as the documented 200.
        again = await create.asyncio_detailed(client=sender, body=creation, idempotency_key=key)
        assert again.status_code == 200
        assert isinstance(again.parsed, models.ReferralPublic)
        assert again.parsed.id == sent.id

        inbox = await operation("referrals", "list_referrals").asyncio(
            client=receiver, box=models.Box.RECEIVED
        )
        assert isinstance(inbox, models.ReferralPage), inbox
        [listed] = [item for item in inbox.data if item.id == sent.id]
        assert isinstance(listed, models.ReferralSummary)
        assert_all_documented(inbox)

        received = await operation("referrals", "get_referral").asyncio(
            referral_id=sent.id, client=receiver
        )
        assert isinstance(received, models.ReferralPublic), received
        assert received.role is models.ReferralRole.RECEIVER
        assert received.reason.gbv_type is models.GbvType.RAPE
        assert received.safety.safe_channel is models.ContactChannel.THROUGH_REFERRER
        assert_all_documented(received)

        change_status = operation("referrals", "change_status")
        for status in (models.ReferralStatus.RECEIVED, models.ReferralStatus.ACCEPTED):
            moved = await change_status.asyncio(
                referral_id=sent.id, client=receiver, body=models.StatusChange(status=status)
            )
            assert isinstance(moved, models.ReferralPublic), moved
            assert moved.status is status
        completed = await change_status.asyncio(
            referral_id=sent.id,
            client=receiver,
            body=models.StatusChange(
                status=models.ReferralStatus.COMPLETED,
                outcome=models.Outcome.SERVICE_PROVIDED,
                note="Seen by the nurse; follow-up on Monday.",
            ),
        )
        assert isinstance(completed, models.ReferralPublic), completed
        assert completed.status is models.ReferralStatus.COMPLETED
        # Closed: the receiver no longer sees the person's data.
        assert completed.personal_data_withheld is models.WithheldBecause.CLOSED
        assert isinstance(completed.subject, generated.types.Unset)
        assert_all_documented(completed)

        history = await operation("referrals", "list_events").asyncio(
            referral_id=sent.id, client=sender
        )
        assert isinstance(history, models.ReferralEventPage), history
        assert [event.type_ for event in history.data] == [
            models.ReferralEventType.CREATED,
            *[models.ReferralEventType.STATUS_CHANGED] * 3,
        ]
        assert history.data[-1].outcome is models.Outcome.SERVICE_PROVIDED
        assert history.data[-1].note == "Seen by the nurse; follow-up on Monday."
        assert_all_documented(history)

        await number_events(session, settings)  # as the worker does within a tick
        feed = await operation("events", "list_events").asyncio(
            client=receiver, types="referral.created,referral.status_changed"
        )
        assert isinstance(feed, models.EventPage), feed
        mine = [event for event in feed.data if event.data.referral_id == sent.id]
        assert [event.type_ for event in mine] == [
            models.EventType.REFERRAL_CREATED,
            *[models.EventType.REFERRAL_STATUS_CHANGED] * 3,
        ]
        assert all(isinstance(event.data, models.ReferralEventData) for event in mine)
        assert [event.data.status for event in mine] == [
            models.ReferralStatus.REQUESTED,
            models.ReferralStatus.RECEIVED,
            models.ReferralStatus.ACCEPTED,
            models.ReferralStatus.COMPLETED,
        ]
        assert all(isinstance(event.timestamp, datetime.datetime) for event in mine)
        assert isinstance(feed.meta, models.EventFeedMeta)
        assert feed.meta.next_cursor
        assert_all_documented(feed)
