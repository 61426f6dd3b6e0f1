"""What a route learns about its caller, and the per-client request budget."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from api.auth.dependencies import Authenticated
from api.auth.scopes import Scope
from api.config import Settings
from api.main import create_app
from tests.conftest import make_settings
from tests.factories.auth import Partner, create_partner

WHO = "/test/who-am-i"


async def who_am_i(principal: Authenticated) -> dict[str, object]:
    return {
        "client_id": principal.client_id,
        "organization_id": str(principal.organization_id),
        "scopes": sorted(principal.scopes),
        "acting_user": principal.acting_user,
        "purpose_of_use": principal.purpose_of_use,
    }


@pytest.fixture
async def partner(session: AsyncSession, settings: Settings) -> Partner:
    return await create_partner(session, settings, scopes=[Scope.referrals_send, Scope.audit_read])


@pytest.fixture
async def who(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    app.add_api_route(WHO, who_am_i, methods=["GET"], tags=["test"])
    try:
        yield client
    finally:
        app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", "") != WHO]


class TestPrincipal:
    async def test_carries_organisation_scopes_acting_user_and_purpose(
        self, who: httpx.AsyncClient, partner: Partner
    ) -> None:
        response = await who.get(
            WHO,
            headers={
                **partner.headers,
                "X-Acting-User": "staff:7f3a91",
                "X-Purpose-Of-Use": "TREAT",
            },
        )
        assert response.status_code == 200
        assert response.json() == {
            "client_id": partner.client.client_id,
            "organization_id": str(partner.organization.id),
            "scopes": ["audit:read", "referrals:send"],
            "acting_user": "staff:7f3a91",
            "purpose_of_use": "TREAT",
        }

    @pytest.mark.parametrize(
        ("header", "value"),
        [("X-Acting-User", "Amina Diallo"), ("X-Purpose-Of-Use", "x" * 65)],
    )
    async def test_malformed_context_headers_are_400(
        self, who: httpx.AsyncClient, partner: Partner, header: str, value: str
    ) -> None:
        response = await who.get(WHO, headers={**partner.headers, header: value})
        assert response.status_code == 400
        assert "Amina" not in response.text

    @pytest.mark.parametrize(
        "authorization",
        ["Basic abc", "Bearer", "Bearer " + "x" * 600, "rly_at_token-without-scheme"],
    )
    async def test_malformed_authorization_is_401(
        self, who: httpx.AsyncClient, authorization: str
    ) -> None:
        response = await who.get(WHO, headers={"Authorization": authorization})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_per_client_rate_limit_is_429_with_retry_after(
    connection: AsyncConnection, session: AsyncSession, settings: Settings
) -> None:
    limited = create_app(
        make_settings(client_requests_per_minute=3, secret_key=settings.secret_key)
    )
    limited.state.sessionmaker = async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    partner = await create_partner(session, settings, scopes=[Scope.directory_read])
    other = await create_partner(session, settings, scopes=[Scope.directory_read], name="Other")
    transport = httpx.ASGITransport(app=limited)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        statuses = [
            (await client.get("/v1/clients", headers=partner.headers)).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        refused = await client.get("/v1/clients", headers=partner.headers)
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) >= 1
        assert (await client.get("/v1/clients", headers=other.headers)).status_code == 200
