"""The saved area (``GET /lookup/area/{id}/offline.json``): what a committee's phone keeps to
search without a network. Only public directory data of the area and its neighbours, in the
chosen language, within its size; tests/web/test_lookup_browser.py searches it offline."""

import gzip
import json
import re
import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.models.directory import Phone
from api.taxonomy import NEED_CODES
from api.web import saved_area
from api.web.i18n import LANGUAGES, catalog
from tests.factories.directory import DemoNetwork, add_national_lines, load_demo
from tests.web.pages import (
    HOTLINE,
    KOUNDA,
    KOUNDA_POST_RAPE_CARE,
    MBAYENE,
    REGION,
    SABALI,
    SHELTER_LATITUDE,
    SHELTER_LONGITUDE,
    SHELTER_SERVICE,
    demo_id,
)

PROBLEM = "application/problem+json"


@pytest.fixture
async def network(session: AsyncSession) -> DemoNetwork:
    return await load_demo(session)


def _path(area: str, language: str = "en") -> str:
    return f"/lookup/area/{area}/offline.json?lang={language}"


async def _saved(client: httpx.AsyncClient, area: str, language: str = "en") -> dict:
    response = await client.get(_path(area, language))
    assert response.status_code == 200, response.text
    return response.json()


def _searchable(body: dict) -> set[str]:
    return {area["id"] for area in body["areas"] if area["searchable"]}


