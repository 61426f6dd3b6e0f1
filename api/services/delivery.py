"""Webhook delivery, run by ``relay worker``: fan-out, sending, retries, dead letters.

1. ``fan_out`` turns each enabled subscription's new outbox events into ``webhook_delivery``
   rows and moves the subscription's cursor past them, in one transaction (a subscription being
   fanned out by one worker is skipped by the others: ``FOR UPDATE SKIP LOCKED``).
2. ``deliver_due`` leases due deliveries (``SKIP LOCKED`` again, so two workers never hold the
   same one), commits the lease, sends outside any transaction, then records each result if the
   lease still holds. A worker that dies mid-send leaves its lease to expire; another worker (or
   the same one restarted) sends again: at least once, with the same ``webhook-id``.
   A delivery is never leased while an earlier delivery about the same subject (a referral) to
   the same subscription is pending, so a receiver sees each referral's events in order.
3. A failed attempt waits the next delay of ``RELAY_WEBHOOK_RETRY_SCHEDULE`` (+-20% jitter);
   after the last one the delivery is ``dead`` (kept, listed, redeliverable by hand).
   ``disable_failing`` turns off an endpoint that has failed without a success for
   ``RELAY_WEBHOOK_DISABLE_AFTER_HOURS`` and tells its organisation (``webhook.disabled``).
4. ``purge_events`` keeps the outbox to ``RELAY_EVENT_RETENTION_DAYS``, never deleting an event
   still to be fanned out, delivered or read by the notifications; whole months of it go by
   ``api.services.partitions``.

Signing is Standard Webhooks: ``v1,`` + base64 HMAC-SHA256 of ``{webhook-id}.{timestamp}.{body}``
under each current secret, space separated.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from api import net
from api.config import Environment, Settings
from api.db import SessionMaker, transaction
from api.logging import get_logger
from api.models.events import DeliveryStatus, WebhookAttempt
from api.repositories import events as repository
from api.repositories.base import act_as_worker, add
from api.services import events
from api.services.webhooks import signing_secrets

log = get_logger("relay.webhooks")

FAN_OUT_SUBSCRIPTIONS = 100
FAN_OUT_EVENTS = 500
DELIVERY_BATCH = 20
PURGE_BATCH = 5000
JITTER = 0.2
USER_AGENT = "Relay-Webhooks/1"


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


async def fan_out(session: AsyncSession, settings: Settings) -> int:
    """Worker job: new events of each enabled subscription's organisation become deliveries."""
    await act_as_worker(session)
    created = 0
    now = datetime.now(UTC)
    for subscription in await repository.subscriptions_to_fan_out(session, FAN_OUT_SUBSCRIPTIONS):
        found = await repository.events_after(
            session, subscription.organization_id, subscription.cursor_seq, FAN_OUT_EVENTS
        )
        if not found:
            continue
        wanted = set(subscription.event_types)
        rows = [
            {
                "id": uuid.uuid4(),
                "subscription_id": subscription.id,
                "organization_id": subscription.organization_id,
                "event_id": event.id,
                "event_seq": event.seq,
                "event_occurred_at": event.occurred_at,
                "subject_id": event.subject_id,
                "next_attempt_at": now,
            }
            for event in found
            if not wanted or event.type in wanted
        ]
        await repository.add_deliveries(session, rows)
        assert found[-1].seq is not None
        subscription.cursor_seq = found[-1].seq
        await add(session, subscription)
        created += len(rows)
    return created


