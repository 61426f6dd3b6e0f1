"""A partner's view of its own OAuth clients, and nobody else's."""

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.scopes import Scope
from api.config import Settings
from tests.factories.auth import create_client, create_partner
from tests.isolation import assert_hidden_from_other_organisations


class TestOwnClients:
    async def test_lists_only_the_callers_organisation(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        mine = await create_partner(session, settings, scopes=[Scope.directory_read])
        second = await create_client(
            session, settings, mine.organization, scopes=[Scope.audit_read]
        )
        await create_partner(session, settings, scopes=[Scope.directory_read], name="Other")
        response = await client.get("/v1/clients", headers=mine.headers)
        assert response.status_code == 200
        body = response.json()
        assert body["meta"] == {"limit": 50, "offset": 0, "total": 2}
        assert {row["client_id"] for row in body["data"]} == {
            mine.client.client_id,
            second.client_id,
        }
        for row in body["data"]:
            assert "client_secret" not in row
            assert "secret_hash" not in row
        assert mine.client.client_secret not in response.text

    async def test_another_organisations_client_is_404_like_a_missing_one(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        owner = await create_partner(session, settings, scopes=[Scope.directory_read])
        other = await create_partner(session, settings, scopes=[Scope.admin], name="Other")
        await assert_hidden_from_other_organisations(
            client,
            url=f"/v1/clients/{owner.client.client_id}",
            owner_headers=owner.headers,
            other_headers=other.headers,
            missing_url="/v1/clients/rly_client_does_not_exist",
        )

    async def test_page_size_is_bounded(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        partner = await create_partner(session, settings, scopes=[Scope.directory_read])
        response = await client.get("/v1/clients?limit=101", headers=partner.headers)
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["query", "limit"]
