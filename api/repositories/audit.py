"""SQL of the audit trail: events, the chain, checkpoints."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from api.models.audit import AuditChain, AuditCheckpoint, AuditEvent, AuditPending

# One sealer at a time, cluster-wide: an arbitrary constant naming this lock.
SEAL_LOCK = 0x52454C4159_41  # "RELAY" "A"


async def add_event(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(sa.insert(AuditEvent).values(**values))


async def try_seal_lock(session: AsyncSession) -> bool:
    locked = await session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(SEAL_LOCK)))
    return bool(locked)


async def chain_head(session: AsyncSession) -> AuditChain | None:
    found = await session.scalars(select(AuditChain).order_by(col(AuditChain.seq).desc()).limit(1))
    return found.first()


async def unsealed(session: AsyncSession, limit: int) -> list[AuditEvent]:
    """Committed events not chained yet, oldest written first."""
    query = (
        select(AuditEvent)
        .join(AuditPending, col(AuditPending.position) == col(AuditEvent.position))
        .order_by(col(AuditPending.position))
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def pending(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many committed events wait to be chained, and when the oldest was recorded."""
    found = await session.execute(
        sa.select(sa.func.count(), sa.func.min(col(AuditEvent.at))).join(
            AuditPending, col(AuditPending.position) == col(AuditEvent.position)
        )
    )
    count, oldest = found.one()
    return int(count), oldest


async def count_unsealed(session: AsyncSession) -> int:
    return int(await session.scalar(sa.select(sa.func.count()).select_from(AuditPending)) or 0)


async def add_links(session: AsyncSession, links: Sequence[dict[str, Any]]) -> None:
    """Chain the events and take them off the queue, in the caller's transaction."""
    if links:
        await session.execute(sa.insert(AuditChain), list(links))
        await session.execute(
            sa.delete(AuditPending).where(
                col(AuditPending.position).in_([item["event_position"] for item in links])
            )
        )


async def last_checkpoint(session: AsyncSession) -> AuditCheckpoint | None:
    found = await session.scalars(
        select(AuditCheckpoint).order_by(col(AuditCheckpoint.seq).desc()).limit(1)
    )
    return found.first()


async def add_checkpoint(session: AsyncSession, checkpoint: AuditCheckpoint) -> int:
    inserted = await session.execute(
        upsert(AuditCheckpoint)
        .values(checkpoint.model_dump())
        .on_conflict_do_nothing(index_elements=["seq"])
        .returning(col(AuditCheckpoint.seq))
    )
    return len(inserted.all())


async def checkpoints(
    session: AsyncSession, after: int, limit: int | None
) -> list[AuditCheckpoint]:
    query = (
        select(AuditCheckpoint)
        .where(col(AuditCheckpoint.seq) > after)
        .order_by(col(AuditCheckpoint.seq))
    )
    if limit is not None:
        query = query.limit(limit)
    return list((await session.scalars(query)).all())


async def chain_with_events(
    session: AsyncSession, after: int, limit: int
) -> list[tuple[AuditChain, AuditEvent | None]]:
    """Links after ``after`` with their events; None for an event no longer in the table (an
    archived month, or a deleted event: the verifier tells them apart)."""
    found = await session.execute(
        select(AuditChain, AuditEvent)
        .outerjoin(AuditEvent, col(AuditEvent.id) == col(AuditChain.event_id))
        .where(col(AuditChain.seq) > after)
        .order_by(col(AuditChain.seq))
        .limit(limit)
    )
    return [(row[0], row[1]) for row in found.all()]


async def events_for(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    since: datetime | None,
    until: datetime | None,
    actions: Sequence[str],
    resource_type: str | None,
    resource_id: str | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[tuple[AuditEvent, int | None]]:
    """Events about resources the organisation is party to, newest first, with their seq once
    sealed."""
    query = (
        select(AuditEvent, AuditChain.seq)
        .outerjoin(AuditChain, col(AuditChain.event_id) == col(AuditEvent.id))
        .where(col(AuditEvent.parties).contains([organization_id]))
    )
    if since is not None:
        query = query.where(col(AuditEvent.at) >= since)
    if until is not None:
        query = query.where(col(AuditEvent.at) < until)
    if actions:
        query = query.where(col(AuditEvent.action).in_(actions))
    if resource_type is not None:
        query = query.where(col(AuditEvent.resource_type) == resource_type)
    if resource_id is not None:
        query = query.where(col(AuditEvent.resource_ids).contains([resource_id]))
    if before is not None:
        query = query.where(sa.tuple_(col(AuditEvent.at), col(AuditEvent.id)) < before)
    query = query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(limit)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]
