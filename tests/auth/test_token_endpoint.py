"""POST /oauth/token with client secrets, and what a token then opens."""

import base64
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.ratelimit import Limits, address_key
from api.auth.scopes import Scope
from api.config import Settings
from api.models.oauth import ClientAuthMethod
from api.models.organization import Organization
from api.schemas.clients import ClientCredentials
from tests.factories.auth import create_client
from tests.factories.organizations import create_organization

TOKEN = "/oauth/token"


@pytest.fixture
async def secret_client(session: AsyncSession, settings: Settings) -> ClientCredentials:
    organization = await create_organization(session)
    return await create_client(
        session, settings, organization, scopes=[Scope.directory_read, Scope.referrals_send]
    )


def basic(credentials: ClientCredentials, secret: str | None = None) -> httpx.BasicAuth:
    return httpx.BasicAuth(credentials.client_id, secret or credentials.client_secret or "")


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == error


class TestClientSecretBasic:
    async def test_issues_a_bearer_token(
        self, client: httpx.AsyncClient, secret_client: ClientCredentials
    ) -> None:
        response = await client.post(
            TOKEN,
            data={"grant_type": "client_credentials", "scope": "directory:read"},
            auth=basic(secret_client),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 600
        assert body["scope"] == "directory:read"
        assert body["access_token"].startswith("rly_at_")
        assert "refresh_token" not in body
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"

    async def test_without_scope_grants_every_allowed_scope(
        self, client: httpx.AsyncClient, secret_client: ClientCredentials
    ) -> None:
        response = await client.post(
            TOKEN, data={"grant_type": "client_credentials"}, auth=basic(secret_client)
        )
        assert response.json()["scope"] == "directory:read referrals:send"

    async def test_the_token_opens_a_protected_route(
        self, client: httpx.AsyncClient, secret_client: ClientCredentials
    ) -> None:
        issued = await client.post(
            TOKEN, data={"grant_type": "client_credentials"}, auth=basic(secret_client)
        )
        token = issued.json()["access_token"]
        response = await client.get(
            f"/v1/clients/{secret_client.client_id}", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200
        assert response.json()["client_id"] == secret_client.client_id

    async def test_wrong_secret_is_401_invalid_client(
        self, client: httpx.AsyncClient, secret_client: ClientCredentials
    ) -> None:
        response = await client.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            auth=basic(secret_client, "rly_secret_wrong"),
        )
        assert_oauth_error(response, 401, "invalid_client")
        assert "Basic" in response.headers["www-authenticate"]

    async def test_unknown_client_is_401_invalid_client(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth("rly_client_nobody", "rly_secret_nothing"),
        )
        assert_oauth_error(response, 401, "invalid_client")

    async def test_disallowed_scope_is_invalid_scope_never_narrowed(
        self, client: httpx.AsyncClient, secret_client: ClientCredentials
    ) -> None:
        response = await client.post(
            TOKEN,
            data={"grant_type": "client_credentials", "scope": "directory:read admin"},
            auth=basic(secret_client),
        )
        assert_oauth_error(response, 400, "invalid_scope")
        assert "admin" in response.json()["error_description"]

    async def test_unknown_scope_is_invalid_scope_and_not_echoed(
        self, client: httpx.AsyncClient, secret_client: ClientCredentials
    ) -> None:
        response = await client.post(
            TOKEN,
            data={"grant_type": "client_credentials", "scope": "Amina:read ✓"},
            auth=basic(secret_client),
        )
        assert_oauth_error(response, 400, "invalid_scope")
        assert "Amina" not in response.text

    async def test_other_grant_types_are_refused(
        self, client: httpx.AsyncClient, secret_client: ClientCredentials
    ) -> None:
        response = await client.post(
            TOKEN,
            data={"grant_type": "password", "username": "a", "password": "b"},
            auth=basic(secret_client),
        )
        assert_oauth_error(response, 400, "unsupported_grant_type")

    async def test_json_body_is_invalid_request(
        self, client: httpx.AsyncClient, secret_client: ClientCredentials
    ) -> None:
        response = await client.post(
            TOKEN, json={"grant_type": "client_credentials"}, auth=basic(secret_client)
        )
        assert response.status_code == 400
        assert response.json()["error"] in {"invalid_request", "unsupported_grant_type"}

    async def test_repeated_parameter_is_invalid_request(
        self, client: httpx.AsyncClient, secret_client: ClientCredentials
    ) -> None:
        response = await client.post(
            TOKEN,
            content=b"grant_type=client_credentials&scope=directory:read&scope=admin",
            headers={"content-type": "application/x-www-form-urlencoded"},
            auth=basic(secret_client),
        )
        assert_oauth_error(response, 400, "invalid_request")

    async def test_two_authentication_methods_at_once_is_invalid_request(
        self, client: httpx.AsyncClient, secret_client: ClientCredentials
    ) -> None:
        response = await client.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": secret_client.client_id,
                "client_secret": secret_client.client_secret or "",
            },
            auth=basic(secret_client),
        )
        assert_oauth_error(response, 400, "invalid_request")


