"""Queries about people's accounts, their invitations and recovery codes, and the sign-in
throttles.

No row-level security here (as for OAuth clients): a sign-in finds its account before anyone
knows which organisation acts. The services scope every read by organisation themselves.
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from api.models.organization import Organization
from api.models.people import (
    Invitation,
    RecoveryCode,
    SignInAccountFailures,
    SignInAddressFailures,
    UserAccount,
)
from api.repositories.base import first_pair, one_or_none

# -- accounts -------------------------------------------------------------------------------------


async def get(
    session: AsyncSession, user_id: uuid.UUID, *, lock: bool = False
) -> UserAccount | None:
    statement = select(UserAccount).where(col(UserAccount.id) == user_id)
    if lock:
        statement = statement.execution_options(populate_existing=True)
    return await one_or_none(session, statement, lock=lock)


async def get_with_organization(
    session: AsyncSession, user_id: uuid.UUID, *, lock: bool = False
) -> tuple[UserAccount, Organization] | None:
    statement = (
        select(UserAccount, Organization)
        .join(Organization, col(Organization.id) == col(UserAccount.organization_id))
        .where(col(UserAccount.id) == user_id)
    )
    if lock:
        statement = statement.with_for_update(of=UserAccount).execution_options(
            populate_existing=True
        )
    return await first_pair(session, statement)


async def find_by_login(
    session: AsyncSession, *, login_name: str | None = None, phone: str | None = None
) -> UserAccount | None:
    """The account with this (normalised) login name or phone number."""
    if login_name is not None:
        condition = col(UserAccount.login_name) == login_name
    elif phone is not None:
        condition = col(UserAccount.phone) == phone
    else:
        return None
    return await one_or_none(session, select(UserAccount).where(condition), lock=False)


async def taken(session: AsyncSession, *, login_name: str | None, phone: str | None) -> bool:
    """Whether an account already has this login name or phone number."""
    conditions = []
    if login_name is not None:
        conditions.append(col(UserAccount.login_name) == login_name)
    if phone is not None:
        conditions.append(col(UserAccount.phone) == phone)
    if not conditions:
        return False
    found = await session.execute(select(col(UserAccount.id)).where(or_(*conditions)).limit(1))
    return found.first() is not None


async def of_organization(session: AsyncSession, organization_id: uuid.UUID) -> list[UserAccount]:
    found = await session.execute(
        select(UserAccount)
        .where(col(UserAccount.organization_id) == organization_id)
        .order_by(col(UserAccount.created_at), col(UserAccount.id))
    )
    return list(found.scalars())


async def add(session: AsyncSession, *rows: UserAccount | Invitation | RecoveryCode) -> None:
    session.add_all(rows)
    await session.flush()


async def add_if_free(session: AsyncSession, user: UserAccount) -> bool:
    """Insert a new account; False (and nothing inserted) when another transaction took its
    login name or phone number since it was checked."""
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError as error:
        if "uq_user_account_" not in str(error.orig):
            raise
        return False
    return True


async def bump_generation(session: AsyncSession, user: UserAccount) -> int:
    """End the person's sessions and tokens: a new generation, counted by the database (two
    bumps at once both count)."""
    found = await session.execute(
        update(UserAccount)
        .where(col(UserAccount.id) == user.id)
        .values(generation=col(UserAccount.generation) + 1)
        .returning(col(UserAccount.generation))
    )
    generation = int(found.scalar_one())
    # The ORM's copy follows without a read (and without marking the row changed).
    set_committed_value(user, "generation", generation)
    return generation


# -- invitations ----------------------------------------------------------------------------------


async def invitation_by_hash(
    session: AsyncSession, code_hash: str
) -> tuple[Invitation, UserAccount] | None:
    """The invitation with this code's hash and its account, both locked (one use at a time)."""
    statement = (
        select(Invitation, UserAccount)
        .join(UserAccount, col(UserAccount.id) == col(Invitation.user_id))
        .where(col(Invitation.code_hash) == code_hash)
        .with_for_update()
    )
    return await first_pair(session, statement)


