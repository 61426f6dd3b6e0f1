"""The budget of callers without a token on the expensive routes (docs/security.md, "Limits"):
past it one address gets 429 with Retry-After, while other addresses, partners with a token and
the cheap routes carry on."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from api.auth.ratelimit import anonymous_key
from api.auth.scopes import Scope
from api.config import Settings
from api.main import create_app
from tests.conftest import make_settings
from tests.factories.auth import create_partner

BUDGET = 3
POINT = "lat=14.1&lon=-16.0"
EXPENSIVE = [
    "/hsds/services?search=health",
    "/hsds/organizations?search=health",
    "/hsds/service_at_locations?lat=14.1&long=-16.0",
    "/ogc/collections/services/items?limit=10",
    f"/v1/search/nearest?{POINT}&need=medical-care",
    f"/v1/search/pathway?{POINT}",
    f"/lookup?{POINT}&need=medical-care",
    f"/lookup/results?{POINT}&need=medical-care",
    f"/lookup/pathway?{POINT}",
    "/lookup/export?area=00000000-0000-0000-0000-000000000000&format=csv",
    "/lookup/area/00000000-0000-0000-0000-000000000000/offline.json",
]
CHEAP = [
    "/hsds/",
    "/hsds/services/00000000-0000-0000-0000-000000000000",
    "/hsds/taxonomy_terms",
    "/ogc/collections",
    f"/v1/areas/lookup?{POINT}",
    "/lookup",
    "/healthz",
]

Client = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
async def limited(connection: AsyncConnection, settings: Settings) -> FastAPI:
    """An app with a budget of three anonymous requests a minute, on the test's transaction."""
    app = create_app(
        make_settings(anonymous_requests_per_minute=BUDGET, secret_key=settings.secret_key)
    )
    app.state.sessionmaker = async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    return app


@pytest.fixture
def client_from(limited: FastAPI) -> Client:
    """A client of the limited app calling from the given address."""

    @asynccontextmanager
    async def open_client(address: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=limited, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client

    return open_client


async def _spend(client: httpx.AsyncClient, path: str, times: int = BUDGET) -> list[int]:
    return [(await client.get(path)).status_code for _ in range(times)]


@pytest.mark.parametrize("path", EXPENSIVE)
class TestExpensiveRoutes:
    async def test_past_the_budget_an_address_gets_429_with_retry_after(
        self, client_from: Client, path: str
    ) -> None:
        async with client_from("198.51.100.7") as client:
            assert 429 not in await _spend(client, path)
            refused = await client.get(path)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        if path.startswith(("/lookup?", "/lookup/results", "/lookup/pathway")):
            # A person's page (or its results part): the problem said in the page's language.
            assert refused.headers["content-type"].startswith("text/html")
            assert "Too many searches from this connection" in refused.text
        else:
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["type"] == "urn:relay:problem:rate-limited"

    async def test_another_address_is_unaffected(self, client_from: Client, path: str) -> None:
        async with client_from("198.51.100.7") as abuser:
            await _spend(abuser, path, BUDGET + 2)
        async with client_from("203.0.113.9") as committee:
            assert 429 not in await _spend(committee, path)

    async def test_a_partner_with_a_token_is_unaffected(
        self, client_from: Client, session: AsyncSession, settings: Settings, path: str
    ) -> None:
        partner = await create_partner(session, settings, scopes=[Scope.directory_read])
        async with client_from("198.51.100.7") as client:
            await _spend(client, path, BUDGET + 2)
            if path.startswith("/lookup"):
                # The lookup pages read no token: everyone there is anonymous.
                return
            statuses = [
                (await client.get(path, headers=partner.headers)).status_code
                for _ in range(BUDGET + 2)
            ]
        assert 429 not in statuses


@pytest.mark.parametrize("path", [f"/lookup?{POINT}&need=medical-care", f"/lookup/pathway?{POINT}"])
class TestLookupPages:
    async def test_over_the_budget_the_page_says_it_in_the_readers_language(
        self, client_from: Client, path: str
    ) -> None:
        async with client_from("198.51.100.8") as client:
            await _spend(client, path + "&lang=fr")
            refused = await client.get(path + "&lang=fr")
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("text/html")
        assert "Trop de recherches depuis cette connexion" in refused.text
        assert refused.headers["content-language"] == "fr"
        assert 1 <= int(refused.headers["retry-after"]) <= 60


class TestCheapRoutes:
    async def test_they_are_not_counted(self, client_from: Client) -> None:
        async with client_from("198.51.100.7") as client:
            for path in CHEAP:
                assert 429 not in await _spend(client, path, BUDGET + 2), path
            # ... and did not spend the budget of the expensive ones.
            assert 429 not in await _spend(client, EXPENSIVE[0])


class TestAddresses:
    async def test_one_ipv6_subscriber_prefix_shares_one_budget(self, client_from: Client) -> None:
        path = EXPENSIVE[0]
        for host in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"):
            async with client_from(host) as client:
                await client.get(path)
        async with client_from("2001:db8:1:2::99") as client:
            assert (await client.get(path)).status_code == 429
        async with client_from("2001:db8:1:3::1") as client:
            assert (await client.get(path)).status_code != 429

    @pytest.mark.parametrize(
        ("host", "key"),
        [
            ("198.51.100.7", "198.51.100.7"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
            ("::ffff:198.51.100.7", "198.51.100.7"),
            (None, "unknown"),
        ],
    )
    def test_the_key_of_an_address(self, host: str | None, key: str) -> None:
        assert anonymous_key(host) == key

    async def test_x_forwarded_for_is_not_believed_by_the_app(self, client_from: Client) -> None:
        """Without a trusted proxy (RELAY_TRUSTED_PROXIES, given to uvicorn by relay serve),
        a caller cannot pick the address it is counted on."""
        path = EXPENSIVE[0]
        async with client_from("198.51.100.7") as client:
            statuses = [
                (
                    await client.get(path, headers={"X-Forwarded-For": f"192.0.2.{index}"})
                ).status_code
                for index in range(BUDGET + 1)
            ]
        assert statuses[-1] == 429
