"""Who sees what in the directory, on every read path.

Walks every HSDS read endpoint (lists and each record) as an anonymous caller, as a
``directory:read`` partner and with ``directory:confidential``, and proves that the confidential
shelter's coordinates and address reach only the last, and partner-only records only partners.
"""

import json

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.scopes import Scope
from api.config import Settings
from tests.factories.auth import create_partner
from tests.factories.directory import DemoNetwork, load_demo

LISTS = [
    "/hsds/services?per_page=100&full=true",
    "/hsds/organizations?per_page=100&full=true&full_service=true",
    "/hsds/service_at_locations?per_page=100&full_service=true",
]


@pytest.fixture
async def network(session: AsyncSession) -> DemoNetwork:
    return await load_demo(session)


async def everything(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """Every HSDS document this caller can read, concatenated."""
    documents: list[str] = []
    for path in LISTS:
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        documents.append(response.text)
        for item in response.json()["contents"]:
            kind = path.split("?")[0]
            one = await client.get(f"{kind}/{item['id']}", headers=headers)
            assert one.status_code == 200, one.text
            documents.append(one.text)
    ndjson = await client.get("/hsds/services?format=ndjson&full=true", headers=headers)
    documents.append(ndjson.text)
    return "\n".join(documents)


def _secrets_of(network: DemoNetwork) -> list[str]:
    shelter = network.shelter
    return [
        json.dumps(shelter.latitude),
        json.dumps(shelter.longitude),
        "Safe haven house",
    ]


@pytest.fixture
async def tokens(session: AsyncSession, settings: Settings) -> dict[str, dict[str, str]]:
    reader = await create_partner(session, settings, scopes=[Scope.directory_read])
    confidential = await create_partner(
        session,
        settings,
        scopes=[Scope.directory_read, Scope.directory_confidential],
        name="Shelter network",
    )
    return {"anonymous": {}, "reader": reader.headers, "confidential": confidential.headers}


class TestConfidentialLocations:
    @pytest.mark.parametrize("caller", ["anonymous", "reader"])
    async def test_never_located_without_the_scope(
        self,
        client: httpx.AsyncClient,
        network: DemoNetwork,
        tokens: dict[str, dict[str, str]],
        caller: str,
    ) -> None:
        text = await everything(client, tokens[caller])
        for secret in _secrets_of(network):
            assert secret not in text, f"{caller} saw {secret!r}"
        assert "Confidential location" in text
        assert "Emergency shelter for women and children" in text

    async def test_located_with_directory_confidential(
        self, client: httpx.AsyncClient, network: DemoNetwork, tokens: dict[str, dict[str, str]]
    ) -> None:
        text = await everything(client, tokens["confidential"])
        for secret in _secrets_of(network):
            assert secret in text

    async def test_redacted_location_keeps_area_and_contact_channel(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        shelter_service = next(s for s in network.services if "shelter" in s.name.lower())
        body = (await client.get(f"/hsds/services/{shelter_service.id}")).json()
        [link] = body["service_at_locations"]
        location = link["location"]
        assert location["confidential"] is True
        assert location["admin_area"]["name"] == "Terre-Démo (demo)"
        assert location["addresses"] == []
        assert "latitude" not in location
        assert "longitude" not in location
        assert body["phones"], "the service's phone is the contact channel"


class TestPartnerRecords:
    async def test_hidden_from_anonymous_callers(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        partner_only = network.partner_only
        listed = await client.get("/hsds/services?per_page=100")
        assert str(partner_only.id) not in listed.text
        one = await client.get(f"/hsds/services/{partner_only.id}")
        assert one.status_code == 404
        assert one.headers["content-type"] == "application/problem+json"

    async def test_shown_to_directory_read(
        self, client: httpx.AsyncClient, network: DemoNetwork, tokens: dict[str, dict[str, str]]
    ) -> None:
        one = await client.get(
            f"/hsds/services/{network.partner_only.id}", headers=tokens["reader"]
        )
        assert one.status_code == 200
        assert one.json()["visibility"] == "partners"

    async def test_a_bad_token_is_refused_not_downgraded(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        response = await client.get(
            "/hsds/services", headers={"Authorization": "Bearer rly_at_" + "x" * 43}
        )
        assert response.status_code == 401
