"""Database engine and sessions.

The engine is created in the application's lifespan (never at import time) and the session
dependency owns one transaction per request: commit when the handler returns, roll back when
it raises. Services ``flush()``; only this module commits.
"""

import random
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import Connection, Dialect, ExceptionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.util import greenlet_spawn

from api.config import Settings
from api.errors import DatabaseUnavailable

SessionMaker = async_sessionmaker[AsyncSession]
MAXIMUM_PREPARED_STATEMENT_BYTES = 128 * 1024
_ASYNCPG: Any = asyncpg_dialect()  # type: ignore[no-untyped-call]


def create_engine(settings: Settings, *, url: str | None = None) -> AsyncEngine:
    """An asyncpg engine with bounded pools and a statement timeout on every connection.

    No ping on checkout: with asyncpg it is three round trips (BEGIN, a query, ROLLBACK), a
    third of what a search costs. A connection found dead when used (the database restarted)
    is discarded with every older one (the pool is invalidated), and that request is answered
    503 with ``Retry-After`` (``DatabaseUnavailable``); nothing was written. While the database
    is down or starting up, opening a connection fails the same way (``_connect``), so every
    path (sessions, ``Compiled`` statements, readers) answers 503, never 500, and the same
    process serves again as soon as the database does.

    No overflow: ``database_pool_size`` connections at most, and a request beyond waits for
    one (``database_pool_timeout_seconds``, then 503 ``DatabaseBusy``). Overflow connections
    are closed as soon as they are returned to a full pool: under steady load, a new backend
    for every few requests, with its statements prepared and planned afresh (a third of the
    search's throughput on a small machine), and more connections than the database's cores
    can serve anyway.
    """
    engine = create_async_engine(
        url or settings.database_url.get_secret_value(),
        pool_size=settings.database_pool_size,
        max_overflow=0,
        pool_timeout=settings.database_pool_timeout_seconds,
        pool_recycle=1800,
        connect_args={
            "timeout": settings.database_connect_timeout_seconds,
            # asyncpg keeps statements prepared up to 15 KiB of SQL by default; a longer one is
            # prepared and planned afresh on every call. The referral pathway's statement (one
            # branch per need, about 30 KiB) must stay prepared to settle on its generic plan
            # (planning it costs twice what running it does).
            "max_cacheable_statement_size": MAXIMUM_PREPARED_STATEMENT_BYTES,
            "server_settings": {
                "application_name": "relay",
                "statement_timeout": str(settings.database_statement_timeout_ms),
                "idle_in_transaction_session_timeout": "60000",
            },
        },
    )
    event.listen(engine.sync_engine, "do_connect", _connect)
    event.listen(engine.sync_engine, "handle_error", _unreachable_is_unavailable)
    return engine


async def connect_alone(engine: AsyncEngine, settings: Settings, application_name: str) -> Any:
    """A driver connection of its own to the engine's database, outside the pool: for a
    ``LISTEN``, which needs a connection that stays open and idle (a pooled one would be handed
    to requests)."""
    arguments, parameters = engine.dialect.create_connect_args(engine.url)
    return await asyncpg.connect(
        *arguments,
        **spread_hosts(parameters),
        timeout=settings.database_connect_timeout_seconds,
        server_settings={"application_name": application_name},
    )


def _connect(dialect: Dialect, _: Any, arguments: list[Any], parameters: dict[str, Any]) -> Any:
    """Open a driver connection; a database refusing or not answering is ``DatabaseUnavailable``
    (SQLAlchemy lets a refused or reset socket through as a bare ``OSError``)."""
    try:
        return dialect.connect(*arguments, **spread_hosts(parameters))
    except Exception as error:
        if database_unreachable(error):
            raise DatabaseUnavailable from error
        raise


