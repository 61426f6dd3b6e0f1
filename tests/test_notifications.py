"""Notifications of new urgent referrals (issue 21): a person's contact set by their admin, the
worker queueing from the event outbox and sending through a real SMTP server (aiosmtpd on a
loopback port, started by the test) and a real HTTP server standing for an SMS gateway; once per
person and referral however often the outbox is read; a failing server retried with back-off,
the notification kept; nothing of the person, nor the address, in the message, the log or the
audit trail."""

import asyncio
import json
import smtplib
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from structlog.testing import capture_logs

from api.config import NotifierKind, Settings
from api.languages import LANGUAGES
from api.models.people import UserRole
from api.repositories.base import act_as
from api.services import audit, notify
from api.services.notify import InvalidContact, Message, jobs
from tests.conftest import make_settings
from tests.factories.events import number_events
from tests.factories.people import Person, create_person
from tests.factories.referrals import NAME, Network, network, record_consent, refer
from tests.web.app_pages import browser_client, sign_in, submit
from tests.web.pages import Page

ADDRESS = "duty.officer@health.example"
PHONE = "+221770000042"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Mailbox:
    """What the SMTP server accepted; ``refuse`` makes it answer every message with a 554."""

    received: list[tuple[Envelope, Any]] = field(default_factory=list)
    refuse: bool = False

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse:
            return "554 Transaction failed (the test's server refuses)"
        assert isinstance(envelope.content, bytes)
        self.received.append((envelope, message_from_bytes(envelope.content)))
        return "250 OK"


@dataclass
class SmtpServer:
    mailbox: Mailbox
    port: int

    def settings(self) -> Settings:
        return make_settings(
            notifier=NotifierKind.smtp,
            smtp_host="127.0.0.1",
            smtp_port=self.port,
            smtp_from="relay@relay.test",
            smtp_timeout_seconds=5,
        )


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd, in its own thread) on a free loopback port."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(mailbox, port)
    finally:
        controller.stop()


@dataclass
class Receiving:
    net: Network
    caseworker: Person


async def worker_job(session: AsyncSession, settings: Settings, job: Any) -> int:
    """Run a worker job in the test's transaction, then drop the worker's row-level-security
    switch again (as ``number_events`` does)."""
    handled: int = await job(session, settings)
    await session.execute(text("SELECT set_config('relay.worker', '', true)"))
    return handled


async def deliver(session: AsyncSession, settings: Settings) -> int:
    """What the worker does within a tick: number the events, queue, send."""
    await number_events(session, settings)
    await worker_job(session, settings, notify.queue_urgent)
    return await worker_job(session, settings, notify.send_due)


