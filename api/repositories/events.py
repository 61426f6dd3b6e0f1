"""SQL of the event outbox and of webhook subscriptions and deliveries.

The outbox's order is ``(txid, position)`` and only events of ended transactions are read (see
``api.models.events``); ``visible()`` is that rule, shared by the feed and the worker's fan-out.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from api.models.events import (
    DeliveryStatus,
    OutboxEvent,
    OutboxHorizon,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)

Position = tuple[int, int]
"""A place in the outbox: (txid, position)."""

# The oldest transaction still running: every event below it is final. The caller's own
# transaction counts as ended for itself (it sees its own writes).
_XMIN = sa.text("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
_OWN_TXID = sa.text("pg_current_xact_id_if_assigned()::text::bigint")


def ended(txid: Any) -> sa.ColumnElement[bool]:
    """Rows written by transactions that have ended (or by this one): the rule that lets a
    reader take rows in ``(txid, position)`` order without one appearing later behind it.
    Shared by the outbox and the audit trail's sealing."""
    return sa.or_(txid < _XMIN, txid == _OWN_TXID)


def visible() -> sa.ColumnElement[bool]:
    return ended(col(OutboxEvent.txid))


async def add_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert outbox rows in one statement (``id, organization_id, type, subject_id, data``)."""
    if rows:
        await session.execute(sa.insert(OutboxEvent), list(rows))


async def head(session: AsyncSession) -> Position:
    """A cursor before every event not yet final: where a new subscription starts."""
    xmin = await session.scalar(sa.select(_XMIN))
    assert xmin is not None
    return int(xmin) - 1, 2**63 - 1


async def horizon(session: AsyncSession) -> Position:
    found = await session.get(OutboxHorizon, 1)
    return (found.txid, found.position) if found else (0, 0)


async def feed(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    after: Position | None,
    types: Sequence[str],
    limit: int,
) -> list[OutboxEvent]:
    query = select(OutboxEvent).where(
        sa.or_(
            col(OutboxEvent.organization_id) == organization_id,
            col(OutboxEvent.organization_id).is_(None),
        ),
        visible(),
    )
    if after is not None:
        query = query.where(sa.tuple_(col(OutboxEvent.txid), col(OutboxEvent.position)) > after)
    if types:
        query = query.where(col(OutboxEvent.type).in_(types))
    query = query.order_by(col(OutboxEvent.txid), col(OutboxEvent.position)).limit(limit)
    return list((await session.scalars(query)).all())


async def last_visible(session: AsyncSession, organization_id: uuid.UUID) -> Position | None:
    """The newest final event an organisation can read (for an empty page's cursor)."""
    found = await session.execute(
        sa.select(col(OutboxEvent.txid), col(OutboxEvent.position))
        .where(
            sa.or_(
                col(OutboxEvent.organization_id) == organization_id,
                col(OutboxEvent.organization_id).is_(None),
            ),
            visible(),
        )
        .order_by(col(OutboxEvent.txid).desc(), col(OutboxEvent.position).desc())
        .limit(1)
    )
    row = found.first()
    return (int(row[0] or 0), int(row[1] or 0)) if row else None


# Subscriptions


async def subscriptions(
    session: AsyncSession, organization_id: uuid.UUID
) -> list[WebhookSubscription]:
    found = await session.scalars(
        select(WebhookSubscription)
        .where(col(WebhookSubscription.organization_id) == organization_id)
        .order_by(col(WebhookSubscription.created_at), col(WebhookSubscription.id))
    )
    return list(found.all())


async def count_subscriptions(session: AsyncSession, organization_id: uuid.UUID) -> int:
    found = await session.scalar(
        sa.select(sa.func.count()).where(
            col(WebhookSubscription.organization_id) == organization_id
        )
    )
    return int(found or 0)


async def subscription(
    session: AsyncSession, organization_id: uuid.UUID, subscription_id: uuid.UUID, *, lock: bool
) -> WebhookSubscription | None:
    query = select(WebhookSubscription).where(
        col(WebhookSubscription.id) == subscription_id,
        col(WebhookSubscription.organization_id) == organization_id,
    )
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).one_or_none()


