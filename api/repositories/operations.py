"""What the worker has left to do and when its jobs last succeeded: the numbers ``/metrics``
exposes and the worker checks its own lag against. Counts and times only."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from api.models.worker import WorkerJob


@dataclass(frozen=True)
class Backlog:
    unsequenced_events: int
    oldest_unsequenced_event: datetime | None
    """Committed events the worker has not numbered yet: invisible to the feed and webhooks."""
    oldest_undelivered_event: datetime | None
    """The oldest event some enabled webhook has not received: not numbered, not fanned out, or
    waiting in a delivery (a receiver that is down keeps this old: see ``oldest_due_delivery``)."""
    deliveries_pending: int
    deliveries_dead: int
    oldest_due_delivery: datetime | None
    """When the longest-waiting delivery that is due now became due: the worker's own lag."""
    audit_unsealed: int
    oldest_audit_unsealed: datetime | None
    referrals_overdue: int
    """Referrals past their due time and still not received."""


_BACKLOG = sa.text(
    """
    SELECT
      (SELECT count(*) FROM outbox_event WHERE seq IS NULL) AS unsequenced_events,
      (SELECT min(occurred_at) FROM outbox_event WHERE seq IS NULL) AS oldest_unsequenced_event,
      (SELECT min(oldest) FROM (
         SELECT min(e.occurred_at) AS oldest FROM outbox_event e WHERE e.seq IS NULL
         UNION ALL
         SELECT (SELECT e.occurred_at FROM outbox_event e
                 WHERE (e.organization_id = s.organization_id OR e.organization_id IS NULL)
                   AND e.seq > s.cursor_seq
                 ORDER BY e.seq LIMIT 1)
         FROM webhook_subscription s WHERE s.enabled
         UNION ALL
         SELECT min(e.occurred_at) FROM webhook_delivery d
           JOIN outbox_event e ON e.id = d.event_id
           JOIN webhook_subscription s ON s.id = d.subscription_id
         WHERE d.status = 'pending' AND s.enabled
       ) AS waiting) AS oldest_undelivered_event,
      (SELECT count(*) FROM webhook_delivery WHERE status = 'pending') AS deliveries_pending,
      (SELECT count(*) FROM webhook_delivery WHERE status = 'dead') AS deliveries_dead,
      (SELECT min(next_attempt_at) FROM webhook_delivery
       WHERE status = 'pending' AND next_attempt_at <= :now) AS oldest_due_delivery,
      (SELECT count(*) FROM audit_pending) AS audit_unsealed,
      (SELECT min(a.at) FROM audit_pending p JOIN audit_event a ON a.position = p.position)
        AS oldest_audit_unsealed,
      (SELECT count(*) FROM referral WHERE status = 'requested' AND due_at < :now)
        AS referrals_overdue
    """
)


async def backlog(session: AsyncSession, now: datetime) -> Backlog:
    """One round trip. The caller acts as the worker (row-level security would hide rows)."""
    row = (await session.execute(_BACKLOG, {"now": now})).mappings().one()
    return Backlog(**row)


async def record_jobs(
    session: AsyncSession, at: datetime, succeeded: Sequence[str], failed: Sequence[str]
) -> None:
    """Each job's last success or failure (a statement for each kind)."""
    for column, names in (("last_success_at", succeeded), ("last_failure_at", failed)):
        if names:
            statement = upsert(WorkerJob).values([{"name": name, column: at} for name in names])
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["name"], set_={column: statement.excluded[column]}
                )
            )


async def jobs(session: AsyncSession) -> list[WorkerJob]:
    return list((await session.scalars(select(WorkerJob).order_by(col(WorkerJob.name)))).all())