def spread_hosts(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """libpq's ``load_balance_hosts=random`` (PostgreSQL 16), which asyncpg does not know: the
    URL's hosts in a new random order for each connection, so that a pool reading from
    ``target_session_attrs=prefer-standby`` spreads over every standby instead of filling up on
    the first one listed. ``disable`` (libpq's default) or absent: the order given."""
    choice = parameters.get("load_balance_hosts")
    if choice is None:
        return dict(parameters)
    spread = {name: value for name, value in parameters.items() if name != "load_balance_hosts"}
    if choice not in ("random", "disable"):
        raise ValueError("load_balance_hosts is random or disable")
    hosts, ports = spread.get("host"), spread.get("port")
    if choice == "random" and isinstance(hosts, list) and isinstance(ports, list):
        pairs = list(zip(hosts, ports, strict=True))
        random.shuffle(pairs)
        spread["host"], spread["port"] = [host for host, _ in pairs], [port for _, port in pairs]
    return spread


def _unreachable_is_unavailable(context: ExceptionContext) -> BaseException | None:
    """For SQLAlchemy's own statements: a lost connection discards the pool's connections
    (every one opened before it died with it) and is answered ``DatabaseUnavailable``."""
    if not database_unreachable(context.original_exception):
        return None
    context.is_disconnect = True
    return DatabaseUnavailable()


def create_sessionmaker(engine: AsyncEngine) -> SessionMaker:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class ReadSession(Session):
    """A session for the reads that tolerate lag, bound to the replicas, that turns to the
    primary when told so before its first statement (``info[PRIMARY]`` is a callable that says
    whether to, and gives the primary's bind): whether the caller may write what it reads is
    known only once authentication has run, after the session was made."""

    def get_bind(self, *arguments: Any, **keywords: Any) -> Any:
        primary = self.info.get(PRIMARY)
        if primary is not None:
            bind = primary()
            if bind is not None:
                return bind
        return super().get_bind(*arguments, **keywords)


PRIMARY = "relay.primary"


def create_read_sessionmaker(
    engine: AsyncEngine, *, info: dict[str, Any] | None = None
) -> SessionMaker:
    """Sessions on the replicas' engine (``RELAY_DATABASE_READ_URL``), which may turn to the
    primary (``ReadSession``)."""
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, sync_session_class=ReadSession, info=info
    )


@asynccontextmanager
async def transaction(sessionmaker: SessionMaker) -> AsyncIterator[AsyncSession]:
    """Yield a session whose work is committed on success and rolled back on any error.

    A committed session holds no connection any more (the commit gave it back to the pool):
    it is left to the garbage collector rather than closed, one trip less into SQLAlchemy's
    synchronous side for every request. On any error, ``close`` rolls back and gives the
    connection back."""
    session = sessionmaker()
    try:
        yield session
        await session.commit()
    except BaseException:
        await session.close()
        raise


def _constants_inline(statement: Any, parameters: frozenset[str]) -> Any:
    """The statement with every bound value not named in ``parameters`` rendered as SQL."""

    def inline(element: Any, **_: Any) -> Any:
        if isinstance(element, BindParameter) and element.key not in parameters:
            constant = element._clone()
            constant.literal_execute = True
            return constant
        return None

    return visitors.replacement_traverse(statement, {}, inline)


