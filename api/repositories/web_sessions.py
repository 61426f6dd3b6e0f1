"""Queries about web sessions (``web_session``): found by the keyed hash of their cookie's
value, never by the value. No row-level security: a session is found before anyone knows who
acts, and names only its own person."""

import uuid
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.models.people import WebSession
from api.repositories.base import one_or_none


async def find(session: AsyncSession, token_hash: str) -> WebSession | None:
    statement = select(WebSession).where(col(WebSession.token_hash) == token_hash)
    return await one_or_none(session, statement, lock=False)


async def add(session: AsyncSession, web_session: WebSession) -> None:
    session.add(web_session)
    await session.flush()


async def delete_one(session: AsyncSession, token_hash: str) -> None:
    await session.execute(delete(WebSession).where(col(WebSession.token_hash) == token_hash))


async def delete_of_person(session: AsyncSession, user_id: uuid.UUID) -> int:
    result = await session.execute(delete(WebSession).where(col(WebSession.user_id) == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


async def _set(session: AsyncSession, token_hash: str, **values: object) -> None:
    """Change columns of one session (named by its token's hash)."""
    await session.execute(
        update(WebSession)
        .where(col(WebSession.token_hash) == token_hash)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def touch(session: AsyncSession, token_hash: str, now: datetime) -> None:
    await _set(session, token_hash, last_seen_at=now)


async def set_language(session: AsyncSession, token_hash: str, language: str) -> None:
    await _set(session, token_hash, language=language)


async def hold_invitation(
    session: AsyncSession, token_hash: str, sealed: bytes | None, version: int | None
) -> None:
    await _set(session, token_hash, invitation_code=sealed, invitation_code_version=version)


async def delete_expired(
    session: AsyncSession, now: datetime, idle_since: datetime, *, batch: int
) -> int:
    """Sessions past their absolute end, or not used since ``idle_since``."""
    chosen = (
        select(col(WebSession.token_hash))
        .where(or_(col(WebSession.expires_at) <= now, col(WebSession.last_seen_at) <= idle_since))
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(delete(WebSession).where(col(WebSession.token_hash).in_(chosen)))
    return int(getattr(result, "rowcount", 0) or 0)
