"""Webhook subscriptions: an organisation's endpoints, their secrets and their delivery log.

A subscription starts at the head of the outbox: it receives the events that come after it was
made (the feed, ``GET /v1/events``, holds the history). Its secret (Standard Webhooks,
``whsec_`` + base64 of 32 random bytes) is shown once, at creation and at each rotation, and is
kept sealed by the master key. After a rotation the old secret still signs for an overlap, so
a receiver can change its secret without losing a delivery.
"""

import base64
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import net
from api.auth.principal import Principal
from api.config import Environment, Settings
from api.errors import Conflict, NotFound, Unprocessable
from api.models.events import (
    DeliveryStatus,
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from api.pagination import read_time_cursor, write_cursor
from api.repositories import events as repository
from api.repositories.base import act_as, add, lock_organization_key
from api.schemas.webhooks import SecretRotation, WebhookCreate, WebhookUpdate
from api.services import audit
from api.services.audit import Action
from api.services.events import message

MAXIMUM_SUBSCRIPTIONS = 10
SECRET_BYTES = 32
SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks prefix, not a secret)
DELIVERY_LIMIT = 100


class WebhookNotFound(NotFound, code="webhook-not-found"): ...


class DeliveryNotFound(NotFound, code="delivery-not-found"): ...


class WebhookUrlRefused(Unprocessable, code="webhook-url-refused"): ...


class TooManyWebhooks(Conflict, code="too-many-webhooks"): ...


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _seal(settings: Settings, secret: str, subscription_id: uuid.UUID) -> tuple[bytes, int]:
    return settings.master.seal(
        secret.encode(), table="webhook_subscription", column="secret", row=subscription_id
    )


def open_secret(settings: Settings, sealed: bytes, version: int, row: uuid.UUID) -> str:
    return settings.master.open(
        sealed, version, table="webhook_subscription", column="secret", row=row
    ).decode()


