"""Database engine and sessions.

The engine is created in the application's lifespan (never at import time) and the session
dependency owns one transaction per request: commit when the handler returns, roll back when
it raises. Services ``flush()``; only this module commits.
"""

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter

from api.config import Settings
from api.errors import DatabaseUnavailable

SessionMaker = async_sessionmaker[AsyncSession]
_ASYNCPG: Any = asyncpg_dialect()  # type: ignore[no-untyped-call]


def create_engine(settings: Settings, *, url: str | None = None) -> AsyncEngine:
    """An asyncpg engine with bounded pools and a statement timeout on every connection.

    No ping on checkout: with asyncpg it is three round trips (BEGIN, a query, ROLLBACK), a
    third of what a search costs. A connection found dead when used (the database restarted)
    is discarded with every older one (SQLAlchemy invalidates the pool), and that request is
    answered 503 with ``Retry-After`` (``DatabaseUnavailable``); nothing was written.

    No overflow: ``database_pool_size`` connections at most, and a request beyond waits for
    one (``database_pool_timeout_seconds``, then 503 ``DatabaseBusy``). Overflow connections
    are closed as soon as they are returned to a full pool: under steady load, a new backend
    for every few requests, with its statements prepared and planned afresh (a third of the
    search's throughput on a small machine), and more connections than the database's cores
    can serve anyway.
    """
    return create_async_engine(
        url or settings.database_url.get_secret_value(),
        pool_size=settings.database_pool_size,
        max_overflow=0,
        pool_timeout=settings.database_pool_timeout_seconds,
        pool_recycle=1800,
        connect_args={
            "server_settings": {
                "application_name": "relay",
                "statement_timeout": str(settings.database_statement_timeout_ms),
                "idle_in_transaction_session_timeout": "60000",
            },
        },
    )


def create_sessionmaker(engine: AsyncEngine) -> SessionMaker:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(sessionmaker: SessionMaker) -> AsyncIterator[AsyncSession]:
    """Yield a session whose work is committed on success and rolled back on any error."""
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


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

    async def fetch(self, session: AsyncSession, **given: Any) -> list[Any]:
        connection, driver = await _driver(session)
        try:
            rows: list[Any] = await driver.fetch(self.sql, *self.values(given))
        except CONNECTION_LOST as error:
            # What SQLAlchemy does for its own statements: the connection is discarded (and
            # the pool's older ones with it) instead of going back to the pool.
            session.info.pop(_DRIVER, None)
            await connection.invalidate(error)
            raise DatabaseUnavailable from error
        return rows


_DRIVER = "relay.driver"


async def _driver(session: AsyncSession) -> tuple[Any, Any]:
    """The session's connection and its asyncpg connection beneath, kept in ``session.info``
    for as long as the session's transaction holds that connection (asking SQLAlchemy for it
    again costs more than a search statement's own Python)."""
    transaction = session.sync_session.get_transaction()
    kept = session.info.get(_DRIVER)
    if kept is not None and transaction is not None and kept[0] is transaction:
        return kept[1], kept[2]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    session.info[_DRIVER] = (session.sync_session.get_transaction(), connection, driver)
    return connection, driver


# The driver's ways of saying the connection is gone (as SQLAlchemy's asyncpg dialect reads
# them): closed or reset underneath, or the server shutting down or not yet accepting. An
# InternalClientError (what asyncpg raises when it writes to a transport the server has just
# closed) leaves the connection in an unknown state: it is discarded too.
CONNECTION_LOST = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    ConnectionError,
)
