"""One transaction per request: a handler that fails leaves nothing behind."""

import asyncio
import time

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from api.db import database_unreachable
from api.deps import SessionDep
from api.errors import Conflict
from api.main import create_app
from api.models.organization import Organization
from api.repositories import organizations
from tests.conftest import make_settings


async def test_a_failing_request_writes_nothing(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    path = "/test/half-written"

    async def half_written(session: SessionDep) -> None:
        await organizations.add(session, Organization(name="Half written", kind="ngo"))
        raise Conflict("Stopped after the first write.")

    app.add_api_route(path, half_written, methods=["POST"], tags=["test"])
    try:
        response = await client.post(path)
    finally:
        app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", "") != path]
    assert response.status_code == 409
    found = await session.execute(select(Organization).where(Organization.name == "Half written"))  # type: ignore[arg-type]
    assert found.first() is None


async def test_a_successful_request_commits(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    path = "/test/written"

    async def written(session: SessionDep) -> None:
        await organizations.add(session, Organization(name="Written", kind="ngo"))

    app.add_api_route(path, written, methods=["POST"], tags=["test"])
    try:
        response = await client.post(path)
    finally:
        app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", "") != path]
    assert response.status_code == 200
    found = await session.execute(select(Organization).where(Organization.name == "Written"))  # type: ignore[arg-type]
    assert found.first() is not None


class TestLostConnection:
    """The database restarts under a running API: the request that finds its connection dead
    is answered 503 with Retry-After (never 500), and the next one works on a new connection."""

    @pytest.mark.parametrize(
        "path",
        [
            "/v1/search/nearest?lat=14.1&lon=-16.3",  # statements run on the driver (Compiled)
            "/hsds/services",  # statements run by SQLAlchemy
        ],
    )
    async def test_503_then_recovered(self, path: str) -> None:
        settings = make_settings(database_pool_size=1)
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
                assert (await client.get(path)).status_code == 200
                async with application.state.engine.connect() as connection:
                    pid = await connection.scalar(text("SELECT pg_backend_pid()"))
                # As the application's own role (a role may end its own sessions).
                other = create_async_engine(
                    settings.database_url.get_secret_value(), poolclass=NullPool
                )
                async with other.connect() as connection:
                    assert await connection.scalar(
                        text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}
                    )
                await other.dispose()

                lost = await client.get(path)
                assert lost.status_code == 503, lost.text
                assert lost.headers["content-type"] == "application/problem+json"
                assert lost.headers["retry-after"] == "1"
                assert lost.json()["type"] == "urn:relay:problem:database-unavailable"

                assert (await client.get(path)).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/search/nearest?lat=14.1&lon=-16.3",  # a reader, without a session
        "/hsds/services",  # a session
    ],
)
async def test_every_connection_in_use_is_a_503_after_the_wait_not_a_new_connection(
    path: str,
) -> None:
    """The pool does not overflow: a request finding every connection taken waits for one,
    and is answered 503 ``database-busy`` with Retry-After when none comes back in time."""
    settings = make_settings(database_pool_size=1, database_pool_timeout_seconds=0.3)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
            assert (await client.get(path)).status_code == 200
            engine = application.state.engine
            async with engine.connect() as held:
                await held.scalar(text("SELECT 1"))
                busy = await client.get(path)
                assert busy.status_code == 503, busy.text
                assert busy.headers["content-type"] == "application/problem+json"
                assert busy.headers["retry-after"] == "2"
                assert busy.json()["type"] == "urn:relay:problem:database-busy"
                assert engine.pool.checkedout() == 1  # no second connection was opened
            assert (await client.get(path)).status_code == 200


def _as_sqlalchemy_wraps_it(error: Exception) -> DBAPIError:
    """``error`` as SQLAlchemy's asyncpg dialect hands it over: translated to the dialect's
    DBAPI error class (carrying the SQLSTATE), then wrapped in a ``DBAPIError``."""
    dbapi = asyncpg_dialect.import_dbapi()
    translated = dbapi.Error(str(error), error)
    translated.__cause__ = error
    return DBAPIError.instance(None, None, translated, dbapi.Error)


