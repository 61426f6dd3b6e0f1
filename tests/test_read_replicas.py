"""Reads on replicas (``RELAY_DATABASE_READ_URL``, docs/scaling.md), without a cluster.

The "replica" here is a second engine on the test database whose connections are read-only and
outside the test's transaction: it sees nothing the test wrote, as a replica that the last
writes have not reached yet. So a read served from it cannot see the test's rows, one served
from the primary (the test's connection) does, and a read path that tried to write would fail.
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from api.auth.scopes import Scope
from api.config import Settings
from api.db import create_engine, spread_hosts
from api.main import create_app
from tests.conftest import TEST_DATABASE_URL, make_settings
from tests.factories.auth import create_partner
from tests.factories.referrals import add_service

MULTI_HOST = (
    "postgresql+asyncpg://relay_app:secret@/relay?host=127.0.0.1:5441&host=127.0.0.1:5442"
    "&host=127.0.0.1:5443&target_session_attrs=read-write"
)


class Checkouts:
    """How often the replica engine's pool handed out a connection."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_: Any) -> None:
        self.count += 1


@pytest.fixture(scope="module")
def replica_settings() -> Settings:
    return make_settings(database_read_url=TEST_DATABASE_URL)


@pytest.fixture
async def replica_app(replica_settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(replica_settings)
    async with application.router.lifespan_context(application):
        replicas: AsyncEngine = application.state.read_sessionmaker.kw["bind"]

        def read_only(connection: Any, _: Any) -> None:
            connection.run_async(
                lambda driver: driver.execute("SET default_transaction_read_only = on")
            )

        event.listen(replicas.sync_engine, "connect", read_only)
        yield application


@pytest.fixture
async def on_replicas(
    replica_app: FastAPI, connection: AsyncConnection
) -> AsyncIterator[tuple[httpx.AsyncClient, Checkouts]]:
    """A client of the app with replicas; its primary is the test's connection."""
    replica_app.state.sessionmaker = async_sessionmaker(
        bind=connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )
    checkouts = Checkouts()
    replicas: AsyncEngine = replica_app.state.read_sessionmaker.kw["bind"]
    event.listen(replicas.sync_engine.pool, "checkout", checkouts)
    transport = httpx.ASGITransport(app=replica_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client, checkouts


class TestSettings:
    def test_unset_by_default(self) -> None:
        settings = make_settings()
        assert settings.database_read_url is None

    def test_a_multi_host_url_reaches_asyncpg_as_hosts_ports_and_attributes(self) -> None:
        engine = create_engine(make_settings(), url=MULTI_HOST)
        arguments, parameters = engine.dialect.create_connect_args(engine.url)
        assert arguments == []
        assert parameters["host"] == ["127.0.0.1"] * 3
        assert parameters["port"] == [5441, 5442, 5443]
        assert parameters["target_session_attrs"] == "read-write"
        assert parameters["database"] == "relay"


class TestSpreadHosts:
    """``load_balance_hosts=random``, as libpq 16 has it: each connection tries the hosts in a
    new order, so a pool spreads over every standby."""

    def parameters(self, url: str) -> dict[str, Any]:
        engine = create_engine(make_settings(), url=url)
        _, parameters = engine.dialect.create_connect_args(engine.url)
        return dict(parameters)

    def test_random_orders_hosts_and_ports_together(self) -> None:
        parameters = self.parameters(MULTI_HOST + "&load_balance_hosts=random")
        orders = set()
        for _ in range(200):
            spread = spread_hosts(parameters)
            assert "load_balance_hosts" not in spread
            assert sorted(spread["port"]) == [5441, 5442, 5443]
            orders.add(tuple(spread["port"]))
            assert spread["target_session_attrs"] == "read-write"
        assert len(orders) == 6
        assert parameters["port"] == [5441, 5442, 5443]  # the engine's own are left as they were

    def test_without_it_the_order_is_kept(self) -> None:
        parameters = self.parameters(MULTI_HOST)
        assert spread_hosts(parameters) == parameters
        disabled = spread_hosts(self.parameters(MULTI_HOST + "&load_balance_hosts=disable"))
        assert disabled["port"] == [5441, 5442, 5443]

    def test_anything_else_is_refused(self) -> None:
        with pytest.raises(ValueError, match="random or disable"):
            spread_hosts(self.parameters(MULTI_HOST + "&load_balance_hosts=sometimes"))


def _depends_on(dependant: Any, wanted: set[Any]) -> bool:
    return any(
        dependency.call in wanted or _depends_on(dependency, wanted)
        for dependency in dependant.dependencies
    )


class TestOnlyReadsAreRoutedToReplicas:
    def test_every_route_on_the_replicas_is_a_get(self, app: FastAPI) -> None:
        """A route that writes must take the primary's session (``SessionDep``): on a replica
        its write would fail (read-only), and only when ``RELAY_DATABASE_READ_URL`` is set."""
        from fastapi.routing import iter_route_contexts

        from api.deps import _read_session, _read_sessionmaker

        on_replicas = [
            route
            for route in iter_route_contexts(app.routes)
            if getattr(route, "dependant", None) is not None
            and _depends_on(route.dependant, {_read_session, _read_sessionmaker})
        ]
        assert len(on_replicas) >= 15
        assert [
            (route.path, sorted(route.methods or ()))
            for route in on_replicas
            if not (route.methods or set()) <= {"GET", "HEAD"}
        ] == []


class TestWithoutReplicas:
    async def test_every_read_uses_the_primary(self, app: FastAPI) -> None:
        assert app.state.read_sessionmaker is None


class TestLagTolerantReadsGoToReplicas:
    @pytest.mark.parametrize(
        "path",
        [
            "/v1/search/nearest?lat=14.1&lon=-16.3",
            "/v1/search/pathway?lat=14.1&lon=-16.3",
            "/hsds/services",
            "/hsds/organizations",
            "/hsds/services?format=ndjson",
            "/ogc/collections",
            "/ogc/collections/services/items?bbox=-17,14,-16,15",
            "/lookup?lang=en",
        ],
    )
    async def test_anonymous_reads_are_served_by_a_replica(
        self, on_replicas: tuple[httpx.AsyncClient, Checkouts], path: str
    ) -> None:
        client, checkouts = on_replicas
        response = await client.get(path)
        assert response.status_code == 200, response.text
        assert checkouts.count >= 1

    async def test_a_replica_behind_does_not_show_what_was_just_written(
        self,
        on_replicas: tuple[httpx.AsyncClient, Checkouts],
        session: Any,
        replica_settings: Settings,
    ) -> None:
        client, _ = on_replicas
        owner = await create_partner(session, replica_settings, scopes=[Scope.directory_write])
        service = await add_service(session, owner, ("post-rape-care",), visibility="public")
        response = await client.get(f"/hsds/services/{service.id}")
        assert response.status_code == 404


class TestACallerReadsItsOwnWrites:
    async def test_a_directory_writer_reads_from_the_primary(
        self,
        on_replicas: tuple[httpx.AsyncClient, Checkouts],
        session: Any,
        replica_settings: Settings,
    ) -> None:
        client, checkouts = on_replicas
        owner = await create_partner(session, replica_settings, scopes=[Scope.directory_write])
        service = await add_service(session, owner, ("post-rape-care",), visibility="public")
        response = await client.get(f"/hsds/services/{service.id}", headers=owner.headers)
        assert response.status_code == 200, response.text
        assert response.json()["id"] == str(service.id)
        assert checkouts.count == 0

    async def test_a_reader_of_the_directory_reads_from_a_replica(
        self,
        on_replicas: tuple[httpx.AsyncClient, Checkouts],
        session: Any,
        replica_settings: Settings,
    ) -> None:
        client, checkouts = on_replicas
        owner = await create_partner(session, replica_settings, scopes=[Scope.directory_write])
        reader = await create_partner(
            session, replica_settings, scopes=[Scope.directory_read], name="Reader NGO"
        )
        service = await add_service(session, owner, ("post-rape-care",), visibility="public")
        response = await client.get(f"/hsds/services/{service.id}", headers=reader.headers)
        # Its token was found on the primary (the replica has not got it yet); the read itself
        # went to the replica, which has not got the service yet either.
        assert response.status_code == 404
        assert checkouts.count >= 1

    async def test_a_token_just_issued_works_on_the_search(
        self,
        on_replicas: tuple[httpx.AsyncClient, Checkouts],
        session: Any,
        replica_settings: Settings,
    ) -> None:
        client, checkouts = on_replicas
        reader = await create_partner(session, replica_settings, scopes=[Scope.directory_read])
        response = await client.get("/v1/search/nearest?lat=14.1&lon=-16.3", headers=reader.headers)
        assert response.status_code == 200, response.text
        assert checkouts.count >= 1

    async def test_a_directory_writer_searches_on_the_primary(
        self,
        on_replicas: tuple[httpx.AsyncClient, Checkouts],
        session: Any,
        replica_settings: Settings,
    ) -> None:
        client, _ = on_replicas
        owner = await create_partner(session, replica_settings, scopes=[Scope.directory_write])
        service = await add_service(session, owner, ("post-rape-care",), visibility="public")
        response = await client.get(
            f"/hsds/services?per_page=50&organization_id={owner.organization.id}",
            headers=owner.headers,
        )
        assert response.status_code == 200, response.text
        assert [item["id"] for item in response.json()["contents"]] == [str(service.id)]