class TestWhatIsKept:
    async def test_the_area_and_the_districts_touching_it(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        """Kounda lies between Sabali and Mbayène; Sabali touches Kounda alone (the demo's three
        districts side by side). The region holding them is no neighbour."""
        kounda = await _saved(client, KOUNDA)
        assert kounda["area"] == KOUNDA
        assert _searchable(kounda) == {KOUNDA, SABALI, MBAYENE}
        sabali = await _saved(client, SABALI)
        assert _searchable(sabali) == {SABALI, KOUNDA}
        ids = {service["id"] for service in sabali["services"]}
        assert demo_id("service", "police-sabali") in ids
        assert demo_id("service", "police-kounda") in ids
        assert demo_id("service", "police-mbayene") not in ids  # not a neighbour of Sabali
        assert demo_id("service", "police-mbayene") in {s["id"] for s in kounda["services"]}

    async def test_each_service_with_its_phones_links_and_where_it_ranks(
        self, client: httpx.AsyncClient, network: DemoNetwork, session: AsyncSession
    ) -> None:
        body = await _saved(client, KOUNDA)
        services = {service["id"]: service for service in body["services"]}
        care = services[KOUNDA_POST_RAPE_CARE]
        assert care["name"] == "Kounda health centre: post-rape care (demo)"
        assert set(care["needs"]) == {"post-rape-care", "medical-care"}
        assert isinstance(care["latitude"], float)
        assert isinstance(care["longitude"], float)
        numbers = (
            await session.execute(
                select(col(Phone.number)).where(
                    col(Phone.service_id) == uuid.UUID(KOUNDA_POST_RAPE_CARE)
                )
            )
        ).scalars()
        links = {href for _, href, _ in care["links"]}
        for number in numbers:
            assert f"tel:{number}" in links
        assert ["call", "tel:+221300000015", "Call +221300000015"] in care["links"]
        assert any(href.startswith("geo:") for _, href, _ in care["links"])
        assert care["hours"] == "Open 24 hours, every day"
        # The helpline covers the whole region from no place: it covers each saved district.
        hotline = services[HOTLINE]
        assert set(hotline["covers"]) == {KOUNDA, SABALI, MBAYENE}
        assert "latitude" not in hotline
        assert any(href.startswith("https://wa.me/") for _, href, _ in hotline["links"])
        # Covering services first, then the nearest to Kounda's point.
        assert body["services"][0]["id"] == HOTLINE
        assert body["complete"] is True
        assert body["made"].endswith("Z")

    async def test_no_confidential_position_and_nothing_listed_to_partners(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        """The shelter lies in Kounda but is listed in the region: every district's copy keeps
        it (as every district's search lists it), with its phones, never with its position,
        address or the name of its place; the region's point (where the search ranks it) is an
        area of the copy like the others. A service listed to partners is never kept."""
        for district in (KOUNDA, SABALI, MBAYENE):
            response = await client.get(_path(district))
            text = response.text
            for secret in (str(SHELTER_LATITUDE), str(SHELTER_LONGITUDE), "Safe haven house"):
                assert secret not in text, (district, secret)
            body = response.json()
            shelter = [s for s in body["services"] if s["id"] == SHELTER_SERVICE]
            assert len(shelter) == 1
            assert shelter[0]["listed_in"] == REGION
            assert shelter[0]["confidential"] is True
            assert not {"latitude", "longitude", "address"} & shelter[0].keys()
            assert not any(href.startswith("geo:") for _, href, _ in shelter[0]["links"])
            assert any(href.startswith("tel:") for _, href, _ in shelter[0]["links"])
            region = [area for area in body["areas"] if area["id"] == REGION]
            assert region
            assert region[0]["searchable"] is False
            ids = {service["id"] for service in body["services"]}
            assert str(network.partner_only.id) not in ids
            assert "partners only" not in text
            assert "Conférence" not in text

    async def test_no_referral_or_person_in_it(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        """Public directory data only: the document's fields are these, and no more (no
        referral, consent, e-mail, capacity or record listed to partners has a field here)."""
        body = await _saved(client, KOUNDA)
        assert body.keys() == {
            "format", "language", "made", "area", "areas", "words", "lines", "complete",
            "services",
        }  # fmt: skip
        for area in body["areas"]:
            assert area.keys() - {"country"} == {
                "id", "name", "latitude", "longitude", "searchable"
            }  # fmt: skip
        assert "@" not in json.dumps(body)  # no e-mail address
        allowed = {
            "id", "name", "organization", "description", "needs", "latitude", "longitude",
            "listed_in", "covers", "confidential", "address", "area", "links", "faxes", "hours",
            "who", "referrals",
        }  # fmt: skip
        for service in body["services"]:
            assert service.keys() <= allowed, service.keys() - allowed


class TestSize:
    async def test_a_district_is_small(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        """The demo's Kounda with its two neighbours: 14 KB (20 KB in Khmer; 3.2 and 4.1 KB
        gzipped), every service of the demo network but the partners' one, far under the bound."""
        bodies = {
            (area, language): (await client.get(_path(area, language))).content
            for area in (KOUNDA, SABALI)
            for language in ("en", "km")
        }
        sizes = {key: len(body) for key, body in bodies.items()}
        compressed = {key: len(gzip.compress(body)) for key, body in bodies.items()}
        print("saved area sizes (bytes):", sizes, "gzipped:", compressed)  # noqa: T201
        assert max(sizes.values()) < 30_000
        assert max(sizes.values()) <= saved_area.MAXIMUM_BYTES < 500_000

    async def test_what_does_not_fit_is_left_out_farthest_first(
        self, client: httpx.AsyncClient, network: DemoNetwork, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        whole = await _saved(client, KOUNDA)
        bound = 6_000
        monkeypatch.setattr(saved_area, "MAXIMUM_BYTES", bound)
        response = await client.get(_path(KOUNDA))
        assert len(response.content) <= bound
        cut = response.json()
        assert cut["complete"] is False
        kept = [service["id"] for service in cut["services"]]
        assert 0 < len(kept) < len(whole["services"])
        assert kept == [service["id"] for service in whole["services"]][: len(kept)]


@pytest.mark.parametrize("language", LANGUAGES)
async def test_every_language(
    client: httpx.AsyncClient, network: DemoNetwork, language: str
) -> None:
    response = await client.get(_path(KOUNDA, language))
    assert response.headers["content-language"] == language
    body = response.json()
    words = catalog(language)
    assert body["language"] == language
    assert body["words"]["needs"] == {code: words(f"need.{code}") for code in NEED_CODES}
    assert body["words"]["number.digits"] == words("number.digits")
    care = next(s for s in body["services"] if s["id"] == KOUNDA_POST_RAPE_CARE)
    assert [
        "call",
        "tel:+221300000015",
        words("result.call", number="+221300000015"),
    ] in care["links"]
    assert care["hours"] == words("hours.always")
    if language == "fr":
        assert care["name"].startswith("Centre de santé de Kounda")
    # Numbers the phone shows in words are the language's digits; what is dialled stays ASCII.
    if words("number.digits") != "0123456789":
        assert not re.search(r"[0-9]", care["hours"])


class TestTheRequest:
    async def test_kept_by_the_phone_alone_and_charged(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        response = await client.get(_path(KOUNDA))
        assert response.headers["content-type"] == "application/json"
        assert response.headers["cache-control"] == "private, no-cache"
        assert response.headers["x-content-type-options"] == "nosniff"
        # Charged to the anonymous budget: tests/auth/test_anonymous_budget.py (EXPENSIVE).

    @pytest.mark.parametrize(
        ("area", "status"),
        [
            ("nope", 422),
            ("00000000-0000-0000-0000-000000000000", 404),
            (f"{KOUNDA}x", 422),
            ("%00", 422),
        ],
    )
    async def test_a_bad_area_is_a_problem(
        self, client: httpx.AsyncClient, network: DemoNetwork, area: str, status: int
    ) -> None:
        response = await client.get(f"/lookup/area/{area}/offline.json")
        assert response.status_code == status
        assert response.headers["content-type"] == PROBLEM
        assert "Traceback" not in response.text


class TestNationalLines:
    """Issue 22: the saved area carries the national lines of its areas' countries, so that
    the phone, offline, offers them for a need no saved service within reach meets, as the
    lookup does online (lookup.js writes them with the words given here)."""

    async def test_the_lines_of_the_areas_country_and_no_other(
        self, client: httpx.AsyncClient, network: DemoNetwork, session: AsyncSession
    ) -> None:
        await add_national_lines(
            session,
            ("ZZ", "police", "Police secours (demo)", "17", "emergency-police"),
            ("ZZ", "child_helpline", "Allô enfance (demo)", "+221 800 00 11 16", "helpline"),
            ("YY", "police", "Another country's police", "112", "emergency-police"),
        )
        for language in ("en", "fr", "km"):
            body = await _saved(client, KOUNDA, language)
            words = catalog(language)
            assert {area["country"] for area in body["areas"] if area["searchable"]} == {"ZZ"}
            assert body["words"]["directory.national_lines"] == words("directory.national_lines")
            lines = {line["name"]: line for line in body["lines"]}
            assert set(lines) == {"Police secours (demo)", "Allô enfance (demo)"}
            police = lines["Police secours (demo)"]
            assert police == {
                "country": "ZZ",
                "kind": "police",
                "label": words("directory.line.police"),
                "name": "Police secours (demo)",
                "number": "17",
                "tel": "17",
                "needs": ["emergency-police"],
            }
            assert lines["Allô enfance (demo)"]["tel"] == "+221800001116"
        # Still far under the bound.
        assert len((await client.get(_path(KOUNDA, "km"))).content) < 30_000

    async def test_none_when_the_country_has_none(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        assert (await _saved(client, SABALI))["lines"] == []
