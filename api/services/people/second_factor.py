"""The second factor: a TOTP authenticator (RFC 6238) and recovery codes.

Enrolment is two steps: ``enrol_totp`` makes a secret, sealed by the master key, and shows it
once (a provisioning URI for the QR code, and the secret to type); ``confirm_totp`` takes a
first code of it, and only then does it replace the authenticator the account had (which works
until that moment). The first confirmation makes ``RECOVERY_CODES`` recovery codes, shown once
and kept as keyed hashes; each opens the account once when the authenticator is lost
(``use_recovery_code``), and ``regenerate_recovery_codes`` replaces them all. Replacing the
authenticator ends the person's other sessions and tokens (a new generation).

A role that reads a person's data cannot be signed in without a confirmed authenticator: its
first sign-in goes through enrolment (``EnrolmentNeeded``). During a sign-in, enrolment is only
for an account that has none yet: knowing a password never lets anyone replace the authenticator.
"""

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import totp
from api.auth.principal import Principal
from api.auth.tokens import new_recovery_code
from api.config import Settings
from api.models.people import UserAccount
from api.repositories import people as repository
from api.services.audit import Action
from api.services.people import throttle
from api.services.people.errors import EnrolmentNotStarted, SecondFactorNotNeeded, UserNotFound
from api.services.people.sign_in import by_themselves, complete, recovery_code_hash, refuse
from api.services.people.steps import (
    RESOURCE,
    TOTP_COLUMN,
    Refused,
    SignedInUser,
    TotpConfirmed,
    TotpEnrolment,
    usable,
)

RECOVERY_CODES = 10


async def _account_as_it_was(
    session: AsyncSession, user_id: uuid.UUID, generation: int
) -> UserAccount | None:
    found = await repository.get_with_organization(session, user_id, lock=True)
    if found is None:
        return None
    user, organization = found
    if not usable(user, organization) or user.generation != generation:
        return None
    return user


async def enrol_totp(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    generation: int,
    *,
    during_sign_in: bool,
) -> TotpEnrolment:
    """A new secret for the person's authenticator, pending until ``confirm_totp``. With
    ``during_sign_in`` (after ``EnrolmentNeeded``), only for an account without one."""
    user = await _account_as_it_was(session, user_id, generation)
    if user is None:
        raise UserNotFound("Sign in again.")
    if during_sign_in and user.totp_secret is not None:
        raise SecondFactorNotNeeded("This account has an authenticator: sign in with it.")
    secret = totp.new_secret()
    user.totp_pending_secret, user.totp_pending_version = settings.master.seal(
        secret.encode(), table=RESOURCE, column=TOTP_COLUMN, row=user.id
    )
    await repository.add(session, user)
    return _enrolment(settings, user, secret)


async def pending_totp(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, generation: int
) -> TotpEnrolment | None:
    """The enrolment under way (the secret ``enrol_totp`` made, not confirmed yet), to show it
    again (a page reloaded, an app switched to and back); None when there is none."""
    user = await _account_as_it_was(session, user_id, generation)
    if user is None or user.totp_pending_secret is None or user.totp_pending_version is None:
        return None
    secret = _pending_secret(settings, user, user.totp_pending_secret, user.totp_pending_version)
    return _enrolment(settings, user, secret)


def _pending_secret(settings: Settings, user: UserAccount, sealed: bytes, version: int) -> str:
    """The enrolment's secret (``user.totp_pending_secret``, sealed with key ``version``)."""
    return settings.master.open(
        sealed, version, table=RESOURCE, column=TOTP_COLUMN, row=user.id
    ).decode()


def _enrolment(settings: Settings, user: UserAccount, secret: str) -> TotpEnrolment:
    account = user.login_name or user.phone or str(user.id)
    return TotpEnrolment(
        secret=secret, uri=totp.provisioning_uri(secret, account, settings.totp_issuer)
    )


async def confirm_totp(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    generation: int,
    code: str,
    address: str | None,
    *,
    during_sign_in: bool,
) -> TotpConfirmed | Refused:
    """A first code of the pending secret: it becomes the account's authenticator. During a
    sign-in this completes it (the person is signed in, the sign-in audited)."""
    now = datetime.now(UTC)
    keys = throttle.keys(settings, address, user_id=user_id)
    wait = await throttle.begin(session, settings, keys, now)
    if wait > 0:
        return Refused(retry_after=wait)
    user = await _account_as_it_was(session, user_id, generation)
    if user is None or user.totp_pending_secret is None or user.totp_pending_version is None:
        if user is None:
            raise UserNotFound("Sign in again.")
        raise EnrolmentNotStarted("Start the enrolment again.")
    if during_sign_in and user.totp_secret is not None:
        raise SecondFactorNotNeeded("This account has an authenticator: sign in with it.")
    secret = _pending_secret(settings, user, user.totp_pending_secret, user.totp_pending_version)
    step = totp.matching_step(secret, code, now, None)
    if step is None:
        return await refuse(session, settings, keys, now, user)
    first = user.totp_secret is None
    user.totp_secret, user.totp_secret_version = user.totp_pending_secret, user.totp_pending_version
    user.totp_pending_secret = user.totp_pending_version = None
    user.totp_confirmed_at = now
    user.last_totp_step = step
    await repository.add(session, user)
    await by_themselves(session, user, Action.user_totp_enrol)
    codes = await _new_recovery_codes(session, settings, user) if first else []
    if not first:
        await repository.bump_generation(session, user)
    if during_sign_in:
        signed_in = await complete(session, settings, keys, user, now)
        return TotpConfirmed(signed_in.user, codes, signed_in.device)
    await throttle.succeeded(session, keys)
    return TotpConfirmed(SignedInUser.of(user), codes)


async def _new_recovery_codes(
    session: AsyncSession, settings: Settings, user: UserAccount
) -> list[str]:
    codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
    hashes = [recovery_code_hash(settings, code.replace("-", "")) for code in codes]
    await repository.replace_recovery_codes(session, user.id, hashes)
    await by_themselves(session, user, Action.user_recovery_codes)
    return codes


async def regenerate_recovery_codes(
    session: AsyncSession, settings: Settings, principal: Principal
) -> list[str]:
    """New recovery codes for the person signed in (shown once); the earlier ones stop
    working."""
    if principal.user_id is None:
        raise UserNotFound()
    user = await repository.get(session, principal.user_id, lock=True)
    if user is None:
        raise UserNotFound()
    if user.totp_secret is None:
        raise SecondFactorNotNeeded("Set up an authenticator first.")
    return await _new_recovery_codes(session, settings, user)


async def recovery_codes_left(session: AsyncSession, user_id: uuid.UUID) -> int:
    return await repository.unused_recovery_codes(session, user_id)
