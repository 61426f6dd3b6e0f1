"""SQL of the event outbox and of webhook subscriptions and deliveries.

The outbox's order is ``seq``, given by the worker to committed events (see
``api.models.events``); readers see numbered events only. ``number_committed`` is that step.
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
from api.repositories.base import one_or_none

# One sequencer at a time, cluster-wide: an arbitrary constant naming this lock.
SEQUENCE_LOCK = 0x52454C4159_45  # "RELAY" "E"


def _audience(organization_id: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.or_(
        col(OutboxEvent.organization_id) == organization_id,
        col(OutboxEvent.organization_id).is_(None),
    )


async def add_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert outbox rows in one statement (``id, organization_id, type, subject_id, data``)."""
    if rows:
        await session.execute(sa.insert(OutboxEvent), list(rows))


async def try_sequence_lock(session: AsyncSession) -> bool:
    locked = await session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(SEQUENCE_LOCK)))
    return bool(locked)


async def last_seq(session: AsyncSession) -> int:
    """The last number given: the newest numbered event, or the newest one the retention sweep
    deleted when none is left."""
    found = await session.scalar(
        sa.select(
            sa.func.greatest(
                sa.select(sa.func.max(col(OutboxEvent.seq))).scalar_subquery(),
                sa.select(col(OutboxHorizon.seq))
                .where(col(OutboxHorizon.id) == 1)
                .scalar_subquery(),
                0,
            )
        )
    )
    return int(found or 0)


_NUMBER = sa.text(
    """
    UPDATE outbox_event AS event SET seq = :after + todo.n
    FROM (SELECT id, row_number() OVER (ORDER BY position) AS n
          FROM (SELECT id, position FROM outbox_event
                WHERE seq IS NULL ORDER BY position LIMIT :limit) AS oldest) AS todo
    WHERE event.id = todo.id
    """
)


async def number_committed(session: AsyncSession, after: int, limit: int) -> int:
    """Number the committed events not numbered yet, oldest written first, from ``after + 1``.
    The caller holds the sequence lock, taken in an earlier statement (so this statement's
    snapshot sees every number given before). Returns how many were numbered."""
    result = await session.execute(_NUMBER, {"after": after, "limit": limit})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def unsequenced(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many committed events wait for a number, and when the oldest was written."""
    found = await session.execute(
        sa.select(sa.func.count(), sa.func.min(col(OutboxEvent.occurred_at))).where(
            col(OutboxEvent.seq).is_(None)
        )
    )
    count, oldest = found.one()
    return int(count), oldest


async def head(session: AsyncSession) -> int:
    """A cursor after every numbered event: where a new subscription starts."""
    return await last_seq(session)


async def horizon(session: AsyncSession) -> int:
    found = await session.get(OutboxHorizon, 1)
    return found.seq if found else 0


async def feed(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    after: int | None,
    types: Sequence[str],
    limit: int,
) -> list[OutboxEvent]:
    query = select(OutboxEvent).where(_audience(organization_id), col(OutboxEvent.seq).is_not(None))
    if after is not None:
        query = query.where(col(OutboxEvent.seq) > after)
    if types:
        query = query.where(col(OutboxEvent.type).in_(types))
    query = query.order_by(col(OutboxEvent.seq)).limit(limit)
    return list((await session.scalars(query)).all())


async def last_visible(session: AsyncSession, organization_id: uuid.UUID) -> int | None:
    """The newest numbered event an organisation can read (for an empty page's cursor)."""
    found = await session.scalar(
        sa.select(sa.func.max(col(OutboxEvent.seq))).where(_audience(organization_id))
    )
    return int(found) if found is not None else None


async def seq_at(session: AsyncSession, position: int) -> int | None:
    """The number of the event written at ``position`` (to read a cursor of the former
    ``(txid, position)`` form)."""
    found = await session.scalar(
        sa.select(col(OutboxEvent.seq)).where(col(OutboxEvent.position) == position)
    )
    return int(found) if found is not None else None


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
    return await one_or_none(session, query, lock=lock)


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
    return await one_or_none(session, query, lock=lock)


async def attempts(session: AsyncSession, delivery_id: uuid.UUID) -> list[WebhookAttempt]:
    found = await session.scalars(
        select(WebhookAttempt)
        .where(col(WebhookAttempt.delivery_id) == delivery_id)
        .order_by(col(WebhookAttempt.number))
    )
    return list(found.all())


async def event(session: AsyncSession, event_id: uuid.UUID) -> OutboxEvent | None:
    found = await session.scalars(select(OutboxEvent).where(col(OutboxEvent.id) == event_id))
    return found.one_or_none()


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
    session: AsyncSession, organization_id: uuid.UUID, after: int, limit: int
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
                col(earlier.event_seq) < col(WebhookDelivery.event_seq),
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
        .order_by(col(WebhookDelivery.event_seq))
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


_PURGE = sa.text(
    """
    WITH oldest AS (SELECT id, seq, occurred_at, organization_id FROM outbox_event
                    WHERE seq IS NOT NULL ORDER BY seq LIMIT :limit),
         -- Locked, so a delivery redelivered by hand meanwhile is read as it now is (pending)
         -- rather than as this statement's snapshot had it (dead), and is not deleted with it.
         held AS MATERIALIZED (SELECT d.event_id, d.status FROM webhook_delivery d
                               WHERE d.event_id IN (SELECT id FROM oldest) FOR UPDATE OF d),
         kept AS (SELECT min(seq) AS seq FROM oldest
                  WHERE occurred_at >= :cutoff
                     OR EXISTS (SELECT FROM held
                                WHERE held.event_id = oldest.id AND held.status = 'pending')
                     -- Not read yet by the notifications, or not fanned out to an enabled
                     -- subscription of its audience (a worker back from a long stop).
                     OR oldest.seq > (SELECT seq FROM notification_cursor WHERE id = 1)
                     OR EXISTS (SELECT FROM webhook_subscription s
                                WHERE s.enabled AND s.cursor_seq < oldest.seq
                                  AND (s.organization_id = oldest.organization_id
                                       OR oldest.organization_id IS NULL)))
    DELETE FROM outbox_event
    WHERE id IN (SELECT id FROM oldest
                 WHERE seq < COALESCE((SELECT seq FROM kept), 9223372036854775807))
    RETURNING seq
    """
)


async def purge_events(session: AsyncSession, cutoff: datetime, limit: int) -> int | None:
    """Delete the oldest numbered events up to the first one written at or after ``cutoff``,
    or still waiting to be delivered to a webhook (and their deliveries): always a prefix of the
    feed, so the horizon says exactly what is gone. Returns the newest number deleted. An event
    not numbered yet, with a pending delivery, not yet read by the notifications or not yet fanned
    out to an enabled subscription of its audience is never deleted (nor any after it)."""
    first = await session.scalar(
        select(OutboxEvent.occurred_at)
        .where(col(OutboxEvent.seq).is_not(None))
        .order_by(col(OutboxEvent.seq))
        .limit(1)
    )
    if first is None or first >= cutoff:
        return None  # the common case: one index probe
    found = await session.scalars(_PURGE, {"cutoff": cutoff, "limit": limit})
    numbers = [int(seq) for seq in found.all()]
    return max(numbers) if numbers else None


async def raise_horizon(session: AsyncSession, seq: int) -> None:
    await session.execute(
        sa.update(OutboxHorizon)
        .where(col(OutboxHorizon.id) == 1, col(OutboxHorizon.seq) < seq)
        .values(seq=seq)
    )