class TestClientSecretPost:
    async def test_issues_a_token(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        organization = await create_organization(session)
        credentials = await create_client(
            session,
            settings,
            organization,
            scopes=[Scope.directory_read],
            auth_method=ClientAuthMethod.client_secret_post,
        )
        response = await client.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret or "",
            },
        )
        assert response.status_code == 200, response.text

    async def test_a_basic_client_cannot_post_its_secret(
        self, client: httpx.AsyncClient, secret_client: ClientCredentials
    ) -> None:
        response = await client.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": secret_client.client_id,
                "client_secret": secret_client.client_secret or "",
            },
        )
        assert_oauth_error(response, 401, "invalid_client")

    async def test_wrong_secret_is_401(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        organization = await create_organization(session)
        credentials = await create_client(
            session,
            settings,
            organization,
            scopes=[Scope.directory_read],
            auth_method=ClientAuthMethod.client_secret_post,
        )
        response = await client.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": credentials.client_id,
                "client_secret": "rly_secret_guess",
            },
        )
        assert_oauth_error(response, 401, "invalid_client")


class TestClientAndOrganisationState:
    async def test_suspended_organisation_gets_no_token_and_its_tokens_stop(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        secret_client: ClientCredentials,
    ) -> None:
        issued = await client.post(
            TOKEN, data={"grant_type": "client_credentials"}, auth=basic(secret_client)
        )
        headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        await session.execute(
            update(Organization)
            .where(Organization.id == secret_client.organization_id)  # type: ignore[arg-type]
            .values(status="suspended")
        )
        refused = await client.post(
            TOKEN, data={"grant_type": "client_credentials"}, auth=basic(secret_client)
        )
        assert_oauth_error(refused, 401, "invalid_client")
        assert (await client.get("/v1/clients", headers=headers)).status_code == 401


class TestFailedAuthenticationThrottling:
    async def test_repeated_failures_are_throttled_with_retry_after(
        self, client: httpx.AsyncClient, secret_client: ClientCredentials, settings: Settings
    ) -> None:
        for _ in range(settings.token_failures_per_window):
            response = await client.post(
                TOKEN,
                data={"grant_type": "client_credentials"},
                auth=basic(secret_client, "rly_secret_guess"),
            )
            assert response.status_code == 401
        throttled = await client.post(
            TOKEN, data={"grant_type": "client_credentials"}, auth=basic(secret_client)
        )
        assert throttled.status_code == 429
        assert throttled.headers["content-type"] == "application/problem+json"
        assert int(throttled.headers["retry-after"]) >= 1


PER_CLIENT_AND_ADDRESS = 3
PER_ADDRESS = 6


@pytest.fixture
def small_limits(app: FastAPI) -> Iterator[Limits]:
    """Fresh failure counters with small budgets for one test (the suite's app is shared)."""
    original = app.state.limits
    app.state.limits = Limits(
        client_requests_per_minute=1200,
        token_failures_per_window=PER_CLIENT_AND_ADDRESS,
        token_failures_per_ip_per_window=PER_ADDRESS,
        token_failure_window_seconds=300,
    )
    try:
        yield app.state.limits
    finally:
        app.state.limits = original


