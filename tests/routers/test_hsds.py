"""The HSDS read API: conformance to HSDS 3.1 and ORUK 3.0, filters, paging, formats."""

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.auth.scopes import Scope
from api.config import Settings
from api.models.directory import Attribute
from tests.factories.auth import create_partner
from tests.factories.directory import DemoNetwork, load_demo
from tests.hsds_conformance import validate_hsds, validate_oruk

PER_PAGE = 4


@pytest.fixture
async def network(session: AsyncSession) -> DemoNetwork:
    return await load_demo(session)


async def pages(
    http: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    """First, middle and last page of a list."""
    first = (await http.get(f"{path}?per_page={PER_PAGE}", headers=headers)).json()
    total_pages = first["total_pages"]
    assert total_pages >= 3, f"{path}: too few pages to test paging"
    middle = (
        await http.get(f"{path}?per_page={PER_PAGE}&page={total_pages // 2 + 1}", headers=headers)
    ).json()
    last = (
        await http.get(f"{path}?per_page={PER_PAGE}&page={total_pages}", headers=headers)
    ).json()
    assert [first["first_page"], first["last_page"]] == [True, False]
    assert [middle["first_page"], middle["last_page"]] == [False, False]
    assert [last["first_page"], last["last_page"]] == [False, True]
    assert first["size"] == middle["size"] == PER_PAGE
    assert last["size"] == first["total_items"] - PER_PAGE * (total_pages - 1)
    return [first, middle, last]


LISTS = [
    ("/hsds/services", "service_list_page", "service", "service_list.json", "service.json"),
    ("/hsds/organizations", "organization_list_page", "organization", None, None),
    (
        "/hsds/service_at_locations",
        "service_at_location_list_page",
        "service_at_location",
        None,
        None,
    ),
    ("/hsds/taxonomy_terms", "taxonomy_term_list_page", "taxonomy_term", None, None),
]


class TestConformance:
    """Against the app served on a real port, as anonymous and as a fully entitled partner."""

    @pytest.mark.parametrize("caller", ["anonymous", "confidential"])
    async def test_every_list_page_and_record_validates(
        self,
        served: str,
        network: DemoNetwork,
        session: AsyncSession,
        settings: Settings,
        caller: str,
    ) -> None:
        headers: dict[str, str] = {}
        if caller == "confidential":
            partner = await create_partner(
                session, settings, scopes=[Scope.directory_read, Scope.directory_confidential]
            )
            headers = partner.headers
        checked = 0
        async with httpx.AsyncClient(base_url=served) as http:
            root = (await http.get("/hsds/")).json()
            assert validate_hsds(root, "api_details") == []
            assert validate_oruk(root, "api_details.json") == []
            for path, page_kind, record_kind, oruk_page, oruk_record in LISTS:
                for page in await pages(http, path, headers):
                    assert validate_hsds(page, page_kind) == [], path
                    if oruk_page:
                        assert validate_oruk(page, oruk_page) == [], path
                    for item in page["contents"]:
                        record = await http.get(f"{path}/{item['id']}", headers=headers)
                        assert record.status_code == 200, record.text
                        assert validate_hsds(record.json(), record_kind) == [], record.url
                        if oruk_record:
                            assert validate_oruk(record.json(), oruk_record) == []
                        checked += 1
            taxonomies = (await http.get("/hsds/taxonomies")).json()
            assert validate_hsds(taxonomies, "taxonomy_list_page") == []
            for taxonomy in taxonomies["contents"]:
                record = (await http.get(f"/hsds/taxonomies/{taxonomy['id']}")).json()
                assert validate_hsds(record, "taxonomy") == []
        assert checked >= 30

    async def test_full_lists_validate(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        services = (await client.get("/hsds/services?full=true&per_page=100")).json()
        for item in services["contents"]:
            assert validate_hsds(item, "service") == []
        organizations = (
            await client.get("/hsds/organizations?full=true&full_service=true&per_page=100")
        ).json()
        for item in organizations["contents"]:
            assert validate_hsds(item, "organization") == []

    async def test_the_validator_can_fail_on_our_own_output(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        record = (await client.get(f"/hsds/services/{network.services[0].id}")).json()
        del record["status"]
        record["email"] = "not an email"
        assert validate_hsds(record, "service") != []


async def all_ids(client: httpx.AsyncClient, query: str) -> set[str]:
    ids: set[str] = set()
    page = 1
    while True:
        body = (await client.get(f"/hsds/services?per_page=100&page={page}&{query}")).json()
        ids |= {item["id"] for item in body["contents"]}
        if body["last_page"]:
            return ids
        page += 1


class TestFilters:
    async def test_each_filter_finds_the_service_and_combinations_intersect(
        self, client: httpx.AsyncClient, session: AsyncSession, network: DemoNetwork
    ) -> None:
        picked = [s for s in network.services if s.visibility == "public"][::4]
        assert len(picked) >= 4
        for service in picked:
            sid = str(service.id)
            terms = list(
                (
                    await session.execute(
                        select(col(Attribute.taxonomy_term_id)).where(
                            col(Attribute.link_id) == service.id
                        )
                    )
                ).scalars()
            )
            assert terms
            word = max(service.name.replace("(demo)", "").split(), key=len)
            queries = {
                "term": f"taxonomy_term_id={terms[0]}",
                "organization": f"organization_id={service.organization_id}",
                "modified": "modified_after="
                + service.last_modified.isoformat().replace("+", "%2B"),
                "search": f"search={word}",
            }
            found = {name: await all_ids(client, query) for name, query in queries.items()}
            for name, ids in found.items():
                assert sid in ids, f"{name} filter lost {service.name}"
            combined = await all_ids(client, queries["term"] + "&" + queries["organization"])
            assert combined == found["term"] & found["organization"]
            everything = await all_ids(client, "&".join(queries.values()))
            assert (
                everything
                == found["term"] & found["organization"] & found["modified"] & found["search"]
            )
            assert sid in everything

    async def test_taxonomy_id_filter(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        taxonomy = (await client.get("/hsds/taxonomies")).json()["contents"][0]
        ids = await all_ids(client, f"taxonomy_id={taxonomy['id']}")
        assert len(ids) == (await client.get("/hsds/services?per_page=1")).json()["total_items"]

    async def test_filters_on_organizations_and_service_at_locations(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        shelter = next(s for s in network.services if "shelter" in s.name.lower())
        term = "safe-shelter"
        term_id = next(
            t["id"]
            for t in (await client.get("/hsds/taxonomy_terms?per_page=100")).json()["contents"]
            if t["code"] == term
        )
        organizations = (await client.get(f"/hsds/organizations?taxonomy_term_id={term_id}")).json()
        assert [o["id"] for o in organizations["contents"]] == [str(shelter.organization_id)]
        links = (await client.get(f"/hsds/service_at_locations?taxonomy_term_id={term_id}")).json()
        assert [link["service_id"] for link in links["contents"]] == [str(shelter.id)]

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("taxonomy_term_id=not-a-uuid", "taxonomy_term_id"),
            ("modified_after=yesterday", "modified_after"),
            ("per_page=101", "per_page"),
            ("page=0", "page"),
            ("format=xml", "format"),
        ],
    )
    async def test_bad_parameters_are_422_naming_the_field(
        self, client: httpx.AsyncClient, query: str, field: str
    ) -> None:
        response = await client.get(f"/hsds/services?{query}")
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["query", field]

    async def test_search_treats_wildcards_literally(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        body = (await client.get("/hsds/services?search=%25")).json()
        assert body["total_items"] == 0
        assert body["empty"] is True


class TestFormats:
    async def test_ndjson_streams_every_visible_service(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        response = await client.get("/hsds/services?format=ndjson")
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in response.text.splitlines()]
        total = (await client.get("/hsds/services")).json()["total_items"]
        assert len(lines) == total
        for line in lines:
            assert validate_hsds(line, "service_list_item") == []

    async def test_minimal_lists_ids_and_modification_times(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        body = (await client.get("/hsds/services?minimal=true&per_page=3")).json()
        assert [set(item) for item in body["contents"]] == [{"id", "last_modified"}] * 3

    async def test_nulls_are_omitted(self, client: httpx.AsyncClient, network: DemoNetwork) -> None:
        body = (await client.get("/hsds/services?full=true&per_page=100")).text
        assert "null" not in body

    async def test_unknown_record_is_404_problem(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        response = await client.get("/hsds/services/00000000-0000-4000-8000-000000000000")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"

    async def test_service_full_lists_its_needs_and_capacity(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        shelter = next(s for s in network.services if "shelter" in s.name.lower())
        body = (await client.get(f"/hsds/services/{shelter.id}")).json()
        assert {a["taxonomy_term"]["code"] for a in body["attributes"]} == {
            "safe-shelter",
            "psychosocial-support",
        }
        assert body["capacities"][0]["available"] == 5
        assert body["schedules"][0]["time_zone"] == "Africa/Dakar"
        assert body["translations"]["fr"]["name"].startswith("Hébergement")
        assert body["target_groups"]
