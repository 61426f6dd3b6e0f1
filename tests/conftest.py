"""The test harness: a real PostGIS database, the real HTTP stack, a rollback per test.

The suite reads only RELAY_TEST_DATABASE_URL (application role) and
RELAY_TEST_MIGRATION_DATABASE_URL (owner role); `make test` sets both. The database is migrated
once per run; every test's writes happen inside a transaction that is rolled back afterwards,
while the application's own commit/rollback logic runs for real against a savepoint.
"""

import asyncio
import base64
import os
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import uvicorn
from alembic import command
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from api.cli import alembic_config
from api.config import Environment, Settings
from api.crypto import generate_master_key
from api.main import create_app

TEST_DATABASE_URL = os.environ.get("RELAY_TEST_DATABASE_URL")
TEST_MIGRATION_DATABASE_URL = os.environ.get("RELAY_TEST_MIGRATION_DATABASE_URL", TEST_DATABASE_URL)

if not TEST_DATABASE_URL:
    pytest.exit(
        "RELAY_TEST_DATABASE_URL is not set: run the suite with `make test` "
        "(or `scripts/with-db.sh test .venv/bin/pytest`)",
        returncode=2,
    )


AUDIT_REVISION_BEFORE = "0009"  # the revision before the audit trail's tables
# The suite's audit signing key stays the same from run to run: the test database keeps the
# checkpoints earlier runs committed, and they must still verify.
TEST_AUDIT_SIGNING_KEY = base64.urlsafe_b64encode(b"relay-test-suite-audit-key-00001").decode()


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": Environment.test,
        "database_url": TEST_DATABASE_URL,
        "migration_database_url": TEST_MIGRATION_DATABASE_URL,
        "secret_key": secrets.token_urlsafe(48),
        "public_url": "https://relay.test",
        "master_keys": generate_master_key(),
        "audit_signing_key": TEST_AUDIT_SIGNING_KEY,
        # The session's app serves every test's anonymous searches from one address; the budget
        # itself is tested on apps of its own (tests/auth/test_anonymous_budget.py).
        "anonymous_requests_per_minute": 1_000_000,
        # People's passwords hashed cheaply (production refuses these; tests/people checks the
        # defaults are sound): a hash in about a millisecond.
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 64,
        "password_hash_parallelism": 1,
    }
    values.update(overrides)
    return Settings(**values)


def run_alembic(connection: Any, operation: Callable[..., None], revision: str) -> None:
    """Run an alembic command on an open (sync-facing) connection."""
    config = alembic_config()
    config.attributes["connection"] = connection
    config.attributes["configure_logger"] = False
    operation(config, revision)


@pytest.fixture(scope="session")
async def owner_engine() -> AsyncIterator[AsyncEngine]:
    """The migration (owner) role: for migrations and for what only the owner may do."""
    assert TEST_MIGRATION_DATABASE_URL
    engine = create_async_engine(TEST_MIGRATION_DATABASE_URL, poolclass=NullPool)
    async with engine.begin() as connection:
        await connection.run_sync(run_alembic, command.upgrade, "head")
        # A fresh audit trail for each run (its tables refuse DELETE; dropping them is the way):
        # whatever an interrupted earlier run committed cannot break this run's chain.
        await connection.run_sync(run_alembic, command.downgrade, AUDIT_REVISION_BEFORE)
        await connection.run_sync(run_alembic, command.upgrade, "head")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
async def app(settings: Settings, owner_engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def connection(app: FastAPI) -> AsyncIterator[AsyncConnection]:
    """One connection as the application role, inside a transaction rolled back after the test."""
    engine: AsyncEngine = app.state.engine
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """A session for factories; shares the test's transaction with the HTTP client."""
    async with AsyncSession(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    ) as session:
        yield session


@pytest.fixture
async def client(app: FastAPI, connection: AsyncConnection) -> AsyncIterator[httpx.AsyncClient]:
    """The real HTTP stack; each request's commit releases a savepoint of the test's transaction."""
    original = app.state.sessionmaker
    app.state.sessionmaker = async_sessionmaker(
        bind=connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        app.state.sessionmaker = original


@pytest.fixture
async def served(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[str]:
    """The test app served by uvicorn on a loopback port, bound (through ``client``) to this
    test's transaction: for tests that want a real TCP connection."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