class TestDatabaseUnreachable:
    """What a restart, a failover or a cut looks like from the driver is told apart from a
    defect: the first is a 503 ``database-unavailable``, the second stays a 500."""

    @pytest.mark.parametrize(
        "error",
        [
            ConnectionRefusedError(111, "Connect call failed"),
            ConnectionResetError(104, "Connection reset by peer"),
            TimeoutError(),
            OSError(113, "No route to host"),
            asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
            asyncpg.exceptions.AdminShutdownError("terminating connection"),
            asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
            asyncpg.exceptions.TooManyConnectionsError("too many clients"),
            asyncpg.exceptions.InterfaceError("connection is closed"),
        ],
        ids=type,
    )
    def test_unreachable_as_raised_and_as_wrapped(self, error: Exception) -> None:
        assert database_unreachable(error)
        if isinstance(error, asyncpg.exceptions.PostgresError):
            assert database_unreachable(_as_sqlalchemy_wraps_it(error))

    @pytest.mark.parametrize(
        "error",
        [
            asyncpg.exceptions.UniqueViolationError("duplicate key"),
            asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
            asyncpg.exceptions.UndefinedTableError("relation does not exist"),
            asyncpg.exceptions.DataError("invalid input for query argument $1"),
            asyncpg.exceptions.InterfaceError("the server expects 2 arguments, 1 was passed"),
            asyncpg.exceptions.InterfaceError("another operation is in progress"),
            ValueError("not a database error"),
        ],
        ids=type,
    )
    def test_defects_are_not_unreachable(self, error: Exception) -> None:
        assert not database_unreachable(error)
        if isinstance(error, asyncpg.exceptions.PostgresError):
            assert not database_unreachable(_as_sqlalchemy_wraps_it(error))


@pytest.mark.parametrize(
    "path",
    [
        "/v1/search/nearest?lat=14.1&lon=-16.3",  # a reader, without a session
        "/hsds/services",  # a session
    ],
)
async def test_a_statement_past_the_timeout_is_a_503_not_a_500(
    path: str, owner_engine: AsyncEngine
) -> None:
    """A statement cancelled by ``statement_timeout`` (here: waiting on a lock another
    transaction holds) is the service being busy: 503 ``database-busy`` with Retry-After, and
    the next request is served once the lock is gone."""
    application = create_app(make_settings(database_statement_timeout_ms=200))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
            assert (await client.get(path)).status_code == 200
            async with owner_engine.connect() as holder:
                await holder.execute(text("LOCK TABLE organization IN ACCESS EXCLUSIVE MODE"))
                busy = await client.get(path)
                await holder.rollback()
            assert busy.status_code == 503, busy.text
            assert busy.headers["content-type"] == "application/problem+json"
            assert busy.headers["retry-after"] == "2"
            assert busy.json()["type"] == "urn:relay:problem:database-busy"
            assert (await client.get(path)).status_code == 200


async def test_a_database_host_that_stops_answering_is_a_503_within_the_connect_timeout() -> None:
    """A host that accepts the connection and then says nothing (a network cut, a frozen
    server) is not waited on for asyncpg's default minute: ``RELAY_DATABASE_CONNECT_TIMEOUT_
    SECONDS`` later the request is answered 503 ``database-unavailable``."""
    silent: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        silent.append(writer)

    server = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = make_settings(
        database_url=f"postgresql+asyncpg://nobody:nothing@127.0.0.1:{port}/none",
        database_connect_timeout_seconds=0.5,
    )
    application = create_app(settings)
    try:
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
                started = time.monotonic()
                response = await client.get("/hsds/services")
                waited = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert response.json()["type"] == "urn:relay:problem:database-unavailable"
        assert waited < 5
        assert silent, "the request did reach the silent host"
    finally:
        for writer in silent:
            writer.close()
        server.close()
        await server.wait_closed()
