"""POST /oauth/token with client secrets, and what a token then opens."""

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

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
