"""The tokens a process has checked, kept for a few seconds so that a partner's every request
does not cost a round trip to the database (a quarter of a search's).

A token's check reads four tables: the token (revoked, deleted), its client (disabled), the
organisations (status) and, for an app acting for a person, the person's account (what
``current_user`` reads: generation, deactivation, role, organisation, authenticator). Whatever
changes them, PostgreSQL notifies ``relay_credentials`` when the change commits (the triggers
of migrations 0017 and 0020), and each process listening on its own connection forgets every
token it holds. So a revoked token stops working in every process within
milliseconds, as it did when each request asked the database:

- **Only while listening.** Until the listening connection is up, and from the moment it is lost
  (asyncpg reports it, or a probe every few seconds gets no answer) until it is back, nothing is
  answered from memory: every request asks the database. A notice cannot be missed unseen.
- **A change in this process is seen before its own commit**: every statement this process sends
  through SQLAlchemy that updates, deletes or truncates those tables (or upserts an
  organisation) forgets at once (``watch_writes``), so a partner revoking its token and using
  it again at once is refused even before the notice comes back. (A person's sign-in, which
  updates their account, forgets too: a few lookups more, rare beside the requests.)
- **A check in flight is not kept after a change.** Each lookup notes the generation (a counter
  every change moves) before it asks the database, and its answer is kept only if no change
  came in the meantime: a revocation is never undone by a request that read the row before it.
- **For at most** ``RELAY_TOKEN_CACHE_SECONDS`` (30 by default; 0 turns this off), and never past
  the token's own expiry, which is checked on every request anyway.

Only tokens that work are kept (an attacker's guesses never fill the memory), by their keyed
hash, never their value; at most ``MAXIMUM_ENTRIES`` (the oldest go first).
"""

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event
from sqlalchemy.engine import Engine

from api.logging import get_logger
from api.repositories.tokens import ActiveToken

CHANNEL = "relay_credentials"
MAXIMUM_ENTRIES = 10_000
PROBE_SECONDS = 5.0
RECONNECT_SECONDS = (1.0, 30.0)  # the first wait after a failure, and the longest

log = get_logger("relay.tokens")

# Writes that may stop a token working: updates, deletes and truncations of the four tables
# (anywhere in a statement: a CTE may hold them), and an organisation written by an upsert.
_CHANGES_CREDENTIALS = re.compile(
    r"\b(?:UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?)\s+(?:ONLY\s+)?"
    r"\"?(?:oauth_token|oauth_client|organization|user_account)\b"
    r"|\bINSERT\s+INTO\s+\"?organization\b",
    re.IGNORECASE,
)


class _Generation:
    """The process's count of changes to credentials: every cache in the process compares its
    entries with it."""

    value = 0


def credentials_changed() -> None:
    """Forget every token held in this process (each cache's entries become stale)."""
    _Generation.value += 1


def _after_execute(
    _connection: Any,
    _cursor: Any,
    statement: str,
    _parameters: Any,
    _context: Any,
    _executemany: bool,
) -> None:
    if _CHANGES_CREDENTIALS.search(statement):
        credentials_changed()


def watch_writes() -> None:
    """Forget tokens when this process writes what decides them (every engine, once)."""
    if not event.contains(Engine, "after_cursor_execute", _after_execute):
        event.listen(Engine, "after_cursor_execute", _after_execute)


@dataclass(frozen=True, slots=True)
class _Entry:
    token: ActiveToken
    generation: int
    until: float


class TokenCache:
    """Working tokens by keyed hash, answered only while ``listening`` and no change came since
    they were read."""

    def __init__(self, seconds: float, maximum: int = MAXIMUM_ENTRIES) -> None:
        self.seconds = seconds
        self.maximum = maximum
        self.listening = False
        self._entries: dict[str, _Entry] = {}

    @staticmethod
    def generation() -> int:
        """Note it before asking the database; give it to ``keep``."""
        return _Generation.value

    def get(self, token_hash: str) -> ActiveToken | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if (
            not self.listening
            or entry.generation != _Generation.value
            or entry.until <= time.monotonic()
        ):
            del self._entries[token_hash]
            return None
        return entry.token

    def keep(self, token_hash: str, token: ActiveToken, generation: int) -> None:
        """Keep a working token read when the generation was ``generation`` (not if anything
        changed since, or while not listening)."""
        if not self.listening or self.seconds <= 0 or generation != _Generation.value:
            return
        if len(self._entries) >= self.maximum:
            self._entries = {
                key: entry for key, entry in self._entries.items() if entry.generation == generation
            }
            while len(self._entries) >= self.maximum:
                del self._entries[next(iter(self._entries))]
        self._entries[token_hash] = _Entry(token, generation, time.monotonic() + self.seconds)

    def __len__(self) -> int:
        return len(self._entries)


Connect = Callable[[], Awaitable[Any]]


async def listen(cache: TokenCache, connect: Connect, probe_seconds: float = PROBE_SECONDS) -> None:
    """Hear ``relay_credentials`` on a connection of its own and keep ``cache.listening`` true
    only while it can; after a failure or a loss, tries again (waiting longer each time, up to
    30 s). Runs until cancelled."""
    wait = RECONNECT_SECONDS[0]
    while True:
        try:
            connection = await connect()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("token_cache_not_listening", error=type(error).__name__, retry_s=wait)
        else:
            try:
                await _listen_on(cache, connection, probe_seconds)
                wait = RECONNECT_SECONDS[0]
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("token_cache_listener_lost", error=type(error).__name__)
            finally:
                cache.listening = False
                credentials_changed()
                connection.terminate()
        await asyncio.sleep(wait)
        wait = min(wait * 2, RECONNECT_SECONDS[1])


async def _listen_on(cache: TokenCache, connection: Any, probe_seconds: float) -> None:
    """Listen until the connection is lost (returns) or a probe fails (raises)."""
    lost = asyncio.Event()

    def _lost(_: object) -> None:
        cache.listening = False
        lost.set()

    connection.add_termination_listener(_lost)
    await connection.add_listener(CHANNEL, lambda *_: credentials_changed())
    credentials_changed()  # whatever changed while nobody listened
    cache.listening = True
    while not lost.is_set():
        with suppress(TimeoutError):
            await asyncio.wait_for(lost.wait(), probe_seconds)
        if not lost.is_set():
            # A notice sent before this answer has arrived before it (one connection, in
            # order): no answer, no trust.
            await connection.fetchval("SELECT 1", timeout=probe_seconds)
