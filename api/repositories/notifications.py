"""Every query on people's notification contacts and the notifications of urgent referrals.
No row-level security here (as the people's tables): the people service decides who manages
whose contact, and only the worker reads notifications."""

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.models.events import OutboxEvent
from api.models.notifications import (
    Notification,
    NotificationContact,
    NotificationCursor,
)
from api.models.people import UserAccount


async def contact(session: AsyncSession, user_id: uuid.UUID) -> NotificationContact | None:
    return await session.get(NotificationContact, user_id)


async def save_contact(session: AsyncSession, row: NotificationContact) -> None:
    statement = insert(NotificationContact).values(
        user_id=row.user_id,
        organization_id=row.organization_id,
        channel=row.channel,
        address=row.address,
        updated_at=row.updated_at,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id"],
            set_={
                "channel": statement.excluded.channel,
                "address": statement.excluded.address,
                "updated_at": statement.excluded.updated_at,
            },
        )
    )


async def delete_contact(session: AsyncSession, user_id: uuid.UUID) -> bool:
    found = await session.get(NotificationContact, user_id)
    if found is None:
        return False
    await session.delete(found)
    await session.flush()
    return True


async def lock_cursor(session: AsyncSession) -> NotificationCursor | None:
    """The outbox cursor, locked; None while another worker holds it (it reads the same events)."""
    found = await session.execute(
        select(NotificationCursor).with_for_update(skip_locked=True).limit(1)
    )
    return found.scalar_one_or_none()


async def events_after(session: AsyncSession, after: int, limit: int) -> list[OutboxEvent]:
    """Numbered outbox events after ``after``, in order (every type: the cursor passes them all)."""
    rows = await session.scalars(
        select(OutboxEvent)
        .where(col(OutboxEvent.seq) > after)
        .order_by(col(OutboxEvent.seq))
        .limit(limit)
    )
    return list(rows)


async def recipients(
    session: AsyncSession, organization_id: uuid.UUID, roles: Collection[str]
) -> list[uuid.UUID]:
    """The people of the organisation with a contact, active and of one of ``roles``."""
    rows = await session.scalars(
        select(col(NotificationContact.user_id))
        .join(UserAccount, col(UserAccount.id) == col(NotificationContact.user_id))
        .where(
            col(UserAccount.organization_id) == organization_id,
            col(UserAccount.deactivated_at).is_(None),
            col(UserAccount.role).in_(list(roles)),
        )
    )
    return list(rows)


async def queue(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Insert notifications; one already queued for the person and referral is left as it is."""
    if not rows:
        return 0
    result = await session.execute(
        insert(Notification)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["user_id", "referral_id"])
        .returning(col(Notification.id))
    )
    return len(result.all())


async def advance(session: AsyncSession, cursor: NotificationCursor, seq: int) -> None:
    cursor.seq = seq
    session.add(cursor)
    await session.flush()


async def due(
    session: AsyncSession, now: datetime, limit: int
) -> list[tuple[Notification, NotificationContact | None, str]]:
    """Notifications not sent whose time has come, locked (another worker skips them), each with
    the person's contact now (None: removed since) and their preferred language."""
    rows = await session.execute(
        select(Notification, NotificationContact, col(UserAccount.preferred_language))
        .join(UserAccount, col(UserAccount.id) == col(Notification.user_id))
        .outerjoin(
            NotificationContact,
            col(NotificationContact.user_id) == col(Notification.user_id),
        )
        .where(col(Notification.sent_at).is_(None), col(Notification.next_attempt_at) <= now)
        .order_by(col(Notification.next_attempt_at))
        .limit(limit)
        .with_for_update(of=Notification, skip_locked=True)
    )
    return [(row[0], row[1], row[2]) for row in rows.all()]


async def mark(session: AsyncSession, ids: Sequence[uuid.UUID], **values: Any) -> None:
    await session.execute(
        update(Notification).where(col(Notification.id).in_(list(ids))).values(**values)
    )


async def mark_failed(
    session: AsyncSession, ids: Sequence[uuid.UUID], next_attempt_at: datetime, error: str
) -> None:
    await session.execute(
        update(Notification)
        .where(col(Notification.id).in_(list(ids)))
        .values(
            attempts=col(Notification.attempts) + 1,
            next_attempt_at=next_attempt_at,
            last_error=error,
        )
    )
