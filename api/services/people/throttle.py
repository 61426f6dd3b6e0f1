"""Failed sign-ins slow the next ones: per account, and per address. Kept in PostgreSQL, so
every API process (uvicorn workers, replicas) counts the same failures.

**Per account** (or per login that names no account, so that both answer alike and a wait
tells nobody whether an account exists): ``RELAY_SIGN_IN_FREE_FAILURES`` (5) failures cost
nothing (typing mistakes); each one after makes the account wait before the next try,
``RELAY_SIGN_IN_BACKOFF_SECONDS`` (15 s) doubled per further failure, never more than
``RELAY_SIGN_IN_BACKOFF_MAX_SECONDS`` (5 minutes). During the wait every try is refused unchecked,
the right password too (otherwise the wait would not slow guessing), so the person who mistyped
is back within minutes whatever an attacker sends, and an attacker gets about 12 guesses an hour.
The count is forgotten after ``RELAY_SIGN_IN_FAILURES_FORGOTTEN_MINUTES`` (an hour) without a
failure, and at a completed sign-in. Second-factor codes and recovery codes count on the same
account: a password does not buy free guesses at the code.

**Per address** (an IPv6 /64 counts as one: ``address_key``): ``RELAY_SIGN_IN_FAILURES_PER_ADDRESS``
(30) failures (sign-ins and invitation codes) per ``RELAY_SIGN_IN_ADDRESS_WINDOW_SECONDS`` (10
minutes), as a generic cell rate; past it, every sign-in from there waits. It keeps one source
from trying a password against many accounts. A success does not refill it (one account's
password must not buy guesses at others). People behind one address (a carrier's NAT) share it:
a deployment whose committees sit behind one raises it.

**A device the person signed in from before** keeps its own count. A completed sign-in gives
the browser a device token (``device_token``: a random nonce and its keyed MAC, nothing stored;
the pages keep it in a long-lived cookie). An attempt that brings a valid one for the account
is counted on that device alone (``keys(..., device=)``), with the same waits: an attacker
guessing from elsewhere, however long, never makes the person wait on their own phone (OWASP's
"device cookies"), and whoever took the cookie is slowed all the same. A token made for another
account, or forged, counts as no token.

**One attempt at a time per account**: an attempt takes the account's advisory lock without
waiting (``try_lock_account``); a second one at the same moment is refused with a one-second
wait, so parallel guesses cannot all pass the check before any failure is counted, and nothing
holds a database connection waiting.

Keys are keyed hashes (``RELAY_SECRET_KEY``): the tables hold neither addresses nor logins.
"""

import hmac
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.ratelimit import address_key
from api.auth.tokens import keyed_hash
from api.config import Settings
from api.repositories import people as repository

BUSY_SECONDS = 1.0
DEVICE_NONCE_BYTES = 16
DEVICE_TOKEN_MAXIMUM_LENGTH = 128


@dataclass(frozen=True)
class Keys:
    account: str | None
    address: str


def keys(
    settings: Settings,
    address: str | None,
    *,
    user_id: uuid.UUID | None = None,
    login: str | None = None,
    device: str | None = None,
) -> Keys:
    """The throttle keys of an attempt: its account (or, for a login that names none, the
    login; or the account on a device it signed in from before) and its address."""
    secret = settings.secret_key.get_secret_value()
    account = None
    trusted = trusted_device(settings, user_id, device) if user_id and device else None
    if user_id is not None and trusted is not None:
        account = keyed_hash(secret, f"sign-in/account:{user_id}/device:{trusted}")
    elif user_id is not None:
        account = keyed_hash(secret, f"sign-in/account:{user_id}")
    elif login is not None:
        account = keyed_hash(secret, f"sign-in/login:{login}")
    where = address_key(address) if address else "unknown"
    return Keys(account, keyed_hash(secret, f"sign-in/address:{where}"))


def _device_mac(settings: Settings, user_id: uuid.UUID, nonce: str) -> str:
    return keyed_hash(settings.secret_key.get_secret_value(), f"sign-in/device:{user_id}:{nonce}")


def device_token(settings: Settings, user_id: uuid.UUID) -> str:
    """A new device token for a browser the person has just signed in from."""
    nonce = secrets.token_urlsafe(DEVICE_NONCE_BYTES)
    return f"{nonce}.{_device_mac(settings, user_id, nonce)}"


