"""Introspection (RFC 7662), revocation (RFC 7009) and metadata (RFC 8414)."""

from datetime import timedelta

import httpx
import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.scopes import Scope
from api.config import Settings
from api.routers.oauth import AUTHORIZE_PAGE
from api.schemas.clients import ClientCredentials
from tests.factories.auth import create_client, issue_token
from tests.factories.organizations import create_organization


@pytest.fixture
async def owner(session: AsyncSession, settings: Settings) -> ClientCredentials:
    organization = await create_organization(session, name="Owner NGO")
    return await create_client(session, settings, organization, scopes=[Scope.directory_read])


@pytest.fixture
async def stranger(session: AsyncSession, settings: Settings) -> ClientCredentials:
    organization = await create_organization(session, name="Stranger NGO")
    return await create_client(session, settings, organization, scopes=[Scope.directory_read])


def auth(credentials: ClientCredentials) -> httpx.BasicAuth:
    return httpx.BasicAuth(credentials.client_id, credentials.client_secret or "")


async def get_token(client: httpx.AsyncClient, credentials: ClientCredentials) -> str:
    response = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=auth(credentials)
    )
    token: str = response.json()["access_token"]
    return token


class TestIntrospection:
    async def test_own_active_token(
        self, client: httpx.AsyncClient, owner: ClientCredentials, settings: Settings
    ) -> None:
        token = await get_token(client, owner)
        response = await client.post("/oauth/introspect", data={"token": token}, auth=auth(owner))
        assert response.status_code == 200
        body = response.json()
        assert body["active"] is True
        assert body["client_id"] == owner.client_id
        assert body["scope"] == "directory:read"
        assert body["iss"] == settings.issuer
        assert body["exp"] - body["iat"] == 600
        assert body["organization_id"] == str(owner.organization_id)

    async def test_another_clients_token_is_inactive(
        self, client: httpx.AsyncClient, owner: ClientCredentials, stranger: ClientCredentials
    ) -> None:
        token = await get_token(client, owner)
        response = await client.post(
            "/oauth/introspect", data={"token": token}, auth=auth(stranger)
        )
        assert response.json() == {"active": False}

    async def test_revoked_token_is_inactive(
        self, client: httpx.AsyncClient, owner: ClientCredentials
    ) -> None:
        token = await get_token(client, owner)
        revoked = await client.post("/oauth/revoke", data={"token": token}, auth=auth(owner))
        assert revoked.status_code == 200
        response = await client.post("/oauth/introspect", data={"token": token}, auth=auth(owner))
        assert response.json() == {"active": False}

    async def test_expired_token_is_inactive(
        self,
        client: httpx.AsyncClient,
        owner: ClientCredentials,
        session: AsyncSession,
        settings: Settings,
    ) -> None:
        token = await issue_token(session, settings, owner, lifetime=timedelta(seconds=-5))
        response = await client.post("/oauth/introspect", data={"token": token}, auth=auth(owner))
        assert response.json() == {"active": False}

    async def test_unknown_token_is_inactive(
        self, client: httpx.AsyncClient, owner: ClientCredentials
    ) -> None:
        response = await client.post(
            "/oauth/introspect", data={"token": "rly_at_made_up"}, auth=auth(owner)
        )
        assert response.json() == {"active": False}

    async def test_needs_client_authentication(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/oauth/introspect", data={"token": "rly_at_x"})
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"


class TestRevocation:
    async def test_revoked_token_stops_working_at_once(
        self, client: httpx.AsyncClient, owner: ClientCredentials
    ) -> None:
        token = await get_token(client, owner)
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/v1/clients", headers=headers)).status_code == 200
        await client.post("/oauth/revoke", data={"token": token}, auth=auth(owner))
        response = await client.get("/v1/clients", headers=headers)
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]

    async def test_cannot_revoke_another_clients_token(
        self, client: httpx.AsyncClient, owner: ClientCredentials, stranger: ClientCredentials
    ) -> None:
        token = await get_token(client, owner)
        response = await client.post("/oauth/revoke", data={"token": token}, auth=auth(stranger))
        assert response.status_code == 200
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/v1/clients", headers=headers)).status_code == 200

    async def test_another_clients_token_answers_like_an_unknown_one(
        self, client: httpx.AsyncClient, owner: ClientCredentials, stranger: ClientCredentials
    ) -> None:
        """RFC 7009 §2.2: the answer tells the stranger nothing about the owner's token."""
        token = await get_token(client, owner)
        others = await client.post("/oauth/revoke", data={"token": token}, auth=auth(stranger))
        unknown = await client.post(
            "/oauth/revoke", data={"token": "rly_at_made_up"}, auth=auth(stranger)
        )

        def seen(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
            headers = sorted(
                (name, value)
                for name, value in response.headers.items()
                if name not in {"x-request-id", "content-length"}
            )
            return response.status_code, response.content, headers

        assert seen(others) == seen(unknown)
        assert others.status_code == 200

    async def test_unknown_token_is_200(
        self, client: httpx.AsyncClient, owner: ClientCredentials
    ) -> None:
        response = await client.post(
            "/oauth/revoke", data={"token": "rly_at_made_up"}, auth=auth(owner)
        )
        assert response.status_code == 200


class TestMetadata:
    async def test_is_valid_rfc_8414_metadata(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        response = await client.get("/.well-known/oauth-authorization-server")
        metadata = AuthorizationServerMetadata(response.json())
        metadata.validate()  # raises on any field RFC 8414 requires or forbids
        if AUTHORIZE_PAGE:
            assert metadata["response_types_supported"] == ["code"]
            assert metadata["authorization_endpoint"] == settings.issuer + "/oauth/authorize"
        else:
            assert metadata["response_types_supported"] == ["none"]
        assert metadata["code_challenge_methods_supported"] == ["S256"]
        assert metadata["authorization_response_iss_parameter_supported"] is True

    async def test_lists_endpoints_methods_algorithms_and_scopes(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        response = await client.get("/.well-known/oauth-authorization-server")
        assert response.status_code == 200
        body = response.json()
        assert body["issuer"] == settings.issuer
        assert body["token_endpoint"] == settings.token_endpoint
        assert body["introspection_endpoint"] == settings.issuer + "/oauth/introspect"
        assert body["revocation_endpoint"] == settings.issuer + "/oauth/revoke"
        people = ["authorization_code", "refresh_token"] if AUTHORIZE_PAGE else []
        assert body["grant_types_supported"] == ["client_credentials", *people]
        # "none": public clients (apps acting for a person), never at introspection.
        assert set(body["token_endpoint_auth_methods_supported"]) == {
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        }
        assert set(body["revocation_endpoint_auth_methods_supported"]) == set(
            body["token_endpoint_auth_methods_supported"]
        )
        assert set(body["introspection_endpoint_auth_methods_supported"]) == {
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        }
        assert body["token_endpoint_auth_signing_alg_values_supported"] == [
            "RS256",
            "RS384",
            "PS256",
            "ES256",
            "ES384",
        ]
        assert set(body["scopes_supported"]) == {scope.value for scope in Scope}
