"""private_key_jwt client authentication (RFC 7523) and the attacks on it."""

import base64
import hashlib
import hmac
import json
import time
import uuid

import httpx
import pytest
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.scopes import Scope
from api.config import Settings
from api.schemas.clients import ClientCredentials
from tests.factories.auth import (
    ASSERTION_TYPE,
    assertion,
    create_client,
    ec_key,
    public_jwks,
    rsa_key,
)
from tests.factories.organizations import create_organization

TOKEN = "/oauth/token"


class KeyClient:
    def __init__(self, credentials: ClientCredentials, ec: ECKey, rsa: RSAKey) -> None:
        self.credentials = credentials
        self.ec = ec
        self.rsa = rsa

    @property
    def client_id(self) -> str:
        return self.credentials.client_id


@pytest.fixture
async def key_client(session: AsyncSession, settings: Settings) -> KeyClient:
    ec, rsa = ec_key("ec-2026"), rsa_key("rsa-2026")
    organization = await create_organization(session, name="Hôpital régional")
    credentials = await create_client(
        session, settings, organization, scopes=[Scope.referrals_receive], jwks=public_jwks(ec, rsa)
    )
    assert credentials.client_secret is None
    assert credentials.auth_method == "private_key_jwt"
    return KeyClient(credentials, ec, rsa)


def form(signed: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": signed,
    }


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_for(client_id: str, audience: str) -> dict[str, object]:
    now = int(time.time())
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }


async def assert_refused(client: httpx.AsyncClient, signed: str) -> None:
    response = await client.post(TOKEN, data=form(signed))
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


class TestAccepted:
    @pytest.mark.parametrize("algorithm", ["ES384", "RS256", "PS256", "RS384"])
    async def test_signed_assertion_gets_a_token(
        self, client: httpx.AsyncClient, key_client: KeyClient, settings: Settings, algorithm: str
    ) -> None:
        key = key_client.ec if algorithm.startswith("ES") else key_client.rsa
        signed = assertion(
            key_client.client_id, key, audience=settings.token_endpoint, algorithm=algorithm
        )
        response = await client.post(TOKEN, data=form(signed))
        assert response.status_code == 200, response.text
        assert response.json()["scope"] == "referrals:receive"

    async def test_issuer_is_an_accepted_audience(
        self, client: httpx.AsyncClient, key_client: KeyClient, settings: Settings
    ) -> None:
        signed = assertion(
            key_client.client_id, key_client.ec, audience=settings.issuer, algorithm="ES384"
        )
        assert (await client.post(TOKEN, data=form(signed))).status_code == 200

    async def test_es256_with_a_p256_key(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        key = ec_key("p256", curve="P-256")
        organization = await create_organization(session)
        credentials = await create_client(
            session, settings, organization, scopes=[Scope.directory_read], jwks=public_jwks(key)
        )
        signed = assertion(
            credentials.client_id, key, audience=settings.token_endpoint, algorithm="ES256"
        )
        assert (await client.post(TOKEN, data=form(signed))).status_code == 200


class TestRefused:
    async def test_replayed_assertion(
        self, client: httpx.AsyncClient, key_client: KeyClient, settings: Settings
    ) -> None:
        signed = assertion(
            key_client.client_id, key_client.ec, audience=settings.token_endpoint, algorithm="ES384"
        )
        assert (await client.post(TOKEN, data=form(signed))).status_code == 200
        await assert_refused(client, signed)

    async def test_wrong_audience(self, client: httpx.AsyncClient, key_client: KeyClient) -> None:
        signed = assertion(
            key_client.client_id,
            key_client.ec,
            audience="https://other.example/oauth/token",
            algorithm="ES384",
        )
        await assert_refused(client, signed)

    async def test_alg_none(
        self, client: httpx.AsyncClient, key_client: KeyClient, settings: Settings
    ) -> None:
        header = b64(json.dumps({"alg": "none", "kid": "ec-2026"}).encode())
        payload = b64(
            json.dumps(claims_for(key_client.client_id, settings.token_endpoint)).encode()
        )
        await assert_refused(client, f"{header}.{payload}.")

    async def test_hs256_signed_with_the_public_key(
        self, client: httpx.AsyncClient, key_client: KeyClient, settings: Settings
    ) -> None:
        public_pem = key_client.rsa.as_pem(private=False)
        header = b64(json.dumps({"alg": "HS256", "kid": "rsa-2026"}).encode())
        payload = b64(
            json.dumps(claims_for(key_client.client_id, settings.token_endpoint)).encode()
        )
        signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        await assert_refused(client, f"{header}.{payload}.{b64(signature)}")

    async def test_expired(
        self, client: httpx.AsyncClient, key_client: KeyClient, settings: Settings
    ) -> None:
        signed = assertion(
            key_client.client_id,
            key_client.ec,
            audience=settings.token_endpoint,
            algorithm="ES384",
            lifetime=-120,
        )
        await assert_refused(client, signed)

    async def test_exp_more_than_five_minutes_ahead(
        self, client: httpx.AsyncClient, key_client: KeyClient, settings: Settings
    ) -> None:
        signed = assertion(
            key_client.client_id,
            key_client.ec,
            audience=settings.token_endpoint,
            algorithm="ES384",
            lifetime=3600,
        )
        await assert_refused(client, signed)

    async def test_signed_with_an_unregistered_key(
        self, client: httpx.AsyncClient, key_client: KeyClient, settings: Settings
    ) -> None:
        intruder = ec_key("ec-2026")  # same kid, different key
        signed = assertion(
            key_client.client_id, intruder, audience=settings.token_endpoint, algorithm="ES384"
        )
        await assert_refused(client, signed)

    async def test_unknown_kid(
        self, client: httpx.AsyncClient, key_client: KeyClient, settings: Settings
    ) -> None:
        stranger = ec_key("not-registered")
        signed = assertion(
            key_client.client_id, stranger, audience=settings.token_endpoint, algorithm="ES384"
        )
        await assert_refused(client, signed)

    async def test_issuer_other_than_the_client(
        self, client: httpx.AsyncClient, key_client: KeyClient, settings: Settings
    ) -> None:
        signed = assertion(
            key_client.client_id,
            key_client.ec,
            audience=settings.token_endpoint,
            algorithm="ES384",
            iss="rly_client_someone_else",
        )
        await assert_refused(client, signed)

    async def test_missing_jti(
        self, client: httpx.AsyncClient, key_client: KeyClient, settings: Settings
    ) -> None:
        signed = assertion(
            key_client.client_id,
            key_client.ec,
            audience=settings.token_endpoint,
            algorithm="ES384",
            jti="",
        )
        await assert_refused(client, signed)

    async def test_garbage_assertion(self, client: httpx.AsyncClient) -> None:
        await assert_refused(client, "not.a.jwt")

    async def test_a_key_client_cannot_use_a_secret(
        self, client: httpx.AsyncClient, key_client: KeyClient
    ) -> None:
        response = await client.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth(key_client.client_id, "rly_secret_anything"),
        )
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
