"""Operator onboarding over HTTP: organisations, clients, rotation, disabling."""

import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.auth.scopes import Scope
from api.config import Settings
from api.models.events import EventType, OutboxEvent
from tests.factories.auth import Partner, create_partner, ec_key, public_jwks, rsa_key


@pytest.fixture
async def operator(session: AsyncSession, settings: Settings) -> Partner:
    return await create_partner(session, settings, scopes=[Scope.admin], name="Relay operator")


async def onboard(client: httpx.AsyncClient, operator: Partner, **body: object) -> dict[str, str]:
    organization = await client.post(
        "/v1/admin/organizations",
        json={"name": "Commissariat central", "kind": "police"},
        headers=operator.headers,
    )
    assert organization.status_code == 201, organization.text
    response = await client.post(
        "/v1/admin/clients",
        json={
            "organization_id": organization.json()["id"],
            "scopes": ["referrals:receive"],
            **body,
        },
        headers=operator.headers,
    )
    assert response.status_code == 201, response.text
    created: dict[str, str] = response.json()
    return created


async def token_with(client: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=httpx.BasicAuth(client_id, secret),
    )


class TestOrganizations:
    async def test_create_list_get(self, client: httpx.AsyncClient, operator: Partner) -> None:
        created = await client.post(
            "/v1/admin/organizations",
            json={"name": "  Maison d'accueil  ", "kind": "shelter"},
            headers=operator.headers,
        )
        assert created.status_code == 201
        body = created.json()
        assert body["name"] == "Maison d'accueil"
        assert body["status"] == "active"
        one = await client.get(f"/v1/admin/organizations/{body['id']}", headers=operator.headers)
        assert one.json() == body
        listed = await client.get("/v1/admin/organizations?limit=100", headers=operator.headers)
        assert body in listed.json()["data"]

    @pytest.mark.parametrize(
        "body",
        [
            {"name": "X", "kind": "bakery"},
            {"name": "", "kind": "ngo"},
            {"name": "   ", "kind": "ngo"},  # empty once trimmed (was a 500: the CHECK refused it)
            {"name": "x" * 201, "kind": "ngo"},
            {"name": "X", "kind": "ngo", "extra": 1},
            {"kind": "ngo"},
            {"name": "Null\u0000byte", "kind": "ngo"},
        ],
    )
    async def test_invalid_bodies_are_422(
        self, client: httpx.AsyncClient, operator: Partner, body: dict[str, object]
    ) -> None:
        response = await client.post("/v1/admin/organizations", json=body, headers=operator.headers)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"

    async def test_found_by_name(self, client: httpx.AsyncClient, operator: Partner) -> None:
        for name in ("Foyer Akany Avoko", "Akany Soa", "Clinique du Port"):
            made = await client.post(
                "/v1/admin/organizations",
                json={"name": name, "kind": "shelter"},
                headers=operator.headers,
            )
            assert made.status_code == 201
        found = await client.get("/v1/admin/organizations?q=AKANY", headers=operator.headers)
        assert [row["name"] for row in found.json()["data"]] == ["Akany Soa", "Foyer Akany Avoko"]
        assert found.json()["meta"]["total"] == 2
        wildcard = await client.get("/v1/admin/organizations?q=%25", headers=operator.headers)
        assert wildcard.json()["data"] == []

    async def test_suspended_then_reactivated(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        operator: Partner,
    ) -> None:
        created = await onboard(client, operator)
        organization_id = created["organization_id"]
        token = await token_with(client, created["client_id"], created["client_secret"])
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        assert (await client.get("/v1/clients", headers=bearer)).status_code == 200
        path = f"/v1/admin/organizations/{organization_id}"
        suspended = await client.post(f"{path}/suspend", headers=operator.headers)
        assert suspended.status_code == 200
        assert suspended.json()["status"] == "suspended"
        assert (await client.get("/v1/clients", headers=bearer)).status_code == 401
        found = await session.execute(
            select(OutboxEvent.data).where(
                col(OutboxEvent.type) == EventType.directory_changed.value,
                col(OutboxEvent.subject_id) == uuid.UUID(organization_id),
            )
        )
        heard = list(found.scalars())
        assert heard == [
            {
                "resource": "organization",
                "id": organization_id,
                "organization_id": organization_id,
                "action": "update",
            }
        ]
        refused = await token_with(client, created["client_id"], created["client_secret"])
        assert refused.status_code in {400, 401}
        again = await client.post(f"{path}/suspend", headers=operator.headers)
        assert again.status_code == 409
        assert again.json()["type"] == "urn:relay:problem:organization-status-unchanged"
        reactivated = await client.post(f"{path}/reactivate", headers=operator.headers)
        assert reactivated.json()["status"] == "active"
        assert (await client.get("/v1/clients", headers=bearer)).status_code == 200
        missing = await client.post(
            "/v1/admin/organizations/00000000-0000-4000-8000-000000000000/suspend",
            headers=operator.headers,
        )
        assert missing.status_code == 404

    async def test_unknown_organisation_is_404(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        response = await client.get(
            "/v1/admin/organizations/00000000-0000-4000-8000-000000000000",
            headers=operator.headers,
        )
        assert response.status_code == 404


class TestClients:
    async def test_secret_is_shown_once_and_works(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        created = await onboard(client, operator)
        assert created["client_secret"].startswith("rly_secret_")
        assert (
            await token_with(client, created["client_id"], created["client_secret"])
        ).status_code == 200
        listed = await client.get(
            f"/v1/admin/clients?organization_id={created['organization_id']}",
            headers=operator.headers,
        )
        assert listed.json()["meta"]["total"] == 1
        assert created["client_secret"] not in listed.text
        assert "client_secret" not in listed.json()["data"][0]

    async def test_rotation_replaces_the_secret(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        created = await onboard(client, operator)
        rotated = await client.post(
            f"/v1/admin/clients/{created['client_id']}/rotate-secret", headers=operator.headers
        )
        assert rotated.status_code == 200
        new_secret = rotated.json()["client_secret"]
        assert new_secret != created["client_secret"]
        assert rotated.json()["rotated_at"] is not None
        old = await token_with(client, created["client_id"], created["client_secret"])
        assert old.status_code == 401
        assert (await token_with(client, created["client_id"], new_secret)).status_code == 200

    async def test_disabling_revokes_tokens_and_refuses_new_ones(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        created = await onboard(client, operator)
        issued = await token_with(client, created["client_id"], created["client_secret"])
        headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        assert (await client.get("/v1/clients", headers=headers)).status_code == 200
        disabled = await client.post(
            f"/v1/admin/clients/{created['client_id']}/disable", headers=operator.headers
        )
        assert disabled.json()["disabled_at"] is not None
        assert (await client.get("/v1/clients", headers=headers)).status_code == 401
        again = await token_with(client, created["client_id"], created["client_secret"])
        assert again.status_code == 401
        rotate = await client.post(
            f"/v1/admin/clients/{created['client_id']}/rotate-secret", headers=operator.headers
        )
        assert rotate.status_code == 409

    async def test_key_client_has_no_secret(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        created = await onboard(client, operator, jwks=public_jwks(ec_key("k1")))
        assert created["client_secret"] is None
        assert created["auth_method"] == "private_key_jwt"
        assert created["key_ids"] == ["k1"]

    @pytest.mark.parametrize(
        ("jwks", "why"),
        [
            ({"keys": []}, "1 to 10 keys"),
            ({"keys": [{"kty": "EC", "crv": "P-256"}]}, "kid"),
            (lambda: {"keys": [ec_key("p").as_dict(private=True)]}, "private key"),
            (lambda: public_jwks(rsa_key("small", bits=1024)), "2048"),
            (lambda: public_jwks(ec_key("k", curve="P-521")), "P-256 or P-384"),
            (lambda: public_jwks(ec_key("same"), rsa_key("same")), "unique"),
        ],
    )
    @pytest.mark.filterwarnings("ignore:Key size should be")
    async def test_bad_jwks_is_400_without_echoing_keys(
        self, client: httpx.AsyncClient, operator: Partner, jwks: object, why: str
    ) -> None:
        value = jwks() if callable(jwks) else jwks
        organization = await client.post(
            "/v1/admin/organizations", json={"name": "N", "kind": "ngo"}, headers=operator.headers
        )
        response = await client.post(
            "/v1/admin/clients",
            json={"organization_id": organization.json()["id"], "scopes": ["admin"], "jwks": value},
            headers=operator.headers,
        )
        assert response.status_code == 400, response.text
        assert why in response.json()["detail"]
        for key in value["keys"]:  # type: ignore[index]
            for field in ("x", "n", "d"):
                if field in key:
                    assert key[field] not in response.text

    async def test_unknown_scope_is_422(self, client: httpx.AsyncClient, operator: Partner) -> None:
        organization = await client.post(
            "/v1/admin/organizations", json={"name": "N", "kind": "ngo"}, headers=operator.headers
        )
        response = await client.post(
            "/v1/admin/clients",
            json={"organization_id": organization.json()["id"], "scopes": ["everything"]},
            headers=operator.headers,
        )
        assert response.status_code == 422

    async def test_client_for_unknown_organisation_is_404(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        response = await client.post(
            "/v1/admin/clients",
            json={
                "organization_id": "00000000-0000-4000-8000-000000000000",
                "scopes": ["admin"],
            },
            headers=operator.headers,
        )
        assert response.status_code == 404


class TestClientsActingForPeople:
    async def test_a_public_app_has_no_secret_and_its_redirect_uris(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        created = await onboard(
            client,
            operator,
            auth_method="none",
            redirect_uris=["http://127.0.0.1/callback", "https://app.example.org/cb"],
        )
        assert created["client_secret"] is None
        assert created["auth_method"] == "none"
        assert created["redirect_uris"] == [
            "http://127.0.0.1/callback",
            "https://app.example.org/cb",
        ]
        assert created["any_organization"] is False
        rotated = await client.post(
            f"/v1/admin/clients/{created['client_id']}/rotate-secret", headers=operator.headers
        )
        assert rotated.status_code == 409
        # It acts for people only: never for itself.
        refused = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": created["client_id"]},
        )
        assert refused.json()["error"] == "unauthorized_client"

    async def test_a_confidential_app_for_every_organisations_people(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        created = await onboard(
            client,
            operator,
            redirect_uris=["https://cases.example.org/relay"],
            any_organization=True,
        )
        assert created["auth_method"] == "client_secret_basic"
        assert created["client_secret"].startswith("rly_secret_")
        assert created["any_organization"] is True
        # A secret and redirect URIs: it acts for people, not for itself.
        refused = await token_with(client, created["client_id"], created["client_secret"])
        assert refused.json()["error"] == "unauthorized_client"

    @pytest.mark.parametrize(
        ("body", "why"),
        [
            ({"auth_method": "none"}, "redirect URIs"),
            ({"auth_method": "none", "redirect_uris": ["http://app.example.org/cb"]}, "https"),
            ({"auth_method": "none", "redirect_uris": ["https://*.example.org/cb"]}, "wildcards"),
            ({"redirect_uris": ["http://127.0.0.1/cb"]}, "native apps"),
            ({"auth_method": "none", "redirect_uris": ["http://localhost/cb"]}, "localhost"),
            ({"any_organization": True}, "redirect_uris"),
            (
                {
                    "auth_method": "none",
                    "redirect_uris": ["http://127.0.0.1/cb"],
                    "jwks": {"keys": []},
                },
                "jwks",
            ),
        ],
    )
    async def test_refused_registrations_are_400(
        self, client: httpx.AsyncClient, operator: Partner, body: dict[str, object], why: str
    ) -> None:
        organization = await client.post(
            "/v1/admin/organizations", json={"name": "N", "kind": "ngo"}, headers=operator.headers
        )
        response = await client.post(
            "/v1/admin/clients",
            json={"organization_id": organization.json()["id"], "scopes": ["admin"], **body},
            headers=operator.headers,
        )
        assert response.status_code == 400, response.text
        assert why in response.json()["detail"]

    async def test_more_than_ten_redirect_uris_is_422(
        self, client: httpx.AsyncClient, operator: Partner
    ) -> None:
        organization = await client.post(
            "/v1/admin/organizations", json={"name": "N", "kind": "ngo"}, headers=operator.headers
        )
        response = await client.post(
            "/v1/admin/clients",
            json={
                "organization_id": organization.json()["id"],
                "scopes": ["admin"],
                "redirect_uris": [f"https://app.example.org/{n}" for n in range(11)],
            },
            headers=operator.headers,
        )
        assert response.status_code == 422
