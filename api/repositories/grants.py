"""Queries about what people let apps do: authorization codes, families of refresh tokens and
the refresh tokens themselves (``api/models/oauth.py``).

A code and a refresh token are each used once: ``use_code`` and ``use_refresh_token`` mark them
used only if nobody has (one statement, so that two requests racing with the same value cannot
both win), and tell the caller whether it did.
"""

import uuid
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.models.oauth import (
    OAuthAuthorizationCode,
    OAuthRefreshToken,
    OAuthToken,
    OAuthTokenFamily,
)
from api.repositories.base import first_pair


async def add_code(session: AsyncSession, code: OAuthAuthorizationCode) -> None:
    session.add(code)
    await session.flush()


async def find_code(session: AsyncSession, code_hash: str) -> OAuthAuthorizationCode | None:
    statement = select(OAuthAuthorizationCode).where(
        col(OAuthAuthorizationCode.code_hash) == code_hash
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def use_code(
    session: AsyncSession, code_hash: str, family_id: uuid.UUID, at: datetime
) -> bool:
    """Mark the code used, by the family it starts; False when it was used already."""
    result = await session.execute(
        update(OAuthAuthorizationCode)
        .where(
            col(OAuthAuthorizationCode.code_hash) == code_hash,
            col(OAuthAuthorizationCode.used_at).is_(None),
        )
        .values(used_at=at, family_id=family_id)
        .returning(col(OAuthAuthorizationCode.code_hash))
    )
    return result.scalar_one_or_none() is not None


async def add_family(session: AsyncSession, family: OAuthTokenFamily) -> None:
    session.add(family)
    await session.flush()


async def add_refresh_token(session: AsyncSession, token: OAuthRefreshToken) -> None:
    session.add(token)
    await session.flush()


async def find_refresh_token(
    session: AsyncSession, token_hash: str
) -> tuple[OAuthRefreshToken, OAuthTokenFamily] | None:
    return await first_pair(
        session,
        select(OAuthRefreshToken, OAuthTokenFamily)
        .join(OAuthTokenFamily, col(OAuthTokenFamily.id) == col(OAuthRefreshToken.family_id))
        .where(col(OAuthRefreshToken.token_hash) == token_hash),
    )


async def use_refresh_token(session: AsyncSession, token_hash: str, at: datetime) -> bool:
    """Mark the refresh token used (rotated); False when it was used already."""
    result = await session.execute(
        update(OAuthRefreshToken)
        .where(
            col(OAuthRefreshToken.token_hash) == token_hash,
            col(OAuthRefreshToken.used_at).is_(None),
        )
        .values(used_at=at)
        .returning(col(OAuthRefreshToken.token_hash))
    )
    return result.scalar_one_or_none() is not None


async def revoke_family(session: AsyncSession, family_id: uuid.UUID, at: datetime) -> bool:
    """Revoke the family and every access token it gave; False when it was revoked already."""
    result = await session.execute(
        update(OAuthTokenFamily)
        .where(col(OAuthTokenFamily.id) == family_id, col(OAuthTokenFamily.revoked_at).is_(None))
        .values(revoked_at=at)
        .returning(col(OAuthTokenFamily.id))
    )
    await session.execute(
        update(OAuthToken)
        .where(col(OAuthToken.family_id) == family_id, col(OAuthToken.revoked_at).is_(None))
        .values(revoked_at=at)
    )
    return result.scalar_one_or_none() is not None


async def delete_expired(session: AsyncSession, before: datetime, batch: int) -> int:
    """Remove codes and families (with their refresh and access tokens) that ended before
    ``before``, at most ``batch`` of each."""
    codes = (
        select(col(OAuthAuthorizationCode.code_hash))
        .where(col(OAuthAuthorizationCode.expires_at) < before)
        .limit(batch)
    )
    families = (
        select(col(OAuthTokenFamily.id))
        .where(col(OAuthTokenFamily.expires_at) < before)
        .limit(batch)
    )
    removed_codes = await session.execute(
        delete(OAuthAuthorizationCode).where(col(OAuthAuthorizationCode.code_hash).in_(codes))
    )
    removed_families = await session.execute(
        delete(OAuthTokenFamily).where(col(OAuthTokenFamily.id).in_(families))
    )
    return _rowcount(removed_codes) + _rowcount(removed_families)


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
