"""People's passwords: what Relay accepts (NIST SP 800-63B-4 §3.1.1) and how it keeps them
(Argon2id, argon2-cffi).

**Accepted.** Any characters (Unicode normalised to NFKC, as the standard asks, so that the same
password typed on two keyboards is the same password), no composition rules, at least
``minimum_length(role)`` characters: 15 for a role whose password may be its only factor (the
volunteer, for whom TOTP is a choice), 10 for the roles that always sign in with TOTP too (the
standard asks 15 and 8); at most 256. Refused: the 20,000 most common passwords (the list
Django ships, ``common-passwords.txt.gz``: ``scripts/common-passwords.sh``), compared without
case; one character repeated or a run of the keyboard or the alphabet; and a password that is
mostly the words of its context (the person's login, phone number or name, "relay": fewer than 8
characters left once they are taken out). A password is never sent anywhere to be checked.

**Kept.** Argon2id with ``RELAY_PASSWORD_HASH_*`` (default t=3, m=64 MiB, p=4: RFC 9106's second
recommended option; production refuses less than OWASP's t=2, m=19 MiB), a 16-byte salt and a
32-byte tag, as a PHC string. A hash made with other parameters is re-made at the next sign-in
(``Verified.rehashed``). Hashing runs in a worker thread, at most
``RELAY_PASSWORD_HASH_CONCURRENCY`` at once per process, so that a flood of sign-ins neither
blocks the event loop nor takes all the memory.

**Unknown accounts take as long.** ``verify`` of an account that does not exist, has no
password yet, or is deactivated checks the password against a hash made for the purpose with
the same parameters, so the time taken says nothing about which accounts exist.
"""

import contextlib
import gzip
import secrets
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import anyio
from anyio import to_thread
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from api.auth.roles import requires_second_factor
from api.config import Settings
from api.models.people import UserRole

COMMON_PASSWORDS_FILE = Path(__file__).with_name("common-passwords.txt.gz")
MINIMUM_LENGTH_SINGLE_FACTOR = 15
MINIMUM_LENGTH_WITH_SECOND_FACTOR = 10
MAXIMUM_LENGTH = 256
_RUNS = (
    "0123456789012345678901234567890",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnmqwertyuiopasdfghjklzxcvbnm",
    "azertyuiopqsdfghjklmwxcvbnazertyuiopqsdfghjklmwxcvbn",
    "qwertzuiopasdfghjklyxcvbnmqwertzuiopasdfghjklyxcvbnm",
)
CONTEXT_WORDS = ("relay",)
MINIMUM_REMAINDER = 8
"""Characters a password must keep once the words of its context are taken out of it."""


class PasswordNotAccepted(ValueError):
    """Why a new password is refused: a sentence a person can act on, never the password;
    ``reason`` names the rule (``too_short``, ``too_long``, ``common``, ``sequence``,
    ``context``) and ``limit`` its number of characters, so that a page can say it in the
    person's language."""

    def __init__(self, message: str, *, reason: str, limit: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.limit = limit


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def minimum_length(role: UserRole) -> int:
    if requires_second_factor(role):
        return MINIMUM_LENGTH_WITH_SECOND_FACTOR
    return MINIMUM_LENGTH_SINGLE_FACTOR


@cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def check_new_password(password: str, role: UserRole, context: list[str | None]) -> str:
    """The password to hash (normalised), or ``PasswordNotAccepted`` saying why not.
    ``context``: the person's login, phone and name, which a password may not be or contain."""
    normalised = normalise(password)
    length = len(normalised)
    shortest = minimum_length(role)
    if length < shortest:
        raise PasswordNotAccepted(
            f"A password needs at least {shortest} characters.", reason="too_short", limit=shortest
        )
    if length > MAXIMUM_LENGTH:
        raise PasswordNotAccepted(
            f"A password has at most {MAXIMUM_LENGTH} characters.",
            reason="too_long",
            limit=MAXIMUM_LENGTH,
        )
    folded = normalised.casefold()
    if folded.strip() in common_passwords():
        raise PasswordNotAccepted(
            "This password is one of the most common: choose another.", reason="common"
        )
    if len(set(folded)) == 1 or any(folded in run or folded in run[::-1] for run in _RUNS):
        raise PasswordNotAccepted(
            "A password cannot be one character repeated or a sequence.", reason="sequence"
        )
    remainder = folded
    for word in [*CONTEXT_WORDS, *(word for word in context if word)]:
        plain = normalise(word).casefold().lstrip("+")
        if len(plain) >= 3:
            remainder = remainder.replace(plain, "")
    if len(remainder) < MINIMUM_REMAINDER:
        raise PasswordNotAccepted(
            "A password cannot be mostly your login, phone number or name, or Relay's.",
            reason="context",
        )
    return normalised


@dataclass(frozen=True)
class Verified:
    ok: bool
    rehashed: str | None = None
    """A new hash with the current parameters, to store, when the password was right but its
    hash was made with others."""


@cache
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost,
        memory_cost=memory_kib,
        parallelism=parallelism,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )


def hasher(settings: Settings) -> PasswordHasher:
    return _hasher(
        settings.password_hash_time_cost,
        settings.password_hash_memory_kib,
        settings.password_hash_parallelism,
    )


@cache
def _stand_in_hash(time_cost: int, memory_kib: int, parallelism: int) -> str:
    """A hash of a random password nobody knows, with the given parameters: what a sign-in of
    an unknown account is checked against."""
    hashed: str = _hasher(time_cost, memory_kib, parallelism).hash(secrets.token_urlsafe(24))
    return hashed


@dataclass
class _Limiters:
    by_size: dict[int, anyio.CapacityLimiter]


_limiters = _Limiters({})


def _limiter(settings: Settings) -> anyio.CapacityLimiter:
    size = settings.password_hash_concurrency
    limiter = _limiters.by_size.get(size)
    if limiter is None:
        limiter = _limiters.by_size[size] = anyio.CapacityLimiter(size)
    return limiter


def _verify_now(settings: Settings, stored: str | None, password: str) -> Verified:
    current = hasher(settings)
    if stored is None:
        stand_in = _stand_in_hash(
            settings.password_hash_time_cost,
            settings.password_hash_memory_kib,
            settings.password_hash_parallelism,
        )
        with contextlib.suppress(VerificationError):
            current.verify(stand_in, password)
        return Verified(ok=False)
    try:
        current.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Verified(ok=False)
    if current.check_needs_rehash(stored):
        return Verified(ok=True, rehashed=current.hash(password))
    return Verified(ok=True)


async def hash_password(settings: Settings, normalised: str) -> str:
    """The Argon2id hash of a password ``check_new_password`` accepted."""
    hashed: str = await to_thread.run_sync(
        hasher(settings).hash, normalised, limiter=_limiter(settings)
    )
    return hashed


async def verify(settings: Settings, stored: str | None, password: str) -> Verified:
    """Whether ``password`` matches ``stored`` (None: an account without one, or none at all:
    checked against a stand-in, as long, and never right)."""
    if len(password) > 4 * MAXIMUM_LENGTH:
        password = password[: 4 * MAXIMUM_LENGTH]  # never right; still takes a hash's time
        stored = None
    return await to_thread.run_sync(
        _verify_now, settings, stored, normalise(password), limiter=_limiter(settings)
    )