def signing_secrets(
    settings: Settings, subscription: WebhookSubscription, now: datetime
) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one during
    its overlap."""
    found = [
        open_secret(settings, subscription.secret, subscription.secret_version, subscription.id)
    ]
    if (
        subscription.previous_secret is not None
        and subscription.previous_secret_version is not None
        and subscription.previous_secret_expires_at is not None
        and subscription.previous_secret_expires_at > now
    ):
        found.append(
            open_secret(
                settings,
                subscription.previous_secret,
                subscription.previous_secret_version,
                subscription.id,
            )
        )
    return found


async def check_url(settings: Settings, url: str) -> str:
    """The URL, if webhooks may post to it; else a 422 naming the rule."""
    try:
        parts = net.parse(url, https_only=settings.environment is Environment.production)
        await net.resolve(parts, settings.allowed_networks)
    except net.UrlRefused as refused:
        raise WebhookUrlRefused(refused.message, reason=refused.code) from None
    return url


def view(subscription: WebhookSubscription) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(subscription.id),
        "url": subscription.url,
        "description": subscription.description,
        "event_types": subscription.event_types,
        "enabled": subscription.enabled,
        "disabled_reason": subscription.disabled_reason,
        "failing_since": subscription.failing_since.isoformat()
        if subscription.failing_since
        else None,
        "previous_secret_expires_at": subscription.previous_secret_expires_at.isoformat()
        if subscription.previous_secret_expires_at
        else None,
        "created_at": subscription.created_at.isoformat(),
        "updated_at": subscription.updated_at.isoformat(),
    }
    return {key: value for key, value in body.items() if value is not None}


async def _own(
    session: AsyncSession, principal: Principal, subscription_id: uuid.UUID, *, lock: bool = False
) -> WebhookSubscription:
    await act_as(session, principal.organization_id)
    found = await repository.subscription(
        session, principal.organization_id, subscription_id, lock=lock
    )
    if found is None:
        raise WebhookNotFound("No webhook with this id.")
    return found


async def create(
    session: AsyncSession, settings: Settings, principal: Principal, body: WebhookCreate
) -> dict[str, Any]:
    await act_as(session, principal.organization_id)
    url = await check_url(settings, body.url)
    await lock_organization_key(session, principal.organization_id, "webhook-subscriptions")
    if (
        await repository.count_subscriptions(session, principal.organization_id)
        >= MAXIMUM_SUBSCRIPTIONS
    ):
        raise TooManyWebhooks(
            f"An organisation has at most {MAXIMUM_SUBSCRIPTIONS} webhooks; delete one first."
        )
    subscription_id = uuid.uuid4()
    secret = new_secret()
    sealed, version = _seal(settings, secret, subscription_id)
    cursor = await repository.head(session)
    now = datetime.now(UTC)
    subscription = WebhookSubscription(
        id=subscription_id,
        organization_id=principal.organization_id,
        url=url,
        description=body.description,
        event_types=[event_type.value for event_type in body.event_types],
        enabled=body.enabled,
        secret=sealed,
        secret_version=version,
        cursor_seq=cursor,
        created_at=now,
        updated_at=now,
    )
    await add(session, subscription)
    await _audit(session, principal, Action.create, subscription.id)
    return {**view(subscription), "secret": secret}


async def _audit(
    session: AsyncSession, principal: Principal, action: Action, subscription_id: uuid.UUID
) -> None:
    await audit.record(
        session, principal, action, "webhook", [subscription_id], [principal.organization_id]
    )


async def listing(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    await act_as(session, principal.organization_id)
    found = await repository.subscriptions(session, principal.organization_id)
    return {"data": [view(item) for item in found], "meta": {"count": len(found)}}


async def get(
    session: AsyncSession, principal: Principal, subscription_id: uuid.UUID
) -> dict[str, Any]:
    return view(await _own(session, principal, subscription_id))


async def update(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    subscription_id: uuid.UUID,
    body: WebhookUpdate,
) -> dict[str, Any]:
    subscription = await _own(session, principal, subscription_id, lock=True)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("url") is not None:
        subscription.url = await check_url(settings, changes["url"])
    if changes.get("event_types") is not None:
        subscription.event_types = [item.value for item in body.event_types or []]
    if "description" in changes:
        subscription.description = body.description
    if changes.get("enabled") is not None:
        subscription.enabled = bool(body.enabled)
        if subscription.enabled:
            # Enabled again by its owner: the failure clock starts again.
            subscription.disabled_reason = None
            subscription.failing_since = None
        else:
            subscription.disabled_reason = "by_owner"
    subscription.updated_at = datetime.now(UTC)
    await add(session, subscription)
    await _audit(session, principal, Action.update, subscription.id)
    return view(subscription)


async def delete(session: AsyncSession, principal: Principal, subscription_id: uuid.UUID) -> None:
    subscription = await _own(session, principal, subscription_id, lock=True)
    await repository.delete_subscription(session, subscription.id)
    await _audit(session, principal, Action.delete, subscription.id)


async def rotate_secret(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    subscription_id: uuid.UUID,
    body: SecretRotation,
) -> dict[str, Any]:
    subscription = await _own(session, principal, subscription_id, lock=True)
    now = datetime.now(UTC)
    overlap = (
        body.overlap_hours
        if body.overlap_hours is not None
        else settings.webhook_secret_overlap_hours
    )
    secret = new_secret()
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_version = subscription.secret_version
    subscription.previous_secret_expires_at = now + timedelta(hours=overlap)
    subscription.secret, subscription.secret_version = _seal(settings, secret, subscription.id)
    subscription.updated_at = now
    await add(session, subscription)
    await _audit(session, principal, Action.update, subscription.id)
    return {**view(subscription), "secret": secret}


def _delivery_view(delivery: WebhookDelivery, event_type: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(delivery.id),
        "webhook_id": f"evt_{delivery.event_id.hex}",
        "event_type": event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "created_at": delivery.created_at.isoformat(),
        "next_attempt_at": delivery.next_attempt_at.isoformat()
        if delivery.status == DeliveryStatus.pending.value
        else None,
        "last_attempt_at": delivery.last_attempt_at.isoformat()
        if delivery.last_attempt_at
        else None,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
    }
    return {key: value for key, value in body.items() if value is not None}


def _attempt_view(attempt: WebhookAttempt) -> dict[str, Any]:
    body: dict[str, Any] = {
        "number": attempt.number,
        "at": attempt.at.isoformat(),
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "error": attempt.error,
    }
    return {key: value for key, value in body.items() if value is not None}


async def deliveries(
    session: AsyncSession,
    principal: Principal,
    subscription_id: uuid.UUID,
    *,
    statuses: list[DeliveryStatus],
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """The delivery log, newest first."""
    subscription = await _own(session, principal, subscription_id)
    found = await repository.deliveries(
        session,
        subscription.id,
        statuses=[status.value for status in statuses],
        after=read_time_cursor(cursor) if cursor else None,
        limit=limit + 1,
    )
    page, more = found[:limit], len(found) > limit
    meta: dict[str, Any] = {"count": len(page), "limit": limit}
    if more:
        last = page[-1][0]
        meta["next_cursor"] = write_cursor(last.created_at, last.id)
    return {"data": [_delivery_view(item, kind) for item, kind in page], "meta": meta}


async def _own_delivery(
    session: AsyncSession,
    principal: Principal,
    subscription_id: uuid.UUID,
    delivery_id: uuid.UUID,
    *,
    lock: bool,
) -> tuple[WebhookDelivery, OutboxEvent]:
    """A delivery of one of the caller's webhooks, with its event; 404 when there is none."""
    subscription = await _own(session, principal, subscription_id)
    found = await repository.delivery(session, subscription.id, delivery_id, lock=lock)
    if found is None:
        raise DeliveryNotFound("No delivery with this id for this webhook.")
    event = await repository.event(session, found.event_id)
    assert event is not None
    return found, event


async def delivery(
    session: AsyncSession, principal: Principal, subscription_id: uuid.UUID, delivery_id: uuid.UUID
) -> dict[str, Any]:
    """One delivery with each of its attempts and the message it carries."""
    found, event = await _own_delivery(session, principal, subscription_id, delivery_id, lock=False)
    return {
        **_delivery_view(found, event.type),
        "message": message(event),
        "attempt_log": [
            _attempt_view(item) for item in await repository.attempts(session, found.id)
        ],
    }


async def redeliver(
    session: AsyncSession, principal: Principal, subscription_id: uuid.UUID, delivery_id: uuid.UUID
) -> dict[str, Any]:
    """Queue a delivery again, now, with a fresh retry schedule (same ``webhook-id``)."""
    found, event = await _own_delivery(session, principal, subscription_id, delivery_id, lock=True)
    found.status = DeliveryStatus.pending.value
    found.step = 0
    found.next_attempt_at = datetime.now(UTC)
    found.lease_id = None
    found.leased_until = None
    found.delivered_at = None
    await add(session, found)
    await _audit(session, principal, Action.update, found.subscription_id)
    return _delivery_view(found, event.type)