class Compiled:
    """A statement compiled once and run straight on the session's asyncpg connection.

    For the few hottest queries (the nearest search, token checks): building and executing a
    SQLAlchemy statement costs about 2 ms of Python per call on a small machine, ten times the
    database's own work. The statement is written with named ``bindparam``s; ``fetch`` takes
    their values by name, and every other bound value keeps the one it was compiled with. Rows
    come back as asyncpg records, in the session's transaction.

    A statement may name its ``parameters`` (the values that change from call to call): every
    other bound value (statuses, visibility levels, taxonomy ids, LIMIT) is then written into
    the SQL as a constant. That is what lets PostgreSQL settle on a *generic* plan for it:
    asyncpg prepares a statement once per connection, and after five executions PostgreSQL
    keeps the generic plan if it is estimated no dearer than planning each call again. With
    the constants in the SQL its estimates are the custom plan's, so it is; for the nearest
    search, a join ordered by an index, planning each call cost more than running it (about
    5 ms against 2.5 ms on 1M places). ``tests/test_search_plans.py`` checks the generic plans.
    """

    def __init__(self, statement: Any, *, parameters: Collection[str] | None = None) -> None:
        if parameters is not None:
            statement = _constants_inline(statement, frozenset(parameters))
        compiled = statement.compile(dialect=_ASYNCPG, compile_kwargs={"render_postcompile": True})
        self.sql: str = compiled.string
        self.names: list[str] = list(compiled.positiontup or [])
        self.defaults: dict[str, Any] = dict(compiled.params)

    def values(self, given: dict[str, Any]) -> list[Any]:
        return [given[name] if name in given else self.defaults[name] for name in self.names]

    async def fetch(self, database: "Database", **given: Any) -> list[Any]:
        if isinstance(database, Reader):
            return await database.fetch(self.sql, self.values(given))
        connection, driver = await _driver(database)
        try:
            rows: list[Any] = await driver.fetch(self.sql, *self.values(given))
        except Exception as error:
            if not database_unreachable(error):
                raise
            # What SQLAlchemy does for its own statements: the connection is discarded
            # instead of going back to the pool, with every connection opened before it.
            database.info.pop(_DRIVER, None)
            await greenlet_spawn(_invalidate_session_connection, connection, error)
            raise DatabaseUnavailable from error
        return rows


class Reader:
    """A request's connection for read-only statements run on the driver (``Compiled``),
    without an ORM session: checked out of the engine's pool on first use (the same pool, the
    same limit and wait), given back by ``close`` (or at the end of ``async with``). For the
    search, the most frequent request: a session's begin and commit cost more Python than the
    search's own statements.

    Each statement sees what was committed when it started, as in a session's READ
    COMMITTED transaction; nothing can be written through it.

    With a replica to read from (``RELAY_DATABASE_READ_URL``), ``bind`` is the replicas' and
    ``primary`` the primary's: ``to_primary`` moves the reader there, for a caller who must see
    what it has just written (docs/scaling.md).
    """

    def __init__(
        self,
        bind: AsyncEngine | AsyncConnection,
        *,
        primary: AsyncEngine | AsyncConnection | None = None,
    ) -> None:
        """``bind``: what the request's sessions are bound to; an engine in the application,
        a connection (already checked out, held by its owner) in the test harness."""
        self._bind = bind
        self._primary = bind if primary is None else primary
        self._checked_out: Any = None

    @property
    def on_replica(self) -> bool:
        """Whether this reader reads from somewhere other than the primary."""
        return self._bind is not self._primary

    async def to_primary(self) -> None:
        """Read from the primary from now on (the connection held so far is given back)."""
        if self.on_replica:
            await self.close()
            self._bind = self._primary

    async def fetch(self, sql: str, values: list[Any]) -> list[Any]:
        if self._checked_out is None:
            if isinstance(self._bind, AsyncConnection):
                return await _fetch_on(self._bind, sql, values)
            try:
                self._checked_out = await greenlet_spawn(self._bind.sync_engine.pool.connect)
            except Exception as error:
                if not database_unreachable(error):
                    raise
                raise DatabaseUnavailable from error
        try:
            rows: list[Any] = await self._checked_out.driver_connection.fetch(sql, *values)
        except Exception as error:
            if not database_unreachable(error):
                raise
            checked_out, self._checked_out = self._checked_out, None
            await greenlet_spawn(_discard, self._bind, checked_out, error)
            raise DatabaseUnavailable from error
        return rows

    async def close(self) -> None:
        checked_out, self._checked_out = self._checked_out, None
        if checked_out is not None:
            await greenlet_spawn(checked_out.close)

    async def __aenter__(self) -> "Reader":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