async def delete_subscription(session: AsyncSession, subscription_id: uuid.UUID) -> None:
    await session.execute(
        sa.delete(WebhookSubscription).where(col(WebhookSubscription.id) == subscription_id)
    )


async def secrets_not_sealed_by(session: AsyncSession, version: int) -> list[WebhookSubscription]:
    found = await session.scalars(
        select(WebhookSubscription)
        .where(
            sa.or_(
                col(WebhookSubscription.secret_version) != version,
                col(WebhookSubscription.previous_secret_version) != version,
            )
        )
        .with_for_update()
    )
    return list(found.all())


# Delivery log


async def deliveries(
    session: AsyncSession,
    subscription_id: uuid.UUID,
    *,
    statuses: Sequence[str],
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[tuple[WebhookDelivery, str]]:
    """Newest first, with each delivery's event type."""
    query = (
        select(WebhookDelivery, OutboxEvent.type)
        .join(OutboxEvent, col(OutboxEvent.id) == col(WebhookDelivery.event_id))
        .where(col(WebhookDelivery.subscription_id) == subscription_id)
    )
    if statuses:
        query = query.where(col(WebhookDelivery.status).in_(statuses))
    if after is not None:
        query = query.where(
            sa.tuple_(col(WebhookDelivery.created_at), col(WebhookDelivery.id)) < after
        )
    query = query.order_by(
        col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc()
    ).limit(limit)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def delivery(
    session: AsyncSession, subscription_id: uuid.UUID, delivery_id: uuid.UUID, *, lock: bool
) -> WebhookDelivery | None:
    query = select(WebhookDelivery).where(
        col(WebhookDelivery.id) == delivery_id,
        col(WebhookDelivery.subscription_id) == subscription_id,
    )
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).one_or_none()


async def attempts(session: AsyncSession, delivery_id: uuid.UUID) -> list[WebhookAttempt]:
    found = await session.scalars(
        select(WebhookAttempt)
        .where(col(WebhookAttempt.delivery_id) == delivery_id)
        .order_by(col(WebhookAttempt.number))
    )
    return list(found.all())


async def event(session: AsyncSession, event_id: uuid.UUID) -> OutboxEvent | None:
    return await session.get(OutboxEvent, event_id)


# The worker