@asynccontextmanager
async def calling_from(
    app: FastAPI, client: httpx.AsyncClient, address: str
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests come from ``address`` (the TCP peer the app sees), on the
    test's transaction like ``client``."""
    assert client  # the fixture bound the app's sessions to this test's transaction
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def request_token(
    http: httpx.AsyncClient, credentials: ClientCredentials, secret: str | None = None
) -> httpx.Response:
    return await http.post(
        TOKEN, data={"grant_type": "client_credentials"}, auth=basic(credentials, secret)
    )


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.usefixtures("small_limits")
class TestNoLockoutOfTheRealClient:
    """Client ids are not secret: wrong secrets sent in a client's name, from any number of
    addresses, throttle those addresses and never the client calling from its own."""

    async def test_wrong_secrets_from_many_addresses_never_refuse_the_client(
        self, app: FastAPI, client: httpx.AsyncClient, secret_client: ClientCredentials
    ) -> None:
        attackers = [f"198.51.100.{host}" for host in range(1, 9)]
        async with calling_from(app, client, "203.0.113.7") as real:
            for round_ in range(PER_CLIENT_AND_ADDRESS + 2):
                for address in attackers:
                    async with calling_from(app, client, address) as attacker:
                        response = await request_token(attacker, secret_client, "rly_secret_x")
                    if round_ < PER_CLIENT_AND_ADDRESS:
                        assert_oauth_error(response, 401, "invalid_client")
                    else:
                        assert_throttled(response)
                issued = await request_token(real, secret_client)
                assert issued.status_code == 200, issued.text
                assert issued.json()["access_token"]

    async def test_an_attacker_is_throttled_even_with_the_right_secret_afterwards(
        self, app: FastAPI, client: httpx.AsyncClient, secret_client: ClientCredentials
    ) -> None:
        async with calling_from(app, client, "198.51.100.20") as attacker:
            for _ in range(PER_CLIENT_AND_ADDRESS):
                response = await request_token(attacker, secret_client, "rly_secret_x")
                assert_oauth_error(response, 401, "invalid_client")
            # Throttled before any secret is checked: a right guess learns nothing more.
            assert_throttled(await request_token(attacker, secret_client))

    async def test_guessing_across_client_ids_spends_the_addresses_budget(
        self, app: FastAPI, client: httpx.AsyncClient, secret_client: ClientCredentials
    ) -> None:
        async with calling_from(app, client, "198.51.100.30") as attacker:
            for index in range(PER_ADDRESS):
                made_up = ClientCredentials.model_construct(
                    client_id=f"rly_client_made_up_{index}", client_secret="rly_secret_x"
                )
                assert_oauth_error(await request_token(attacker, made_up), 401, "invalid_client")
            assert_throttled(await request_token(attacker, secret_client, "rly_secret_x"))
            assert_throttled(
                await attacker.post(
                    "/oauth/introspect", data={"token": "rly_at_x"}, auth=basic(secret_client)
                )
            )
        async with calling_from(app, client, "203.0.113.8") as real:
            assert (await request_token(real, secret_client)).status_code == 200

    async def test_an_ipv6_subnet_counts_as_one_address(
        self, app: FastAPI, client: httpx.AsyncClient, secret_client: ClientCredentials
    ) -> None:
        for host in range(1, PER_CLIENT_AND_ADDRESS + 1):
            async with calling_from(app, client, f"2001:db8:1:2::{host:x}") as attacker:
                response = await request_token(attacker, secret_client, f"rly_secret_{host}")
            assert_oauth_error(response, 401, "invalid_client")
        async with calling_from(app, client, "2001:db8:1:2:ffff::1") as attacker:
            assert_throttled(await request_token(attacker, secret_client, "rly_secret_x"))
        async with calling_from(app, client, "2001:db8:1:3::1") as real:
            assert (await request_token(real, secret_client)).status_code == 200

    @pytest.mark.parametrize(
        ("address", "key"),
        [
            ("198.51.100.7", "198.51.100.7"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
            ("::ffff:198.51.100.7", "198.51.100.7"),
            ("unknown", "unknown"),
        ],
    )
    def test_address_key(self, address: str, key: str) -> None:
        assert address_key(address) == key


class TestTokenLifetime:
    async def test_expired_token_is_401_invalid_token(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        from datetime import timedelta

        from tests.factories.auth import issue_token

        organization = await create_organization(session)
        credentials = await create_client(session, settings, organization, scopes=[Scope.admin])
        token = await issue_token(session, settings, credentials, lifetime=timedelta(seconds=-1))
        response = await client.get("/v1/clients", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
        assert datetime.now(UTC)  # the clock the check used is the real one


def basic_header(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


MALFORMED_BASIC = {
    "client id not UTF-8": basic_header(b"\xff\xfe\xfd:rly_secret_x"),
    "secret not UTF-8": basic_header(b"rly_client_x:\xc3\x28"),
    "not base64": {"Authorization": "Basic !!!not-base64!!!"},
    "not ASCII": {"Authorization": "Basic \xe9t\xe9"},
    "no colon": basic_header(b"rly_client_x"),
    "nothing after the scheme": {"Authorization": "Basic"},
}


@pytest.mark.usefixtures("small_limits")
class TestMalformedBasicCredentials:
    """Basic credentials that do not decode are a failed client authentication: 401
    ``invalid_client`` with the Basic challenge, like wrong ones, never a 500."""

    @pytest.mark.parametrize("endpoint", ["/oauth/token", "/oauth/introspect", "/oauth/revoke"])
    @pytest.mark.parametrize("case", list(MALFORMED_BASIC))
    async def test_is_401_invalid_client(
        self, client: httpx.AsyncClient, endpoint: str, case: str
    ) -> None:
        headers = {key: value.encode("latin-1") for key, value in MALFORMED_BASIC[case].items()}
        response = await client.post(
            endpoint,
            data={"grant_type": "client_credentials", "token": "rly_at_x"},
            headers=headers,  # type: ignore[arg-type]
        )
        assert_oauth_error(response, 401, "invalid_client")
        assert response.headers["www-authenticate"] == 'Basic realm="relay"'

    async def test_counts_as_a_failure_of_the_address(
        self, app: FastAPI, client: httpx.AsyncClient, secret_client: ClientCredentials
    ) -> None:
        async with calling_from(app, client, "198.51.100.40") as attacker:
            for _ in range(PER_ADDRESS):
                response = await attacker.post(
                    TOKEN,
                    data={"grant_type": "client_credentials"},
                    headers=basic_header(b"\xff:\xff"),
                )
                assert_oauth_error(response, 401, "invalid_client")
            assert_throttled(await request_token(attacker, secret_client))
