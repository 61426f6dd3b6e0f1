"""A real OAuth client library against the API served by uvicorn on loopback.

Authlib's ``AsyncOAuth2Client`` reads the server metadata, signs its own RFC 7523 assertion
(``PrivateKeyJWT``) or sends its secret, obtains a token over a real TCP connection and calls a
protected route with it. Nothing in the request is built by hand.
"""

import time

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.scopes import Scope
from api.config import Settings
from tests.factories.auth import create_client, public_jwks, rsa_key
from tests.factories.organizations import create_organization


async def test_private_key_jwt_with_authlib_async_client(
    served: str, session: AsyncSession, settings: Settings
) -> None:
    key = rsa_key("partner-2026")
    organization = await create_organization(session, name="Hotline 116")
    registered = await create_client(
        session, settings, organization, scopes=[Scope.directory_read], jwks=public_jwks(key)
    )
    async with httpx.AsyncClient(base_url=served) as plain:
        metadata = (await plain.get("/.well-known/oauth-authorization-server")).json()
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]

    # Relay refuses assertions valid for more than five minutes; Authlib's default is an hour.
    auth_method = PrivateKeyJWT(
        token_endpoint=metadata["token_endpoint"],
        headers={"kid": key.kid},
        claims={"exp": int(time.time()) + 120},
        alg="RS256",
    )
    async with AsyncOAuth2Client(
        client_id=registered.client_id,
        client_secret=key,
        token_endpoint_auth_method=auth_method,
        scope="directory:read",
    ) as oauth:
        oauth.register_client_auth_method(auth_method)
        token = await oauth.fetch_token(served + "/oauth/token", grant_type="client_credentials")
        assert token["token_type"] == "Bearer"
        assert token["scope"] == "directory:read"
        response = await oauth.get(served + f"/v1/clients/{registered.client_id}")
    assert response.status_code == 200
    assert response.json()["key_ids"] == ["partner-2026"]


async def test_client_secret_basic_with_authlib_async_client(
    served: str, session: AsyncSession, settings: Settings
) -> None:
    organization = await create_organization(session, name="Commissariat")
    registered = await create_client(session, settings, organization, scopes=[Scope.admin])
    async with AsyncOAuth2Client(
        client_id=registered.client_id,
        client_secret=registered.client_secret,
        token_endpoint_auth_method="client_secret_basic",
    ) as oauth:
        token = await oauth.fetch_token(served + "/oauth/token", grant_type="client_credentials")
        assert token["scope"] == "admin"
        response = await oauth.get(served + "/v1/admin/organizations")
    assert response.status_code == 200
    assert response.json()["meta"]["total"] >= 1
