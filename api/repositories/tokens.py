"""Queries about access tokens and used client assertions."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Text, bindparam, delete, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from api.db import Compiled, Database
from api.models.oauth import OAuthAssertion, OAuthClient, OAuthToken
from api.models.organization import Organization, OrganizationStatus
from api.models.people import UserAccount


@dataclass(frozen=True, slots=True)
class PersonOfToken:
    """The person a token acts for, and what of their account decides whether it still holds
    (``api/auth/holds.py``: the rule ``current_user`` applies)."""

    user_id: uuid.UUID
    token_generation: int
    """The generation of the account the token was issued in."""
    role: str
    account_generation: int
    deactivated: bool
    second_factor: bool


@dataclass(frozen=True, slots=True)
class ActiveToken:
    """A stored token with what decides whether it still works (a plain, read-only record: an
    ORM instance costs more to build than the query that found it)."""

    token_hash: str
    client_pk: uuid.UUID
    organization_id: uuid.UUID
    scopes: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    client_id: str
    client_disabled: bool
    organization_status: str
    client_organization_status: str = OrganizationStatus.active.value
    """The client's own organisation's (the token's is the person's, for an app acting for a
    person; the client's, otherwise)."""
    person: PersonOfToken | None = None
    family_id: uuid.UUID | None = None

    @property
    def works(self) -> bool:
        """Neither revoked nor its client disabled nor its organisation or its client's
        suspended (its expiry is checked against the clock on each use; a person's account by
        ``api/auth/holds.token_holds``)."""
        active = OrganizationStatus.active.value
        return (
            self.revoked_at is None
            and not self.client_disabled
            and self.organization_status == active
            and self.client_organization_status == active
        )


_ClientOrganization = aliased(Organization)

# Every authenticated request runs this: compiled once, run on the driver (see ``Compiled``).
_FIND = Compiled(
    select(
        col(OAuthToken.token_hash),
        col(OAuthToken.client_pk),
        col(OAuthToken.organization_id),
        col(OAuthToken.scopes),
        col(OAuthToken.issued_at),
        col(OAuthToken.expires_at),
        col(OAuthToken.revoked_at),
        col(OAuthClient.client_id),
        col(OAuthClient.disabled_at),
        col(Organization.status),
        col(_ClientOrganization.status),
        col(OAuthToken.user_id),
        col(OAuthToken.user_generation),
        col(OAuthToken.family_id),
        col(UserAccount.role),
        col(UserAccount.generation),
        col(UserAccount.deactivated_at),
        col(UserAccount.totp_secret).is_not(None),
    )
    .join(OAuthClient, col(OAuthClient.id) == col(OAuthToken.client_pk))
    .join(Organization, col(Organization.id) == col(OAuthToken.organization_id))
    .join(_ClientOrganization, col(_ClientOrganization.id) == col(OAuthClient.organization_id))
    .outerjoin(UserAccount, col(UserAccount.id) == col(OAuthToken.user_id))
    .where(col(OAuthToken.token_hash) == bindparam("token_hash", "", Text))
)


async def find(database: Database, token_hash: str) -> ActiveToken | None:
    """A token by hash, with what decides whether it still works."""
    rows = await _FIND.fetch(database, token_hash=token_hash)
    if not rows:
        return None
    row = rows[0]
    person = None
    if row[11] is not None:
        person = PersonOfToken(
            user_id=row[11],
            token_generation=row[12],
            role=row[14],
            account_generation=row[15],
            deactivated=row[16] is not None,
            second_factor=row[17],
        )
    return ActiveToken(
        token_hash=row[0],
        client_pk=row[1],
        organization_id=row[2],
        scopes=tuple(row[3]),
        issued_at=row[4],
        expires_at=row[5],
        revoked_at=row[6],
        client_id=row[7],
        client_disabled=row[8] is not None,
        organization_status=row[9],
        client_organization_status=row[10],
        person=person,
        family_id=row[13],
    )


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


async def last_issued(
    session: AsyncSession, client_pks: list[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    """When each of these clients last got a token still kept (tokens are removed once
    expired: an older use is not known)."""
    if not client_pks:
        return {}
    rows = await session.execute(
        select(col(OAuthToken.client_pk), func.max(col(OAuthToken.issued_at)))
        .where(col(OAuthToken.client_pk).in_(client_pks))
        .group_by(col(OAuthToken.client_pk))
    )
    return {row[0]: row[1] for row in rows}


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
