"""Queries about access tokens and used client assertions."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.models.oauth import OAuthAssertion, OAuthClient, OAuthToken
from api.models.organization import Organization


@dataclass(frozen=True)
class ActiveToken:
    token: OAuthToken
    client_id: str
    client_disabled: bool
    organization_status: str


async def find(session: AsyncSession, token_hash: str) -> ActiveToken | None:
    """A token by hash, with what decides whether it still works."""
    statement = (
        select(
            OAuthToken,
            col(OAuthClient.client_id),
            col(OAuthClient.disabled_at),
            col(Organization.status),
        )
        .join(OAuthClient, col(OAuthClient.id) == col(OAuthToken.client_pk))
        .join(Organization, col(Organization.id) == col(OAuthToken.organization_id))
        .where(col(OAuthToken.token_hash) == token_hash)
    )
    row = (await session.execute(statement)).one_or_none()
    if row is None:
        return None
    token, client_id, disabled_at, status = row
    return ActiveToken(token, client_id, disabled_at is not None, status)


async def add(session: AsyncSession, token: OAuthToken) -> None:
    session.add(token)
    await session.flush()


async def revoke(session: AsyncSession, token_hash: str, at: datetime) -> None:
    await session.execute(
        update(OAuthToken)
        .where(col(OAuthToken.token_hash) == token_hash, col(OAuthToken.revoked_at).is_(None))
        .values(revoked_at=at)
    )


async def revoke_all_for_client(session: AsyncSession, client_pk: uuid.UUID, at: datetime) -> None:
    await session.execute(
        update(OAuthToken)
        .where(col(OAuthToken.client_pk) == client_pk, col(OAuthToken.revoked_at).is_(None))
        .values(revoked_at=at)
    )


async def use_assertion(
    session: AsyncSession, client_pk: uuid.UUID, jti: str, expires_at: datetime
) -> bool:
    """Record an assertion's jti; False when this client already used it (a replay)."""
    statement = (
        insert(OAuthAssertion)
        .values(client_pk=client_pk, jti=jti, expires_at=expires_at)
        .on_conflict_do_nothing()
        .returning(col(OAuthAssertion.jti))
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def delete_expired(session: AsyncSession, before: datetime, batch: int) -> int:
    """Remove tokens and assertions that expired before ``before``, at most ``batch`` of each."""
    tokens = (
        select(col(OAuthToken.token_hash)).where(col(OAuthToken.expires_at) < before).limit(batch)
    )
    assertions = (
        select(col(OAuthAssertion.client_pk), col(OAuthAssertion.jti))
        .where(col(OAuthAssertion.expires_at) < before)
        .limit(batch)
    )
    removed_tokens = await session.execute(
        delete(OAuthToken).where(col(OAuthToken.token_hash).in_(tokens))
    )
    removed_assertions = await session.execute(
        delete(OAuthAssertion).where(
            tuple_(col(OAuthAssertion.client_pk), col(OAuthAssertion.jti)).in_(assertions)
        )
    )
    return _rowcount(removed_tokens) + _rowcount(removed_assertions)


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