async def end_open_invitations(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> None:
    """Cut short the person's invitations not used yet: only the newest one works."""
    await session.execute(
        update(Invitation)
        .where(
            col(Invitation.user_id) == user_id,
            col(Invitation.used_at).is_(None),
            col(Invitation.expires_at) > now,
        )
        .values(expires_at=now)
    )


async def open_invitations(
    session: AsyncSession, user_ids: list[uuid.UUID], now: datetime
) -> dict[uuid.UUID, datetime]:
    """When each person's invitation not used yet expires (those who have one)."""
    if not user_ids:
        return {}
    found = await session.execute(
        select(col(Invitation.user_id), func.max(col(Invitation.expires_at)))
        .where(
            col(Invitation.user_id).in_(user_ids),
            col(Invitation.used_at).is_(None),
            col(Invitation.expires_at) > now,
        )
        .group_by(col(Invitation.user_id))
    )
    return {row[0]: row[1] for row in found}


async def delete_invitations_expired_before(
    session: AsyncSession, before: datetime, *, batch: int
) -> int:
    chosen = (
        select(col(Invitation.id))
        .where(col(Invitation.expires_at) < before)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(delete(Invitation).where(col(Invitation.id).in_(chosen)))
    return int(getattr(result, "rowcount", 0) or 0)


# -- recovery codes -------------------------------------------------------------------------------


async def replace_recovery_codes(
    session: AsyncSession, user_id: uuid.UUID, hashes: list[str]
) -> None:
    await delete_recovery_codes(session, user_id)
    await add(session, *(RecoveryCode(user_id=user_id, code_hash=value) for value in hashes))


async def delete_recovery_codes(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))


async def use_recovery_code(
    session: AsyncSession, user_id: uuid.UUID, code_hash: str, now: datetime
) -> bool:
    """Mark the person's unused code with this hash used; False when there is none (a wrong
    code, or one used already). One statement: two uses at once cannot both succeed."""
    result = await session.execute(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user_id,
            col(RecoveryCode.code_hash) == code_hash,
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def unused_recovery_codes(session: AsyncSession, user_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(col(RecoveryCode.user_id) == user_id, col(RecoveryCode.used_at).is_(None))
    )
    return int(count or 0)


# -- throttles ------------------------------------------------------------------------------------


async def try_lock_account(session: AsyncSession, key: str) -> bool:
    """Take the account's (or login's) sign-in lock until this transaction ends, without
    waiting: False when another attempt on it is under way."""
    locked = await session.scalar(
        select(func.pg_try_advisory_xact_lock(func.hashtextextended(f"sign-in/{key}", 0)))
    )
    return bool(locked)


async def account_failures(session: AsyncSession, key: str) -> SignInAccountFailures | None:
    return await session.get(SignInAccountFailures, key, populate_existing=True)


async def save_account_failures(
    session: AsyncSession, key: str, failures: int, at: datetime, blocked_until: datetime
) -> None:
    statement = insert(SignInAccountFailures).values(
        key=key, failures=failures, last_failure_at=at, blocked_until=blocked_until
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[col(SignInAccountFailures.key)],
            set_={
                "failures": statement.excluded.failures,
                "last_failure_at": statement.excluded.last_failure_at,
                "blocked_until": statement.excluded.blocked_until,
            },
        )
    )


async def forget_account_failures(session: AsyncSession, key: str) -> None:
    await session.execute(
        delete(SignInAccountFailures).where(col(SignInAccountFailures.key) == key)
    )


async def address_arrival(session: AsyncSession, key: str) -> datetime | None:
    return await session.scalar(
        select(col(SignInAddressFailures.arrival)).where(col(SignInAddressFailures.key) == key)
    )


async def count_address_failure(
    session: AsyncSession, key: str, now: datetime, interval: timedelta
) -> datetime:
    """One more failure from the address, in one statement (concurrent failures all count):
    its arrival moves one interval past the later of itself and now. Returns the new one."""
    statement = insert(SignInAddressFailures).values(key=key, arrival=now + interval)
    found = await session.execute(
        statement.on_conflict_do_update(
            index_elements=[col(SignInAddressFailures.key)],
            set_={
                "arrival": func.greatest(col(SignInAddressFailures.arrival), now) + interval,
            },
        ).returning(col(SignInAddressFailures.arrival))
    )
    arrival: datetime = found.scalar_one()
    return arrival


async def delete_stale_throttles(
    session: AsyncSession, now: datetime, failures_before: datetime, *, batch: int
) -> int:
    """Forget accounts that are not waiting and failed last before ``failures_before``, and
    addresses whose arrival has passed."""
    accounts = (
        select(col(SignInAccountFailures.key))
        .where(
            col(SignInAccountFailures.blocked_until) < now,
            col(SignInAccountFailures.last_failure_at) < failures_before,
        )
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    removed = await session.execute(
        delete(SignInAccountFailures).where(col(SignInAccountFailures.key).in_(accounts))
    )
    addresses = (
        select(col(SignInAddressFailures.key))
        .where(col(SignInAddressFailures.arrival) < now)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    also = await session.execute(
        delete(SignInAddressFailures).where(col(SignInAddressFailures.key).in_(addresses))
    )
    return int(getattr(removed, "rowcount", 0) or 0) + int(getattr(also, "rowcount", 0) or 0)


async def totp_not_sealed_by(
    session: AsyncSession, version: int, *, limit: int
) -> list[UserAccount]:
    """Accounts with a TOTP secret (confirmed or pending) sealed by another master key."""
    found = await session.execute(
        select(UserAccount)
        .where(
            or_(
                col(UserAccount.totp_secret_version) != version,
                col(UserAccount.totp_pending_version) != version,
            )
        )
        .order_by(col(UserAccount.id))
        .limit(limit)
        .with_for_update()
    )
    return list(found.scalars())