@dataclass(frozen=True)
class Outgoing:
    delivery_id: uuid.UUID
    subscription_id: uuid.UUID
    organization_id: uuid.UUID
    attempt: int
    url: str
    message_id: str
    body: bytes
    secrets: list[str]


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def new_client(settings: Settings) -> httpx.AsyncClient:
    """The worker's HTTP client: no redirects followed, no proxies from the environment (the
    connection must go to the address that was checked)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.webhook_timeout_seconds),
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=DELIVERY_BATCH, max_keepalive_connections=0),
    )


async def send(client: httpx.AsyncClient, settings: Settings, outgoing: Outgoing) -> Outcome:
    started = time.perf_counter()

    def elapsed() -> int:
        return round((time.perf_counter() - started) * 1000)

    try:
        parts = net.parse(outgoing.url, https_only=settings.environment is Environment.production)
        address = await net.resolve(parts, settings.allowed_networks)
    except net.UrlRefused as refused:
        return Outcome(None, elapsed(), refused.code)
    pinned = net.pin(parts, address)
    timestamp = int(time.time())
    headers = {
        "Host": pinned.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": outgoing.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            sign(secret, outgoing.message_id, timestamp, outgoing.body)
            for secret in outgoing.secrets
        ),
    }
    extensions = {"sni_hostname": pinned.server_name} if pinned.server_name else {}
    try:
        async with asyncio.timeout(settings.webhook_timeout_seconds):
            request = client.build_request(
                "POST", pinned.url, content=outgoing.body, headers=headers, extensions=extensions
            )
            response = await client.send(request, stream=True)
            await response.aclose()  # the body is not read, nor kept
    except (TimeoutError, httpx.TimeoutException):
        return Outcome(None, elapsed(), "timeout")
    except httpx.ConnectError:
        return Outcome(None, elapsed(), "connection-failed")
    except httpx.HTTPError:
        return Outcome(None, elapsed(), "http-error")
    return Outcome(response.status_code, elapsed(), None)


async def _lease(
    sessionmaker: SessionMaker, settings: Settings
) -> tuple[uuid.UUID, list[Outgoing]]:
    lease_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with transaction(sessionmaker) as session:
        await act_as_worker(session)
        until = now + timedelta(seconds=settings.webhook_lease_seconds)
        if not await repository.claim(session, now, lease_id, until, DELIVERY_BATCH):
            return lease_id, []
        outgoing = []
        for delivery, subscription, event in await repository.leased(session, lease_id):
            body = json.dumps(events.message(event), separators=(",", ":")).encode()
            outgoing.append(
                Outgoing(
                    delivery_id=delivery.id,
                    subscription_id=subscription.id,
                    organization_id=subscription.organization_id,
                    attempt=delivery.attempts,
                    url=subscription.url,
                    message_id=f"evt_{event.id.hex}",
                    body=body,
                    secrets=signing_secrets(settings, subscription, now),
                )
            )
    return lease_id, outgoing


async def _record(
    sessionmaker: SessionMaker,
    settings: Settings,
    lease_id: uuid.UUID,
    results: list[tuple[Outgoing, Outcome]],
) -> None:
    schedule = settings.retry_schedule
    now = datetime.now(UTC)
    async with transaction(sessionmaker) as session:
        await act_as_worker(session)
        for outgoing, outcome in results:
            delivery = await repository.holding(session, outgoing.delivery_id, lease_id)
            if delivery is None:
                continue  # the lease ran out and another worker took the delivery over
            delivery.lease_id = None
            delivery.leased_until = None
            delivery.last_attempt_at = now
            delivery.last_status_code = outcome.status_code
            delivery.last_error = outcome.error
            if outcome.delivered:
                delivery.status = DeliveryStatus.delivered.value
                delivery.delivered_at = now
            elif delivery.step < len(schedule):
                delay = schedule[delivery.step] * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311
                delivery.next_attempt_at = now + timedelta(seconds=delay)
                delivery.step += 1
            else:
                delivery.status = DeliveryStatus.dead.value
            await add(
                session,
                delivery,
                WebhookAttempt(
                    delivery_id=delivery.id,
                    organization_id=outgoing.organization_id,
                    number=outgoing.attempt,
                    at=now,
                    status_code=outcome.status_code,
                    latency_ms=outcome.latency_ms,
                    error=outcome.error,
                ),
            )
            await repository.set_failing(
                session, outgoing.subscription_id, None if outcome.delivered else now
            )


async def deliver_due(
    sessionmaker: SessionMaker, settings: Settings, client: httpx.AsyncClient
) -> int:
    """Send one batch of due deliveries; returns how many were attempted."""
    lease_id, outgoing = await _lease(sessionmaker, settings)
    if not outgoing:
        return 0
    outcomes = await asyncio.gather(*(send(client, settings, item) for item in outgoing))
    results = list(zip(outgoing, outcomes, strict=True))
    for item, outcome in results:
        log.info(
            "webhook_attempt",
            delivery=str(item.delivery_id),
            attempt=item.attempt,
            status_code=outcome.status_code,
            error=outcome.error,
            latency_ms=outcome.latency_ms,
        )
    await _record(sessionmaker, settings, lease_id, results)
    return len(results)


async def disable_failing(session: AsyncSession, settings: Settings) -> int:
    """Worker job: an endpoint failing without a success for too long is disabled, and its
    organisation hears of it."""
    await act_as_worker(session)
    cutoff = datetime.now(UTC) - timedelta(hours=settings.webhook_disable_after_hours)
    found = await repository.failing_since_before(session, cutoff)
    for subscription in found:
        subscription.enabled = False
        subscription.disabled_reason = "failing"
        subscription.updated_at = datetime.now(UTC)
        await add(session, subscription)
        await events.webhook_disabled(
            session, subscription.organization_id, subscription.id, "failing"
        )
    return len(found)


async def purge_events(session: AsyncSession, settings: Settings) -> int:
    """Worker job: events past retention go, with their deliveries, up to the first one still
    waiting to be delivered (an endpoint disabled with deliveries pending holds the sweep until
    it is enabled again or deleted), fanned out or read by the notifications; the horizon moves
    so an older cursor is refused rather than served a gap."""
    await act_as_worker(session)
    cutoff = datetime.now(UTC) - timedelta(days=settings.event_retention_days)
    newest = await repository.purge_events(session, cutoff, PURGE_BATCH)
    if newest is None:
        return 0
    await repository.raise_horizon(session, newest)
    return 1
