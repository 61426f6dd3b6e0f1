"""The database restarts under a running API (issue 17): every request is answered 2xx or 503
``database-unavailable`` with ``Retry-After`` (never 500), and the same app answers 200 again
once the database is back, without being restarted itself.

This module shares nothing with the rest of the suite: it starts a PostgreSQL cluster of its own
(``initdb`` in a temporary directory, run as ``postgres`` on a free loopback port), creates the
roles and extensions as ``scripts/db-bootstrap.sh`` does, migrates it, and restarts it with
``pg_ctl restart -m fast`` while requests of every kind are in flight.
"""

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from alembic import command
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from api.auth.scopes import Scope
from api.main import create_app
from api.schemas.clients import ClientCredentials
from tests.conftest import make_settings, run_alembic
from tests.factories.auth import create_client
from tests.factories.directory import load_demo
from tests.factories.organizations import create_organization

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"
OWNER, APP = "relay_owner", "relay_app"
DATABASE = "relay"
BURST = 12  # concurrent requests per round: more than the app's pool holds
UNAVAILABLE = "urn:relay:problem:database-unavailable"

pytestmark = pytest.mark.skipif(
    not (PG_BIN / "initdb").exists() or os.geteuid() != 0 or not Path(RUNUSER).exists(),
    reason="needs PostgreSQL 15's server binaries and root (to run them as postgres)",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Cluster:
    """A throwaway PostgreSQL cluster: its directory, port and passwords (none is a default)."""

    directory: Path
    port: int
    passwords: dict[str, str]

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, role: str, database: str = DATABASE, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{role}:{self.passwords[role]}@127.0.0.1:{self.port}/{database}"

    def run(self, program: str, *arguments: str) -> None:
        subprocess.run(  # noqa: S603 - PostgreSQL's own programs, arguments of our making
            [RUNUSER, "-u", "postgres", "--", str(PG_BIN / program), *arguments],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def pg_ctl(self, action: str, *options: str) -> None:
        self.run(
            "pg_ctl",
            action,
            "--wait",
            "--pgdata",
            str(self.data),
            "--log",
            str(self.directory / "server.log"),
            *options,
        )


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    directory = Path(tempfile.mkdtemp(prefix="relay-restart-"))
    passwords = {name: secrets.token_urlsafe(24) for name in ("postgres", OWNER, APP)}
    cluster = Cluster(directory, _free_port(), passwords)
    try:
        password_file = directory / "superuser-password"
        password_file.write_text(passwords["postgres"])
        shutil.chown(directory, "postgres")
        shutil.chown(password_file, "postgres")
        directory.chmod(0o700)
        cluster.run(
            "initdb",
            "--pgdata",
            str(cluster.data),
            "--username",
            "postgres",
            "--auth",
            "scram-sha-256",
            "--pwfile",
            str(password_file),
            "--encoding",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={cluster.port} "
            f"-c unix_socket_directories={directory} -c fsync=off -c max_connections=40"
        )
        cluster.pg_ctl("start", "--options", options)
        yield cluster
    finally:
        if (cluster.data / "postmaster.pid").exists():
            cluster.pg_ctl("stop", "--mode", "immediate")
        shutil.rmtree(directory, ignore_errors=True)


async def _prepare(cluster: Cluster) -> None:
    """Roles, database and extensions as ``scripts/db-bootstrap.sh`` makes them."""
    superuser = await asyncpg.connect(cluster.url("postgres", "postgres", driver="postgresql"))
    try:
        await superuser.execute(f"CREATE ROLE {OWNER} LOGIN PASSWORD '{cluster.passwords[OWNER]}'")
        await superuser.execute(
            f"CREATE ROLE {APP} LOGIN PASSWORD '{cluster.passwords[APP]}' "
            "NOSUPERUSER NOCREATEDB NOCREATEROLE"
        )
        await superuser.execute(f"CREATE DATABASE {DATABASE} OWNER {OWNER}")
        await superuser.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {DATABASE} TO {APP}")
    finally:
        await superuser.close()
    database = await asyncpg.connect(cluster.url("postgres", driver="postgresql"))
    try:
        await database.execute("CREATE EXTENSION postgis; CREATE EXTENSION btree_gist")
    finally:
        await database.close()


@dataclass(frozen=True)
class Running:
    app: FastAPI
    http: httpx.AsyncClient
    credentials: ClientCredentials


@pytest.fixture(scope="module")
async def running(cluster: Cluster) -> AsyncIterator[Running]:
    """The real app on the throwaway cluster, migrated and holding the demo network."""
    await _prepare(cluster)
    owner = create_async_engine(cluster.url(OWNER), poolclass=NullPool)
    settings = make_settings(
        database_url=cluster.url(APP), migration_database_url=cluster.url(OWNER)
    ).model_copy(update={"database_pool_size": 4})
    try:
        async with owner.begin() as connection:
            await connection.run_sync(run_alembic, command.upgrade, "head")
        async with AsyncSession(owner, expire_on_commit=False) as session:
            await load_demo(session)
            organization = await create_organization(session, name="Restart NGO")
            credentials = await create_client(
                session, settings, organization, scopes=[Scope.directory_read]
            )
            await session.commit()
    finally:
        await owner.dispose()

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as http:
            yield Running(application, http, credentials)


async def _token(running: Running) -> str:
    response = await running.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(running.credentials.client_id, running.credentials.client_secret or ""),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _requests(running: Running, token: str) -> dict[str, httpx.Request]:
    """One request of each kind the attack run broke: the search (a reader on the driver),
    the search with a token (the token check on the reader), an HSDS list (ORM session), the
    token endpoint (OAuth, audit write), an authenticated API call (the token check in a
    session), the lookup page (HTML) and the metrics (which read the backlog)."""
    http = running.http
    bearer = {"Authorization": f"Bearer {token}"}
    basic = httpx.BasicAuth(running.credentials.client_id, running.credentials.client_secret or "")
    token_request = http.build_request(
        "POST", "/oauth/token", data={"grant_type": "client_credentials"}
    )
    token_request = next(basic.auth_flow(token_request))
    return {
        "search": http.build_request("GET", "/v1/search/nearest?lat=14.1&lon=-16.3"),
        "search with token": http.build_request(
            "GET", "/v1/search/nearest?lat=14.1&lon=-16.3", headers=bearer
        ),
        "hsds list": http.build_request("GET", "/hsds/services"),
        "token": token_request,
        "api call": http.build_request("GET", "/v1/clients", headers=bearer),
        "lookup page": http.build_request("GET", "/lookup?lat=14.1&lon=-16.3"),
        "metrics": http.build_request("GET", "/metrics"),
    }


def _unexpected(response: httpx.Response) -> str | None:
    """Why ``response`` is neither a success nor the documented 503, or None."""
    if 200 <= response.status_code < 300:
        return None
    if response.status_code != 503:
        return f"status {response.status_code}"
    if not response.headers.get("retry-after", "").isdigit():
        return "503 without Retry-After"
    if response.headers.get("content-type") != "application/problem+json":
        return "503 not a problem document"
    if response.json().get("type") != UNAVAILABLE:
        return f"503 of type {response.json().get('type')}"
    return None


async def _send_all(running: Running, requests: dict[str, httpx.Request]) -> list[tuple[str, int]]:
    async def send(kind: str) -> tuple[str, httpx.Response]:
        request = requests[kind]
        copy = running.http.build_request(
            request.method, request.url, headers=request.headers, content=request.content
        )
        return kind, await running.http.send(copy)

    kinds = [list(requests)[index % len(requests)] for index in range(BURST)]
    answered = await asyncio.gather(*(send(kind) for kind in kinds))
    problems = [(kind, _unexpected(response)) for kind, response in answered]
    bad = [(kind, why) for kind, why in problems if why is not None]
    assert not bad, bad
    return [(kind, response.status_code) for kind, response in answered]


class TestDatabaseRestart:
    async def test_requests_during_a_restart_are_503_never_500_and_the_app_recovers(
        self, cluster: Cluster, running: Running
    ) -> None:
        requests = _requests(running, await _token(running))
        for kind, status in await _send_all(running, requests):
            assert status == 200, kind

        restart = asyncio.create_task(
            asyncio.to_thread(cluster.pg_ctl, "restart", "--mode", "fast")
        )
        answered: list[tuple[str, int]] = []
        deadline = time.monotonic() + 20
        while not restart.done() and time.monotonic() < deadline:
            answered += await _send_all(running, requests)
        await restart
        assert any(status == 503 for _, status in answered), "no request met the restart"

        # Back: a connection the restart killed may still be met once (and discarded with the
        # whole pool); after that, every kind of request succeeds on the same app.
        for _ in range(3):
            await _send_all(running, requests)
        for _ in range(2):
            for kind, status in await _send_all(running, requests):
                assert status == 200, kind