async def subscriptions_to_fan_out(session: AsyncSession, limit: int) -> list[WebhookSubscription]:
    """Enabled subscriptions no other worker is fanning out now."""
    found = await session.scalars(
        select(WebhookSubscription)
        .where(col(WebhookSubscription.enabled))
        .order_by(col(WebhookSubscription.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(found.all())


async def events_after(
    session: AsyncSession, organization_id: uuid.UUID, after: Position, limit: int
) -> list[OutboxEvent]:
    return await feed(session, organization_id, after=after, types=(), limit=limit)


async def add_deliveries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        statement = (
            upsert(WebhookDelivery)
            .values(list(rows))
            .on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
        )
        await session.execute(statement)


async def claim(
    session: AsyncSession, now: datetime, lease_id: uuid.UUID, until: datetime, limit: int
) -> list[uuid.UUID]:
    """Lease due deliveries no other worker holds, never one behind an earlier pending delivery
    of the same subject to the same subscription (order per referral)."""
    earlier = aliased(WebhookDelivery)
    pending = DeliveryStatus.pending.value
    due = (
        sa.select(col(WebhookDelivery.id))
        .join(
            WebhookSubscription,
            col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id),
        )
        .where(
            col(WebhookDelivery.status) == pending,
            col(WebhookDelivery.next_attempt_at) <= now,
            sa.or_(
                col(WebhookDelivery.leased_until).is_(None),
                col(WebhookDelivery.leased_until) < now,
            ),
            col(WebhookSubscription.enabled),
            ~sa.exists().where(
                col(earlier.subscription_id) == col(WebhookDelivery.subscription_id),
                col(earlier.subject_id) == col(WebhookDelivery.subject_id),
                col(earlier.status) == pending,
                sa.tuple_(col(earlier.event_txid), col(earlier.event_position))
                < sa.tuple_(col(WebhookDelivery.event_txid), col(WebhookDelivery.event_position)),
            ),
        )
        .order_by(col(WebhookDelivery.next_attempt_at))
        .limit(limit)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    )
    ids = list((await session.scalars(due)).all())
    if ids:
        await session.execute(
            sa.update(WebhookDelivery)
            .where(col(WebhookDelivery.id).in_(ids))
            .values(
                lease_id=lease_id,
                leased_until=until,
                attempts=WebhookDelivery.attempts + 1,
            )
        )
    return ids


async def leased(
    session: AsyncSession, lease_id: uuid.UUID
) -> list[tuple[WebhookDelivery, WebhookSubscription, OutboxEvent]]:
    found = await session.execute(
        select(WebhookDelivery, WebhookSubscription, OutboxEvent)
        .join(
            WebhookSubscription,
            col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id),
        )
        .join(OutboxEvent, col(OutboxEvent.id) == col(WebhookDelivery.event_id))
        .where(col(WebhookDelivery.lease_id) == lease_id)
        .order_by(col(WebhookDelivery.event_txid), col(WebhookDelivery.event_position))
    )
    return [(row[0], row[1], row[2]) for row in found.all()]


async def holding(
    session: AsyncSession, delivery_id: uuid.UUID, lease_id: uuid.UUID
) -> WebhookDelivery | None:
    """The delivery, locked, if this lease still holds it (a worker that outlived its lease
    must not overwrite the result of the one that took it over)."""
    found = await session.scalars(
        select(WebhookDelivery)
        .where(col(WebhookDelivery.id) == delivery_id, col(WebhookDelivery.lease_id) == lease_id)
        .with_for_update()
    )
    return found.one_or_none()


async def set_failing(
    session: AsyncSession, subscription_id: uuid.UUID, since: datetime | None
) -> None:
    """A success clears the failure clock (``since`` None); a failure starts it if stopped."""
    statement = sa.update(WebhookSubscription).where(col(WebhookSubscription.id) == subscription_id)
    if since is not None:
        statement = statement.where(col(WebhookSubscription.failing_since).is_(None))
    await session.execute(statement.values(failing_since=since))


async def failing_since_before(
    session: AsyncSession, cutoff: datetime
) -> list[WebhookSubscription]:
    found = await session.scalars(
        select(WebhookSubscription)
        .where(
            col(WebhookSubscription.enabled),
            col(WebhookSubscription.failing_since) < cutoff,
        )
        .with_for_update(skip_locked=True)
    )
    return list(found.all())


async def purge_events(session: AsyncSession, cutoff: datetime, limit: int) -> Position | None:
    """Delete the oldest events before ``cutoff`` (and their deliveries); returns the newest
    position deleted."""
    oldest = (
        sa.select(col(OutboxEvent.id))
        .where(col(OutboxEvent.occurred_at) < cutoff)
        .order_by(col(OutboxEvent.txid), col(OutboxEvent.position))
        .limit(limit)
    )
    found = await session.execute(
        sa.delete(OutboxEvent)
        .where(col(OutboxEvent.id).in_(oldest.scalar_subquery()))
        .returning(col(OutboxEvent.txid), col(OutboxEvent.position))
    )
    rows = [(int(row[0] or 0), int(row[1] or 0)) for row in found.all()]
    return max(rows) if rows else None


async def raise_horizon(session: AsyncSession, position: Position) -> None:
    await session.execute(
        sa.update(OutboxHorizon)
        .where(
            col(OutboxHorizon.id) == 1,
            sa.tuple_(col(OutboxHorizon.txid), col(OutboxHorizon.position)) < position,
        )
        .values(txid=position[0], position=position[1])
    )
