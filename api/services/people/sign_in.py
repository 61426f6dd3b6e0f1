"""Signing in: login and password, then the second factor (a TOTP code, or a recovery code),
each step throttled (``throttle``) and audited with the person's pseudonymous id only.

The steps a page (or an app's sign-in) goes through:

1. ``sign_in(login, password, address)`` answers ``Refused``, ``SecondFactorNeeded``,
   ``EnrolmentNeeded`` or ``SignedIn``.
2. After ``SecondFactorNeeded``: ``verify_second_factor(user_id, generation, code, address)``
   or ``use_recovery_code(...)``: ``Refused`` or ``SignedIn``.
3. After ``EnrolmentNeeded``: ``enrol_totp`` then ``confirm_totp(during_sign_in=True)``
   (``second_factor``).
4. On every later request: ``current_user(user_id, generation)``: the person, or None when the
   account was deactivated, reset, changed role, signed out everywhere or its organisation
   suspended since.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import passwords, totp
from api.auth.holds import account_holds
from api.auth.principal import Principal
from api.auth.tokens import RECOVERY_CODE_LENGTH, canonical_code, keyed_hash
from api.config import Settings
from api.models.audit import Outcome
from api.models.organization import Organization, OrganizationStatus
from api.models.people import UserAccount, UserRole
from api.repositories import people as repository
from api.services import audit
from api.services.audit import Action, Actor
from api.services.people import throttle
from api.services.people.identifiers import parse_login
from api.services.people.steps import (
    RESOURCE,
    TOTP_COLUMN,
    Refused,
    SignedIn,
    SignedInUser,
    SignInStep,
    next_step,
    usable,
)

NO_ACCOUNT = uuid.UUID(int=0)


def recovery_code_hash(settings: Settings, canonical: str) -> str:
    return keyed_hash(settings.secret_key.get_secret_value(), f"recovery-code:{canonical}")


async def refuse(
    session: AsyncSession,
    settings: Settings,
    keys: throttle.Keys,
    now: datetime,
    user: UserAccount | None,
) -> Refused:
    """Count the failure and audit it (``audit_failure``)."""
    wait = await throttle.failed(session, settings, keys, now)
    await audit_failure(session, Action.user_sign_in, user)
    return Refused(retry_after=wait)


async def audit_failure(session: AsyncSession, action: Action, user: UserAccount | None) -> None:
    """Audit a refused step of a sign-in (or of taking an invitation): the account tried (if
    any) as the resource, nobody as the actor; never the login, the password or the code."""
    await audit.record(
        session,
        audit.SIGN_IN,
        action,
        RESOURCE,
        [user.id] if user else [],
        [user.organization_id] if user else [],
        Outcome.failure,
    )


async def by_themselves(session: AsyncSession, user: UserAccount, action: Action) -> None:
    """Audit what a person did to their own account, as that person (a pseudonymous id)."""
    await audit.record(
        session,
        Actor.person(user.organization_id, user.id),
        action,
        RESOURCE,
        [user.id],
        [user.organization_id],
    )


async def complete(
    session: AsyncSession,
    settings: Settings,
    keys: throttle.Keys,
    user: UserAccount,
    now: datetime,
) -> SignedIn:
    """The person is in: their failures are forgotten, the time kept, the sign-in audited, and
    the browser given a device token."""
    user.last_sign_in_at = now
    await repository.add(session, user)
    await throttle.succeeded(session, keys)
    await by_themselves(session, user, Action.user_sign_in)
    return SignedIn(SignedInUser.of(user), throttle.device_token(settings, user.id))


async def _account(
    session: AsyncSession, user_id: uuid.UUID
) -> tuple[UserAccount | None, Organization | None]:
    found = await repository.get_with_organization(session, user_id, lock=True)
    return found if found else (None, None)


async def sign_in(
    session: AsyncSession,
    settings: Settings,
    login: str,
    password: str,
    address: str | None,
    *,
    device: str | None = None,
) -> SignInStep:
    """The first step: a login name or phone number and a password (``device``: the token an
    earlier sign-in gave this browser, if it brings one: see ``throttle``)."""
    now = datetime.now(UTC)
    parsed = parse_login(login)
    user = None
    if parsed is not None:
        user = await repository.find_by_login(
            session, login_name=parsed.login_name, phone=parsed.phone
        )
    keys = throttle.keys(
        settings,
        address,
        user_id=user.id if user else None,
        login=parsed.canonical if parsed else login.strip().casefold()[:128],
        device=device,
    )
    wait = await throttle.begin(session, settings, keys, now)
    if wait > 0:
        return Refused(retry_after=wait)
    # The account read again, locked and fresh (the same query for no account: the same time).
    user, organization = await _account(session, user.id if user else NO_ACCOUNT)
    stored = user.password_hash if user is not None and usable(user, organization) else None
    verified = await passwords.verify(settings, stored, password)
    if user is None or not verified.ok:
        return await refuse(session, settings, keys, now, user)
    if verified.rehashed is not None:
        user.password_hash = verified.rehashed
        await repository.add(session, user)
    step = next_step(user)
    if step is not None:
        return step
    return await complete(session, settings, keys, user, now)


# Whether a second step's code is right for the account (and, if so, spends it) at ``now``.
CodeCheck = Callable[[AsyncSession, Settings, UserAccount, str, datetime], Awaitable[bool]]


@dataclass(frozen=True)
class SecondStep:
    """A second step of a sign-in, after ``SecondFactorNeeded``: the throttle, the account still
    as it was when its password was checked (same generation, still usable, with a confirmed
    authenticator), then the code, which ``accepts`` (a wrong one is counted and audited); then
    the person is signed in."""

    accepts: CodeCheck

    async def __call__(
        self,
        session: AsyncSession,
        settings: Settings,
        user_id: uuid.UUID,
        generation: int,
        code: str,
        address: str | None,
        *,
        device: str | None = None,
    ) -> Refused | SignedIn:
        now = datetime.now(UTC)
        keys = throttle.keys(settings, address, user_id=user_id, device=device)
        wait = await throttle.begin(session, settings, keys, now)
        if wait > 0:
            return Refused(retry_after=wait)
        user, organization = await _account(session, user_id)
        if (
            user is None
            or not usable(user, organization)
            or user.generation != generation
            or user.totp_secret is None
            or not await self.accepts(session, settings, user, code, now)
        ):
            return await refuse(session, settings, keys, now, user)
        return await complete(session, settings, keys, user, now)


async def _authenticator_code(
    session: AsyncSession, settings: Settings, user: UserAccount, code: str, now: datetime
) -> bool:
    """A TOTP code of the current 30-second step or the one either side, and later than the
    last one accepted (a code is never accepted twice)."""
    assert user.totp_secret is not None
    assert user.totp_secret_version is not None
    secret = settings.master.open(
        user.totp_secret, user.totp_secret_version, table=RESOURCE, column=TOTP_COLUMN, row=user.id
    ).decode()
    step = totp.matching_step(secret, code, now, user.last_totp_step)
    if step is None:
        return False
    user.last_totp_step = step
    return True


async def _recovery_code(
    session: AsyncSession, settings: Settings, user: UserAccount, code: str, now: datetime
) -> bool:
    """The second step without the authenticator: one of the person's recovery codes, each
    good once."""
    canonical = canonical_code(code, RECOVERY_CODE_LENGTH)
    used = canonical is not None and await repository.use_recovery_code(
        session, user.id, recovery_code_hash(settings, canonical), now
    )
    if used:
        await by_themselves(session, user, Action.user_recovery_code_use)
    return used


verify_second_factor = SecondStep(_authenticator_code)
use_recovery_code = SecondStep(_recovery_code)


async def current_user(
    session: AsyncSession, user_id: uuid.UUID, generation: int
) -> SignedInUser | None:
    """The person a session or token names, if it still holds: the account not deactivated,
    its organisation active, the generation the same (no deactivation, reset, role change or
    "sign out everywhere" since) and, for a role that needs one, its authenticator confirmed
    (``account_holds``, the rule a person's bearer token is checked by too)."""
    found = await repository.get_with_organization(session, user_id)
    if found is None:
        return None
    user, organization = found
    holds = account_holds(
        role=UserRole(user.role),
        deactivated=user.deactivated_at is not None,
        organization_active=organization.status == OrganizationStatus.active.value,
        generation=user.generation,
        expected_generation=generation,
        second_factor=user.totp_secret is not None,
    )
    return SignedInUser.of(user) if holds else None


async def sign_out_everywhere(session: AsyncSession, principal: Principal) -> int:
    """End every session and token of the person signed in as ``principal`` (this one too):
    returns the new generation."""
    if principal.user_id is None:
        raise ValueError("only a person signs out")
    user = await repository.get(session, principal.user_id, lock=True)
    if user is None:
        raise ValueError("the person's account is gone")
    generation = await repository.bump_generation(session, user)
    await audit.record(
        session,
        principal,
        Action.user_sign_out_everywhere,
        RESOURCE,
        [user.id],
        [user.organization_id],
    )
    return generation
