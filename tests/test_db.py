"""One transaction per request: a handler that fails leaves nothing behind."""

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

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