@pytest.fixture
async def receiving(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> Receiving:
    """A health centre whose caseworker is told by e-mail; the outbox read up to now (as the
    migration starts the cursor at the newest numbered event)."""
    net = await network(session, settings)
    caseworker = await create_person(
        session, settings, net.receiver.organization, UserRole.caseworker
    )
    await notify.set_contact(session, audit.CLI, caseworker.user_id, f"  {ADDRESS} ")
    await number_events(session, settings)
    await session.execute(
        text(
            "UPDATE notification_cursor SET seq = (SELECT coalesce(max(seq), 0) FROM outbox_event)"
        )
    )
    return Receiving(net, caseworker)


async def notifications(session: AsyncSession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        text("SELECT * FROM notification WHERE user_id = :user ORDER BY created_at"),
        {"user": user_id},
    )
    return [dict(row._mapping) for row in rows]


async def urgent_referral(client: httpx.AsyncClient, net: Network, priority: str = "urgent") -> str:
    consent_id = await record_consent(client, net)
    return str((await refer(client, net, consent_id, priority=priority))["id"])


def test_the_message_is_written_in_every_language_of_the_pages() -> None:
    settings = make_settings()
    assert set(jobs.SUMMARIES) == set(LANGUAGES)
    for language in LANGUAGES:
        one = jobs.message(settings, 1, "x", language)
        several = jobs.message(settings, 12, "x", language)
        assert "1" in one.subject
        assert "12" in several.subject
        assert one.subject != several.subject
        assert NAME not in one.text
    assert jobs.message(settings, 1, "x", "xx").subject == "1 new urgent referral on Relay"


class TestSmtp:
    async def test_an_urgent_referral_is_told_once_by_email_with_no_personal_data(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        receiving: Receiving,
        smtp: SmtpServer,
    ) -> None:
        settings = smtp.settings()
        await urgent_referral(client, receiving.net, "routine")  # not urgent: nobody is told
        referral_id = await urgent_referral(client, receiving.net)
        assert await deliver(session, settings) == 1
        assert len(smtp.mailbox.received) == 1
        envelope, email = smtp.mailbox.received[0]
        assert envelope.rcpt_tos == [ADDRESS]
        assert email["Subject"] == "1 new urgent referral on Relay"
        body = email.get_payload(decode=True).decode()
        assert body.strip() == "1 new urgent referral on Relay: https://relay.test/app/inbox"
        assert NAME not in email.as_string()
        assert referral_id not in email.as_string()
        # Reading the outbox again (its cursor back) and sending again tells no one twice.
        await session.execute(text("UPDATE notification_cursor SET seq = seq - 10"))
        assert await deliver(session, settings) == 0
        assert len(smtp.mailbox.received) == 1
        [row] = await notifications(session, receiving.caseworker.user_id)
        assert row["outcome"] == "sent"
        assert row["referral_id"] == uuid.UUID(referral_id)

    async def test_urgent_referrals_waiting_together_are_one_message(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        receiving: Receiving,
        smtp: SmtpServer,
    ) -> None:
        await urgent_referral(client, receiving.net)
        await urgent_referral(client, receiving.net, "stat")
        assert await deliver(session, smtp.settings()) == 2
        [(_, email)] = smtp.mailbox.received
        assert email["Subject"] == "2 new urgent referrals on Relay"

    async def test_the_message_is_in_the_persons_language(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        receiving: Receiving,
        smtp: SmtpServer,
    ) -> None:
        await session.execute(
            text("UPDATE user_account SET preferred_language = 'fr' WHERE id = :user"),
            {"user": receiving.caseworker.user_id},
        )
        await urgent_referral(client, receiving.net)
        await urgent_referral(client, receiving.net)
        assert await deliver(session, smtp.settings()) == 2
        [(_, email)] = smtp.mailbox.received
        assert email["Subject"] == "2 nouvelles orientations urgentes sur Relay"
        body = email.get_payload(decode=True).decode()
        assert body.strip().endswith(": https://relay.test/app/inbox")

    @pytest.mark.parametrize("failure", ["refused", "unreachable"])
    async def test_a_failing_server_is_retried_with_back_off_and_nothing_is_lost(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        receiving: Receiving,
        smtp: SmtpServer,
        failure: str,
    ) -> None:
        settings = smtp.settings()
        failing = (
            settings
            if failure == "refused"
            else make_settings(notifier="smtp", smtp_host="127.0.0.1", smtp_port=free_port())
        )
        smtp.mailbox.refuse = failure == "refused"
        await urgent_referral(client, receiving.net)
        before = datetime.now(UTC)
        with capture_logs() as logs:
            assert await deliver(session, failing) == 0
        assert await deliver(session, failing) == 0  # not due yet: not tried again at once
        [row] = await notifications(session, receiving.caseworker.user_id)
        assert row["sent_at"] is None
        assert row["attempts"] == 1
        assert row["last_error"] == (
            "SMTPDataError" if failure == "refused" else "ConnectionRefusedError"
        )
        first_delay = row["next_attempt_at"] - before
        assert timedelta(seconds=29) < first_delay < timedelta(seconds=40)
        # The second failure waits longer (the schedule: 30, 120, 600, 1800, 3600 s).
        await session.execute(text("UPDATE notification SET next_attempt_at = now()"))
        await deliver(session, failing)
        [row] = await notifications(session, receiving.caseworker.user_id)
        assert row["attempts"] == 2
        assert row["next_attempt_at"] - datetime.now(UTC) > timedelta(seconds=100)
        assert [entry["event"] for entry in logs] == ["notification_failed"]
        assert ADDRESS not in repr(logs)
        # The server works again: the notification, kept, is sent once its time comes.
        smtp.mailbox.refuse = False
        await session.execute(text("UPDATE notification SET next_attempt_at = now()"))
        assert await deliver(session, settings) == 1
        assert len(smtp.mailbox.received) == 1
        [row] = await notifications(session, receiving.caseworker.user_id)
        assert row["outcome"] == "sent"

    async def test_a_server_down_costs_one_attempt_per_round_not_one_per_person(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        receiving: Receiving,
        smtp: SmtpServer,
    ) -> None:
        colleague = await create_person(
            session, settings, receiving.net.receiver.organization, UserRole.caseworker
        )
        await notify.set_contact(session, audit.CLI, colleague.user_id, "colleague@health.example")
        await urgent_referral(client, receiving.net)
        down = make_settings(notifier="smtp", smtp_host="127.0.0.1", smtp_port=free_port())
        assert await deliver(session, down) == 0
        attempts = [
            row["attempts"]
            for user in (receiving.caseworker.user_id, colleague.user_id)
            for row in await notifications(session, user)
        ]
        assert sorted(attempts) == [0, 1]  # the second was not tried: still due
        assert await worker_job(session, smtp.settings(), notify.send_due) == 1
        assert len(smtp.mailbox.received) == 1

    async def test_only_active_receivers_with_a_contact_are_told(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        receiving: Receiving,
        smtp: SmtpServer,
    ) -> None:
        organization = receiving.net.receiver.organization
        volunteer = await create_person(session, settings, organization, UserRole.volunteer)
        await notify.set_contact(session, audit.CLI, volunteer.user_id, "volunteer@health.example")
        gone = await create_person(session, settings, organization, UserRole.caseworker)
        await notify.set_contact(session, audit.CLI, gone.user_id, "gone@health.example")
        from api.services import people

        await people.deactivate(session, settings, audit.CLI, gone.user_id)
        admin = await create_person(session, settings, organization, UserRole.org_admin)
        await notify.set_contact(session, audit.CLI, admin.user_id, "admin@health.example")
        # The sender's own people are not told of what it sent.
        sender = await create_person(
            session, settings, receiving.net.sender.organization, UserRole.caseworker
        )
        await notify.set_contact(session, audit.CLI, sender.user_id, "sender@committee.example")
        await urgent_referral(client, receiving.net)
        assert await deliver(session, smtp.settings()) == 2
        told = sorted(envelope.rcpt_tos[0] for envelope, _ in smtp.mailbox.received)
        assert told == ["admin@health.example", ADDRESS]

    async def test_a_contact_removed_before_sending_drops_the_message(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        receiving: Receiving,
        smtp: SmtpServer,
    ) -> None:
        await urgent_referral(client, receiving.net)
        await number_events(session, smtp.settings())
        await worker_job(session, smtp.settings(), notify.queue_urgent)
        await notify.remove_contact(session, audit.CLI, receiving.caseworker.user_id)
        assert await worker_job(session, smtp.settings(), notify.send_due) == 1
        assert smtp.mailbox.received == []
        [row] = await notifications(session, receiving.caseworker.user_id)
        assert row["outcome"] == "no_contact"


class TestLogAndSms:
    async def test_the_log_notifier_never_writes_the_address(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        receiving: Receiving,
    ) -> None:
        assert settings.notifier is NotifierKind.log
        await urgent_referral(client, receiving.net)
        with capture_logs() as logs:
            assert await deliver(session, settings) == 1
        logged = repr(logs)
        assert [entry["event"] for entry in logs] == ["notification_logged"]
        assert "1 new urgent referral on Relay" in logged
        assert ADDRESS not in logged
        assert NAME not in logged

    async def test_an_sms_goes_to_the_http_gateway(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        receiving: Receiving,
    ) -> None:
        gateway = Gateway()
        with gateway.running() as url:
            settings = make_settings(sms_gateway_url=url, sms_gateway_token="gateway-token-1234")
            await notify.set_contact(
                session, audit.CLI, receiving.caseworker.user_id, "00221 77 000 00 42"
            )
            await urgent_referral(client, receiving.net)
            assert await deliver(session, settings) == 1
            assert gateway.received == [
                (
                    "Bearer gateway-token-1234",
                    {
                        "to": PHONE,
                        "text": "1 new urgent referral on Relay: https://relay.test/app/inbox",
                    },
                )
            ]
            # A gateway answering an error keeps the message for a retry.
            gateway.status = 503
            with pytest.raises(httpx.HTTPStatusError):
                await notify.HttpSmsGateway(settings).send(Message(PHONE, "s", "t"))


class Gateway:
    """A real HTTP server on a loopback port standing for an SMS gateway: it records what it is
    posted and answers ``status``."""

    def __init__(self) -> None:
        self.received: list[tuple[str | None, Any]] = []
        self.status = 202

    def running(self) -> Any:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                gateway.received.append(
                    (self.headers.get("Authorization"), json.loads(self.rfile.read(length)))
                )
                self.send_response(gateway.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        from contextlib import contextmanager

        @contextmanager
        def serve() -> Iterator[str]:
            server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            try:
                yield f"http://127.0.0.1:{server.server_address[1]}/messages"
            finally:
                server.shutdown()
                server.server_close()

        return serve()


class TestContacts:
    @pytest.mark.parametrize(
        ("typed", "channel", "address"),
        [
            ("Duty.Officer@Health.Example", "email", "Duty.Officer@health.example"),
            ("+221 77 000 00 42", "sms", PHONE),
            ("00221-77-000-00-42", "sms", PHONE),
        ],
    )
    def test_what_is_typed_is_normalised(self, typed: str, channel: str, address: str) -> None:
        contact = notify.parse(typed)
        assert (contact.channel.value, contact.address) == (channel, address)

    @pytest.mark.parametrize(
        "typed", ["", "duty officer@health.example", "no-at-sign", "+12", "a@b", "x" * 300]
    )
    def test_anything_else_is_refused(self, typed: str) -> None:
        with pytest.raises(InvalidContact):
            notify.parse(typed)

    async def test_the_audit_trail_records_the_change_without_the_address(
        self, session: AsyncSession, receiving: Receiving
    ) -> None:
        await act_as(session, receiving.net.receiver.organization.id)  # the trail's parties
        rows = await session.execute(
            text(
                "SELECT to_jsonb(audit_event) AS row FROM audit_event "
                "WHERE action = 'user.notification_contact' AND :user = ANY(resource_ids)"
            ),
            {"user": str(receiving.caseworker.user_id)},
        )
        found = [row.row for row in rows]
        assert len(found) == 1
        assert ADDRESS not in json.dumps(found)


class TestThePersonPage:
    @pytest.fixture
    async def admin_browser(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        receiving: Receiving,
    ) -> AsyncIterator[httpx.AsyncClient]:
        admin = await create_person(
            session, settings, receiving.net.receiver.organization, UserRole.org_admin
        )
        async with browser_client(app) as browser:
            await sign_in(browser, admin)
            yield browser

    async def test_an_admin_sets_changes_and_removes_a_contact(
        self, admin_browser: httpx.AsyncClient, session: AsyncSession, receiving: Receiving
    ) -> None:
        page_path = f"/app/people/{receiving.caseworker.user_id}"
        page = await admin_browser.get(page_path)
        assert Page(page.text).text.count(ADDRESS) >= 1  # told by e-mail at …
        answer = await submit(
            admin_browser,
            page_path,
            {"contact": "+221 77 000 00 42"},
            action=f"{page_path}/notifications",
            form_id="notify-form",
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == f"{page_path}?done=notifications"
        shown = Page((await admin_browser.get(answer.headers["location"])).text).text
        assert f"Told by SMS at {PHONE}." in shown
        refused = await submit(
            admin_browser,
            page_path,
            {"contact": "not an address"},
            action=f"{page_path}/notifications",
            form_id="notify-form",
        )
        assert refused.status_code == 422
        assert "Give an e-mail address, or a phone number" in Page(refused.text).text
        removed = await submit(
            admin_browser,
            page_path,
            {"remove": "1"},
            action=f"{page_path}/notifications",
            form_id="notify-form",
        )
        assert removed.status_code == 303
        shown = Page((await admin_browser.get(removed.headers["location"])).text).text
        assert "Not told of urgent referrals." in shown

    async def test_a_caseworker_cannot_set_anyones_contact(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        receiving: Receiving,
    ) -> None:
        other = await create_person(
            session, settings, receiving.net.receiver.organization, UserRole.caseworker
        )
        async with browser_client(app) as browser:
            await sign_in(browser, receiving.caseworker)
            home = await browser.get("/app/account")
            assert home.status_code == 200
            answer = await submit(
                browser,
                "/app/account",
                {"contact": "me@health.example"},
                action=f"/app/people/{other.user_id}/notifications",
            )
        assert answer.status_code == 403
        assert await notify.contact_of(session, audit.CLI, other.user_id) is None


def test_asyncio_is_not_blocked_by_the_smtp_notifier() -> None:
    """The SMTP notifier sends in a thread: the event loop keeps running while it waits."""

    async def scenario() -> int:
        ticks = 0

        async def count() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        counter = asyncio.create_task(count())
        # A server that takes the connection and never greets: the notifier waits its timeout.
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            settings = make_settings(
                notifier="smtp",
                smtp_host="127.0.0.1",
                smtp_port=silent.getsockname()[1],
                smtp_timeout_seconds=0.5,
            )
            with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
                await notify.SmtpNotifier(settings).send(Message("a@b.example", "s", "t"))
        counter.cancel()
        return ticks

    assert asyncio.run(scenario()) > 10