async def _fetch_on(connection: AsyncConnection, sql: str, values: list[Any]) -> list[Any]:
    raw = await connection.get_raw_connection()
    rows: list[Any] = await raw.driver_connection.fetch(sql, *values)  # type: ignore[union-attr]
    return rows


def _discard(engine: AsyncEngine, checked_out: Any, error: BaseException) -> None:
    """A reader's dead connection: invalidated with every connection of the pool opened before
    it (as SQLAlchemy does on a disconnect), then given back."""
    engine.sync_engine.pool._invalidate(checked_out, error)
    checked_out.close()


def _invalidate_session_connection(connection: Connection, error: BaseException) -> None:
    connection.engine.pool._invalidate(connection.connection, error, _checkin=False)
    connection.invalidate(error)


class CompiledCache:
    """``Compiled`` statements by the shape that decides their SQL text (which filters are
    present, who asks), built on first use. Bounded: past ``maximum`` shapes it starts again
    (the shapes are few; the bound only stops a caller cycling shapes from growing it)."""

    def __init__(self, parameters: Collection[str], maximum: int = 1024) -> None:
        self.parameters = frozenset(parameters)
        self.maximum = maximum
        self._found: dict[tuple[Any, ...], Compiled] = {}

    def get(self, shape: tuple[Any, ...], build: Callable[[], Any]) -> Compiled:
        found = self._found.get(shape)
        if found is None:
            if len(self._found) >= self.maximum:
                self._found.clear()
            found = self._found[shape] = Compiled(build(), parameters=self.parameters)
        return found


Database = AsyncSession | Reader
"""Where ``Compiled`` statements run: a request's session (in its transaction) or reader."""

_DRIVER = "relay.driver"


async def _driver(session: AsyncSession) -> tuple[Any, Any]:
    """The session's connection and its asyncpg connection beneath, kept in ``session.info``
    for as long as the session's transaction holds that connection (asking SQLAlchemy for it
    again costs more than a search statement's own Python)."""
    kept = session.info.get(_DRIVER)
    if kept is not None and kept[0] is session.sync_session.get_transaction():
        return kept[1], kept[2]
    connection, driver = await greenlet_spawn(_checked_out, session.sync_session)
    session.info[_DRIVER] = (session.sync_session.get_transaction(), connection, driver)
    return connection, driver


def _checked_out(session: Session) -> tuple[Connection, Any]:
    """The session's connection (begun if need be) and the driver's: one trip into
    SQLAlchemy's synchronous side rather than two."""
    connection = session.connection()
    return connection, connection.connection.driver_connection


# The driver's ways of saying the connection is gone: closed or reset underneath, refused,
# timed out, or the server shutting down or not yet accepting. An InternalClientError (what
# asyncpg raises when it writes to a transport the server has just closed) leaves the
# connection in an unknown state: it is discarded too. OSError covers refused, reset and timed
# out sockets (TimeoutError is one). asyncpg's InterfaceError counts only when it says the
# connection is closed: otherwise (wrong arguments, bad data, concurrent use) it is a defect.
CONNECTION_LOST = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    OSError,
)
# The same, as SQLSTATEs (SQLAlchemy's wrappers of asyncpg's errors carry the code): class 08
# (connection exception), admin and crash shutdown, cannot connect now (starting up or
# shutting down), too many connections.
_UNREACHABLE_STATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def database_unreachable(error: BaseException) -> bool:
    """Whether ``error``, or an error it was raised from, says the database cannot be reached
    right now (a restart, a failover, a network cut): answered 503 ``DatabaseUnavailable``,
    never 500. Only what a database call raised is asked about."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (DatabaseUnavailable, *CONNECTION_LOST)):
            return True
        if (
            isinstance(current, asyncpg.exceptions.InterfaceError)
            and not isinstance(current, asyncpg.exceptions.DataError)
            and "connection is closed" in str(current)
        ):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str) and (state.startswith("08") or state in _UNREACHABLE_STATES):
            return True
        current = current.orig if isinstance(current, DBAPIError) else current.__cause__
    return False