def trusted_device(settings: Settings, user_id: uuid.UUID, token: str) -> str | None:
    """The device's nonce when ``token`` is one ``device_token`` made for this account."""
    nonce, _, mac = token.partition(".")
    if not nonce or len(token) > DEVICE_TOKEN_MAXIMUM_LENGTH:
        return None
    return nonce if hmac.compare_digest(mac, _device_mac(settings, user_id, nonce)) else None


def _interval(settings: Settings) -> timedelta:
    return timedelta(
        seconds=settings.sign_in_address_window_seconds / settings.sign_in_failures_per_address
    )


def _cell_wait(arrival: datetime | None, now: datetime, interval: timedelta, burst: int) -> float:
    """Seconds to wait under a generic cell rate of ``burst`` per ``burst * interval``, the
    last arrival being ``arrival`` (0: go on)."""
    if arrival is None:
        return 0.0
    return max(0.0, (arrival - now - interval * (burst - 1)).total_seconds())


def _address_wait(settings: Settings, arrival: datetime | None, now: datetime) -> float:
    return _cell_wait(arrival, now, _interval(settings), settings.sign_in_failures_per_address)


async def spend(
    session: AsyncSession,
    settings: Settings,
    purpose: str,
    address: str | None,
    now: datetime,
    *,
    allowed: int,
    window_seconds: int,
) -> float:
    """Count one anonymous ``purpose`` (a report of a wrong entry) from the address, when
    within ``allowed`` per ``window_seconds``; returns how long to wait when it is not (nothing
    counted). The same cell rate and table as the sign-in's address count, under a key of its
    own: a keyed hash, never the address."""
    where = address_key(address) if address else "unknown"
    key = keyed_hash(settings.secret_key.get_secret_value(), f"{purpose}/address:{where}")
    interval = timedelta(seconds=window_seconds / allowed)
    wait = _cell_wait(await repository.address_arrival(session, key), now, interval, allowed)
    if wait > 0:
        return wait
    await repository.count_address_failure(session, key, now, interval)
    return 0.0


async def begin(session: AsyncSession, settings: Settings, keys: Keys, now: datetime) -> float:
    """Start an attempt: take the account's lock and return how long it must wait first (0: go
    on). Counts nothing."""
    if keys.account is not None and not await repository.try_lock_account(session, keys.account):
        return BUSY_SECONDS
    wait = _address_wait(settings, await repository.address_arrival(session, keys.address), now)
    if keys.account is not None:
        found = await repository.account_failures(session, keys.account)
        if found is not None and found.blocked_until > now:
            wait = max(wait, (found.blocked_until - now).total_seconds())
    return wait


def backoff(settings: Settings, failures: int) -> float:
    """Seconds an account waits after its ``failures``-th failure in a row."""
    beyond = failures - settings.sign_in_free_failures
    if beyond <= 0:
        return 0.0
    # 2 ** beyond grows without bound; the cap is reached long before it matters.
    doubled = settings.sign_in_backoff_seconds * math.pow(2, min(beyond - 1, 32))
    return min(doubled, settings.sign_in_backoff_max_seconds)


async def failed(session: AsyncSession, settings: Settings, keys: Keys, now: datetime) -> float:
    """Count a failure on the account and the address; returns how long the next try waits."""
    arrival = await repository.count_address_failure(
        session, keys.address, now, _interval(settings)
    )
    wait = _address_wait(settings, arrival, now)
    if keys.account is None:
        return wait
    found = await repository.account_failures(session, keys.account)
    forgotten = timedelta(minutes=settings.sign_in_failures_forgotten_minutes)
    failures = 1
    if found is not None and now - found.last_failure_at < forgotten:
        failures = found.failures + 1
    delay = backoff(settings, failures)
    await repository.save_account_failures(
        session, keys.account, failures, now, now + timedelta(seconds=delay)
    )
    return max(wait, delay)


async def failed_address_only(
    session: AsyncSession, settings: Settings, address: str | None, now: datetime
) -> None:
    """Count a failure that names no account (a wrong invitation code) on its address."""
    await repository.count_address_failure(
        session, keys(settings, address).address, now, _interval(settings)
    )


async def address_wait(
    session: AsyncSession, settings: Settings, address: str | None, now: datetime
) -> float:
    where = keys(settings, address).address
    return _address_wait(settings, await repository.address_arrival(session, where), now)


async def succeeded(session: AsyncSession, keys: Keys) -> None:
    """A completed sign-in: the account's failures are forgotten (not the address's)."""
    if keys.account is not None:
        await repository.forget_account_failures(session, keys.account)
