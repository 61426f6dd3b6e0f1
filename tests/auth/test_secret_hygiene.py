"""Secrets and tokens never reach a log line, nor the database in clear."""

import logging

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from structlog.testing import capture_logs

from api.auth.scopes import Scope
from api.config import Settings
from tests.factories.auth import (
    ASSERTION_TYPE,
    assertion,
    create_client,
    ec_key,
    public_jwks,
)
from tests.factories.organizations import create_organization


async def test_token_requests_log_no_secret_or_token(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    organization = await create_organization(session)
    credentials = await create_client(
        session, settings, organization, scopes=[Scope.directory_read]
    )
    secret = credentials.client_secret or ""
    key = ec_key("hygiene")
    key_client = await create_client(
        session, settings, organization, scopes=[Scope.directory_read], jwks=public_jwks(key)
    )
    signed = assertion(
        key_client.client_id, key, audience=settings.token_endpoint, algorithm="ES384"
    )
    with capture_logs() as logs:
        issued = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth(credentials.client_id, secret),
        )
        token = issued.json()["access_token"]
        await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth(credentials.client_id, secret + "typo"),
        )
        by_key = await client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": signed,
            },
        )
        await client.post(
            "/oauth/introspect",
            data={"token": token},
            auth=httpx.BasicAuth(credentials.client_id, secret),
        )
        await client.get("/v1/clients", headers={"Authorization": f"Bearer {token}"})
    assert issued.status_code == by_key.status_code == 200
    written = repr(logs) + caplog.text
    assert any(entry["event"] == "request" for entry in logs)
    for value in (secret, token, by_key.json()["access_token"], signed, signed.split(".")[2]):
        assert value not in written


async def test_database_holds_no_secret_or_token_in_clear(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
) -> None:
    organization = await create_organization(session)
    credentials = await create_client(
        session, settings, organization, scopes=[Scope.directory_read]
    )
    secret = credentials.client_secret or ""
    issued = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=httpx.BasicAuth(credentials.client_id, secret),
    )
    token = issued.json()["access_token"]
    rows = await session.execute(
        text(
            "SELECT c::text FROM oauth_client c WHERE client_id = :id "
            "UNION ALL SELECT t::text FROM oauth_token t "
            "JOIN oauth_client c ON c.id = t.client_pk WHERE c.client_id = :id"
        ),
        {"id": credentials.client_id},
    )
    dumped = [row for (row,) in rows]
    assert len(dumped) == 2
    for row in dumped:
        assert secret not in row
        assert secret.removeprefix("rly_secret_") not in row
        assert token not in row
        assert token.removeprefix("rly_at_") not in row
