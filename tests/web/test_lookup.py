"""The lookup pages over HTTP (no browser): what they show, in which language, what they refuse,
what they never reveal, and what they load. tests/web/test_lookup_browser.py drives Chromium."""

import csv
import io
import json
import re
import string
import unicodedata
import uuid
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.models.directory import Service
from api.models.organization import Organization
from api.services.lookup import Channel, Phone
from api.taxonomy import NEED_CODES
from api.web import assets
from api.web import words as word
from api.web.i18n import LANGUAGES, catalog, negotiate
from tests.factories.directory import DemoNetwork, load_demo
from tests.web.pages import (
    HOTLINE,
    HOTLINE_WHATSAPP,
    KOUNDA,
    KOUNDA_HEALTH_CENTRE,
    KOUNDA_MOTHERS,
    KOUNDA_POST_RAPE_CARE,
    PSYCHOSOCIAL,
    PSYCHOSOCIAL_SMS,
    REGION,
    SABALI,
    SHELTER_LATITUDE,
    SHELTER_LONGITUDE,
    SHELTER_SERVICE,
    Page,
)

HTML = "text/html; charset=utf-8"


@pytest.fixture
async def network(session: AsyncSession) -> DemoNetwork:
    return await load_demo(session)


def lookup(**parameters: object) -> str:
    pairs = []
    for key, value in parameters.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, str(item)))
    return "/lookup?" + urlencode(pairs)


class TestLanguages:
    @pytest.mark.parametrize("language", LANGUAGES)
    def test_every_catalogue_has_every_message_with_the_same_placeholders(
        self, language: str
    ) -> None:
        english, other = catalog("en").messages, catalog(language).messages
        assert set(other) == set(english)
        for key, message in english.items():
            fields = {name for _, name, _, _ in string.Formatter().parse(message) if name}
            assert {
                name for _, name, _, _ in string.Formatter().parse(other[key]) if name
            } == fields, key
            assert other[key].strip(), key

    @pytest.mark.parametrize("language", LANGUAGES)
    def test_every_need_has_words_and_digits_are_the_languages(self, language: str) -> None:
        words = catalog(language)
        for code in NEED_CODES:
            assert words.has(f"need.{code}")
        digits = words.messages["number.digits"]
        assert [unicodedata.digit(char) for char in digits] == list(range(10))
        # A language's messages write numbers in its own digits only.
        others = set(
            string.digits + "".join(catalog(code).messages["number.digits"] for code in LANGUAGES)
        )
        for key, message in words.messages.items():
            if key != "number.digits":
                assert not (set(message) & others) - set(digits), (key, message)

    @pytest.mark.parametrize(
        ("language", "hours", "distance", "age"),
        [
            ("en", "Monday to Friday 08:00\u201317:00", "1.5 km away", "aged 12 and over"),
            ("fr", "Du lundi au vendredi 08:00\u201317:00", "à 1,5 km", "à partir de 12 ans"),
            (
                "mg",
                "Alatsinainy ka hatramin'ny Zoma 08:00\u201317:00",
                "1,5 km miala eto",
                "12 taona no miakatra",
            ),
            # Devanagari digits (ruff takes them for letters).
            ("ne", "सोमबारदेखि शुक्रबारसम्म ०८:००\u2013१७:००", "१.५ कि.मी. टाढा", "१२ वर्ष वा माथि"),  # noqa: RUF001
            ("km", "ថ្ងៃចន្ទ ដល់ ថ្ងៃសុក្រ ០៨:០០\u2013១៧:០០", "ចម្ងាយ ១,៥ គ.ម.", "អាយុ ១២ ឆ្នាំឡើងទៅ"),
        ],
    )
    def test_hours_distances_and_ages_in_the_languages_digits(
        self, language: str, hours: str, distance: str, age: str
    ) -> None:
        words = catalog(language)
        schedule = {"byday": "MO,TU,WE,TH,FR", "opens_at": "08:00", "closes_at": "17:00"}
        assert word.hours(words, [schedule]) == hours
        assert word.distance(words, 1500) == distance
        assert word.distance(words, 349.6) == words("result.distance_m", distance=350)
        assert words("who.age_minimum", minimum=12) == age

    def test_the_khmer_and_malagasy_interfaces_are_in_their_languages(self) -> None:
        khmer = catalog("km")("site.title")
        assert all("\u1780" <= char <= "\u17ff" or not char.isalpha() for char in khmer)
        assert catalog("mg")("search") == "Hitady"

    def test_the_nepali_interface_is_in_devanagari(self) -> None:
        title = catalog("ne")("site.title")
        assert all("\u0900" <= char <= "\u097f" or not char.isalpha() for char in title)

    @pytest.mark.parametrize(
        ("requested", "accept", "chosen"),
        [
            (None, None, "en"),
            (None, "fr-FR,fr;q=0.9,en;q=0.8", "fr"),
            (None, "ne-NP", "ne"),
            (None, "de-DE, en;q=0.5, fr;q=0.7", "fr"),
            (None, "fr;q=0, en;q=0.1", "en"),
            (None, "th-TH, *;q=0.1", "en"),
            (None, "km-KH, *;q=0.1", "km"),
            (None, "mg-MG, fr;q=0.8", "mg"),
            (None, "fr;q=abc, ne;q=0.2", "ne"),
            ("fr", "ne", "fr"),
            ("xx", "ne", "ne"),
        ],
    )
    def test_negotiation(self, requested: str | None, accept: str | None, chosen: str) -> None:
        assert negotiate(requested, accept) == chosen

    async def test_accept_language_chooses_and_the_switcher_keeps_the_search(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        response = await client.get(
            lookup(area=KOUNDA, need="medical-care"), headers={"Accept-Language": "ne-NP,ne"}
        )
        assert response.status_code == 200
        assert response.headers["content-language"] == "ne"
        page = Page(response.text)
        assert page.all("html", lang="ne")
        assert "स्वास्थ्य उपचार" in page.text  # "medical care"
        switch = {a["hreflang"]: a["href"] for a in page.all("a") if "hreflang" in a}
        assert set(switch) == set(LANGUAGES)
        french = await client.get(switch["fr"])
        assert "Soins médicaux" in Page(french.text).text
        assert Page(french.text).services() == Page(response.text).services()

    async def test_names_in_the_chosen_language_where_the_directory_has_them(
        self, client: httpx.AsyncClient, session: AsyncSession, network: DemoNetwork
    ) -> None:
        """Services and organisations carry their names in other languages (``translations``);
        an administrative area has one name only (``admin_area`` has no translations)."""
        await session.execute(
            update(Service)
            .where(col(Service.id) == uuid.UUID(KOUNDA_POST_RAPE_CARE))
            .values(translations={"mg": {"name": "Fitsaboana aorian'ny fanolanana (demo)"}})
        )
        await session.execute(
            update(Organization)
            .where(col(Organization.id) == uuid.UUID(KOUNDA_HEALTH_CENTRE))
            .values(translations={"mg": {"name": "Toeram-pahasalamana Kounda (demo)"}})
        )
        malagasy = Page(
            (await client.get(lookup(area=KOUNDA, need="post-rape-care", lang="mg"))).text
        )
        card = malagasy.card(KOUNDA_POST_RAPE_CARE)
        assert card.all("h4", **{"class": "name"})
        assert "Fitsaboana aorian'ny fanolanana (demo)" in card.text
        assert "Toeram-pahasalamana Kounda (demo)" in card.text
        assert "Faritra: Kounda (demo)" in card.text  # the area's one name
        khmer = Page((await client.get(lookup(area=KOUNDA, need="post-rape-care", lang="km"))).text)
        assert (
            "Kounda health centre: post-rape care (demo)" in khmer.card(KOUNDA_POST_RAPE_CARE).text
        )


class TestLookup:
    async def test_the_empty_form_lists_the_top_areas_and_every_need(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        response = await client.get("/lookup")
        assert response.status_code == 200
        assert response.headers["content-type"] == HTML
        page = Page(response.text)
        assert [option["value"] for option in page.all("option") if option["value"]] == [REGION]
        assert [box["value"] for box in page.all("input", type="checkbox")] == list(NEED_CODES)
        assert page.all("form", method="get", action="/lookup")
        assert page.services() == []

    async def test_every_control_has_a_label(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        page = Page((await client.get(lookup(area=[REGION, KOUNDA], need="legal-aid"))).text)
        labelled = {label["for"] for label in page.all("label") if "for" in label}
        controls = [
            attrs
            for tag, attrs in page.elements
            if tag in {"select", "input"} and attrs.get("type") not in {"hidden", "checkbox"}
        ]
        assert controls
        for control in controls:
            assert control.get("id") in labelled, control
        # Checkboxes are wrapped in their label (the parser sees <label> right before each).
        tags = [tag for tag, _ in page.elements]
        for index, (tag, attrs) in enumerate(page.elements):
            if tag == "input" and attrs.get("type") == "checkbox":
                assert tags[index - 1] == "label"

    async def test_picking_region_then_district_and_a_need_finds_the_nearest_health_centre(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        region = Page((await client.get(lookup(area=REGION))).text)
        districts = [o["value"] for o in region.all("option") if o["value"] not in ("", REGION)]
        assert KOUNDA in districts
        assert SABALI in districts
        response = await client.get(lookup(area=[REGION, KOUNDA], need="medical-care"))
        assert response.status_code == 200
        page = Page(response.text)
        # Both services of the Kounda health centre (1.5 km) come before Sabali's (31 km).
        assert set(page.services()[:2]) == {KOUNDA_POST_RAPE_CARE, KOUNDA_MOTHERS}
        assert page.all("a", href="tel:+221300000015", **{"class": "contact call"})
        assert "1.5 km away" in page.text
        assert "Distances are measured from a point inside Kounda (demo)" in page.text
        assert page.all("option", value=KOUNDA, selected="")

    async def test_a_list_changed_without_javascript_wins_over_the_lists_after_it(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        """The region list was changed (to the same region here, then to none) while the district
        list still held Kounda: the district only counts while it lies in the region chosen."""
        kounda = Page((await client.get(lookup(area=[REGION, KOUNDA], need="medical-care"))).text)
        sabali = Page((await client.get(lookup(area=[SABALI, KOUNDA], need="medical-care"))).text)
        assert kounda.services()[0] in {KOUNDA_POST_RAPE_CARE, KOUNDA_MOTHERS}
        assert "inside Sabali (demo)" in sabali.text
        assert sabali.services()[0] not in {KOUNDA_POST_RAPE_CARE, KOUNDA_MOTHERS}

    async def test_a_position_finds_its_areas_and_measures_from_itself(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        response = await client.get(lookup(lat="14.11", lon="-15.94", need="post-rape-care"))
        page = Page(response.text)
        assert page.services()[0] == KOUNDA_POST_RAPE_CARE
        assert page.all("option", value=KOUNDA, selected="")
        assert "from 14.11, -15.94" in page.text
        assert "10 m away" in page.text  # the health centre itself: the nearest 10 m shown

    async def test_several_needs_are_grouped_by_need_with_three_services_at_most(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        needs = ["medical-care", "legal-aid", "helpline"]
        page = Page((await client.get(lookup(area=KOUNDA, need=needs))).text)
        groups = [attrs["data-need"] for attrs in page.all("section") if "data-need" in attrs]
        assert groups == needs
        assert len(page.services()) <= 3 * len(needs)
        assert "Serves this place by phone or with a mobile team" in page.text  # the hotline

    async def test_hours_and_eligibility_in_plain_words(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        page = Page((await client.get(lookup(area=KOUNDA, need="psychosocial-support"))).text)
        assert "Open 24 hours, every day" in page.text
        french = Page(
            (await client.get(lookup(area=KOUNDA, need="legal-aid", lang="fr"))).text
        ).text
        assert "Du lundi au vendredi 08:00\u201317:00" in french  # an en dash
        assert "Survivantes de violences basées sur le genre; femmes; enfants" in french

    async def test_a_place_without_a_need_invites_to_choose_one(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        page = Page((await client.get(lookup(area=KOUNDA))).text)
        assert "Choose at least one kind of help" in page.text
        assert page.all("a", href=f"/lookup/pathway?lang=en&area={KOUNDA}")


class TestAnswersFirst:
    async def test_a_result_page_opens_on_its_results_with_the_form_folded_above(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        html = (await client.get(lookup(area=[REGION, KOUNDA], need="medical-care"))).text
        page = Page(html)
        assert page.all("details", id="search", **{"class": "search"}), "the form is folded"
        assert not [d for d in page.all("details", id="search") if "open" in d]
        assert html.index('id="lookup"') < html.index("</details>") < html.index('id="results"')
        card = page.card(page.services()[0])
        # The call comes before the address, the hours and the rest.
        assert card.html.index('class="contact call"') < card.html.index('class="address"')
        # Until there are results, the form is the page.
        for url in ("/lookup", lookup(area=KOUNDA), lookup(area="nope", need="legal-aid")):
            assert not Page((await client.get(url)).text).all("details", id="search"), url

    async def test_the_results_part_alone_for_the_script(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        """``/lookup/results`` answers the page's query with the page's results section only,
        never kept in a cache; its own query runs the same service as the page."""
        query = {"lang": "fr", "area": KOUNDA, "need": ["medical-care", "helpline"]}
        whole = await client.get(lookup(**query))
        part = await client.get(lookup(**query).replace("/lookup?", "/lookup/results?"))
        assert part.status_code == 200
        assert part.headers["content-type"] == HTML
        assert part.headers["cache-control"] == "no-store"
        assert part.headers["content-language"] == "fr"
        assert part.text.lstrip().startswith('<section id="results"')
        assert "<form" not in part.text
        assert "<html" not in part.text
        assert Page(part.text).services() == Page(whole.text).services()
        assert len(part.content) < 8_000, len(part.content)
        section = whole.text[whole.text.index('<section id="results"') :]
        assert part.text.strip() == section[: section.index("</main>")].strip()

    @pytest.mark.parametrize(
        ("query", "status", "message"),
        [
            ({"need": "helpline"}, 422, "Choose a place first"),
            ({"area": "nope", "need": "helpline"}, 422, "This area is not known."),
            ({"area": KOUNDA, "need": "magic"}, 422, "This kind of help is not known"),
        ],
    )
    async def test_the_results_part_of_no_place_or_bad_input_is_the_problem(
        self,
        client: httpx.AsyncClient,
        network: DemoNetwork,
        query: dict[str, str],
        status: int,
        message: str,
    ) -> None:
        response = await client.get("/lookup/results?" + urlencode(query))
        assert response.status_code == status
        page = Page(response.text)
        assert page.all("div", role="alert", id="errors")
        assert message in page.text
        assert page.services() == []


class TestContactLinks:
    """Each number by its kind (demo_network.toml gives the demo an SMS-only line and a WhatsApp
    line), and directions to a place only where its position is public."""

    @pytest.mark.parametrize("language", LANGUAGES)
    async def test_a_voice_an_sms_and_a_whatsapp_line_each_have_their_link(
        self, client: httpx.AsyncClient, network: DemoNetwork, language: str
    ) -> None:
        page = Page(
            (
                await client.get(
                    lookup(area=KOUNDA, need=["psychosocial-support", "helpline"], lang=language)
                )
            ).text
        )
        greeting = catalog(language)("contact.message")
        psychosocial = page.card(PSYCHOSOCIAL)
        [sms] = psychosocial.all("a", **{"class": "contact sms"})
        assert sms["href"] == f"sms:{PSYCHOSOCIAL_SMS}?body={quote(greeting, safe='')}"
        [call] = psychosocial.all("a", **{"class": "contact call"})
        assert call["href"].startswith("tel:+2213")
        assert PSYCHOSOCIAL_SMS not in call["href"]  # an SMS-only line is never called
        hotline = page.card(HOTLINE)
        [whatsapp] = hotline.all("a", **{"class": "contact whatsapp"})
        link = urlsplit(whatsapp["href"])
        assert (link.scheme, link.netloc, link.path) == ("https", "wa.me", "/221300009002")
        assert parse_qs(link.query) == {"text": [greeting]}
        assert HOTLINE_WHATSAPP in hotline.text  # the link says the number
        assert hotline.all("a", **{"class": "contact call"})
        # Nothing of the search goes into a prefilled text: it is the catalogue's, as it is.
        for href in (sms["href"], whatsapp["href"]):
            assert KOUNDA not in href
            assert "need" not in href
        assert not [
            a for a in page.all("a") if a.get("href", "").startswith("tel:" + PSYCHOSOCIAL_SMS)
        ]

    async def test_a_public_place_has_directions_and_a_confidential_or_covering_one_none(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        page = Page(
            (
                await client.get(
                    lookup(
                        lat="14.05", lon="-16.0", need=["safe-shelter", "medical-care", "helpline"]
                    )
                )
            ).text
        )
        health = page.card(KOUNDA_POST_RAPE_CARE)
        [directions] = health.all("a", **{"class": "contact directions"})
        assert directions["href"] == "geo:14.11,-15.94?q=14.11,-15.94"
        for confidential_or_covering in (SHELTER_SERVICE, HOTLINE):
            card = page.card(confidential_or_covering)
            assert not card.all("a", **{"class": "contact directions"})
            assert "geo:" not in card.html
        geo = [a["href"] for a in page.all("a") if a["href"].startswith("geo:")]
        assert geo
        assert not [href for href in geo if "14.03" in href or "-16.02" in href]

    async def test_the_pathway_links_each_number_by_its_kind(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        page = Page((await client.get(f"/lookup/pathway?area={KOUNDA}&lang=fr")).text)
        hrefs = [a["href"] for a in page.all("a") if "contact" in a.get("class", "")]
        assert "tel:+221300000015" in hrefs
        assert [href for href in hrefs if href.startswith("https://wa.me/221300009002?text=")]
        assert not [href for href in hrefs if href.startswith("geo:")]  # printed: no map links

    @pytest.mark.parametrize(
        ("phone", "channel"),
        [
            ({"number": "+221300000001", "type": "voice"}, Channel.voice),
            ({"number": "+221300000001"}, Channel.voice),
            ({"number": "+221300000001", "type": "cell"}, Channel.voice),
            ({"number": "116", "type": "hotline"}, Channel.voice),
            ({"number": "+221300000001", "type": "text"}, Channel.sms),  # HSDS 3.1
            ({"number": "+221300000001", "type": "SMS"}, Channel.sms),  # Relay's write API
            ({"number": "+221300000001", "type": "whatsapp"}, Channel.whatsapp),
            ({"number": "116", "type": "whatsapp"}, Channel.voice),  # no WhatsApp short code
            ({"number": "+221300000001", "type": "fax"}, Channel.fax),
        ],
    )
    def test_the_directorys_phone_types(self, phone: dict[str, str], channel: Channel) -> None:
        assert Phone.of(phone).channel is channel


class TestBadInput:
    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ({"lat": "abc", "lon": "3"}, "Latitude must be a number between -90 and 90."),
            ({"lat": "91", "lon": "3"}, "Latitude must be a number between -90 and 90."),
            ({"lat": "nan", "lon": "3"}, "Latitude must be a number between -90 and 90."),
            ({"lat": "1", "lon": "-181"}, "Longitude must be a number between -180 and 180."),
            ({"lat": "1"}, "Give both latitude and longitude, or neither."),
            ({"area": "not-an-id"}, "This area is not known."),
            ({"area": "00000000-0000-4000-8000-000000000000"}, "This area is not known."),
            ({"area": KOUNDA, "need": "magic"}, "This kind of help is not known"),
        ],
    )
    async def test_the_form_comes_back_with_the_problem_named(
        self,
        client: httpx.AsyncClient,
        network: DemoNetwork,
        query: dict[str, str],
        message: str,
    ) -> None:
        response = await client.get("/lookup?" + urlencode(query))
        assert response.status_code == 422
        assert response.headers["content-type"] == HTML
        page = Page(response.text)
        assert message in page.text
        assert page.all("div", role="alert", id="errors", **{"class": "errors"})
        assert page.services() == []

    async def test_the_pathway_without_a_place_is_the_form_with_the_problem(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        response = await client.get("/lookup/pathway?lang=fr")
        assert response.status_code == 422
        assert "Choisissez d'abord un lieu" in Page(response.text).text

    async def test_a_comma_is_a_decimal_mark(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        response = await client.get(lookup(lat="14,11", lon="-15,94", need="post-rape-care"))
        assert response.status_code == 200
        assert Page(response.text).services()[0] == KOUNDA_POST_RAPE_CARE

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(["lat", "lon", "area", "need", "lang", "format", "x"]),
                st.text(max_size=40),
            ),
            max_size=8,
        )
    )
    async def test_no_query_string_makes_a_server_error(
        self, client: httpx.AsyncClient, query: list[tuple[str, str]]
    ) -> None:
        for path in ("/lookup", "/lookup/pathway", "/lookup/export"):
            response = await client.get(path + "?" + urlencode(query))
            assert response.status_code < 500, (path, query)
            assert "Traceback" not in response.text


class TestConfidentialShelter:
    async def test_no_page_shows_its_position_or_address_from_any_point(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        """From a grid of points around the shelter, ask the lookup and the pathway: the shelter
        is listed (phone and area), never with a distance, an address or coordinates."""
        shelter = network.shelter
        secrets = [f"{SHELTER_LATITUDE}", f"{SHELTER_LONGITUDE}", "14.03", "-16.02"]
        address = [row for row in (shelter.name,) if row]
        seen = 0
        for dlat in (-0.2, -0.05, 0.0, 0.05, 0.2):
            for dlon in (-0.2, -0.05, 0.0, 0.05, 0.2):
                lat, lon = SHELTER_LATITUDE + dlat, SHELTER_LONGITUDE + dlon
                for path in ("/lookup", "/lookup/pathway"):
                    query = {"lat": f"{lat:.4f}", "lon": f"{lon:.4f}", "need": "safe-shelter"}
                    response = await client.get(f"{path}?{urlencode(query)}")
                    assert response.status_code == 200
                    text = response.text.replace(f"{lat:.4f}", "").replace(f"{lon:.4f}", "")
                    for secret in [*secrets, *address]:
                        assert secret not in text, (path, lat, lon, secret)
                    card = _shelter_card(text)
                    if card:
                        seen += 1
                        assert "away" not in card
                        assert "Confidential address" in card
                        assert "tel:" in card
                        assert "geo:" not in card
        assert seen >= 25

    async def test_an_area_download_does_not_place_it_in_a_district(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        """The shelter lies in Kounda but is listed in the region: the district's download must
        not include it (that would say which district it is in), the region's may, unlocated."""
        for district in (KOUNDA, SABALI):
            body = (await client.get(f"/lookup/export?area={district}&format=geojson")).json()
            ids = {feature["properties"]["service_id"] for feature in body["features"]}
            assert SHELTER_SERVICE not in ids
        region = (await client.get(f"/lookup/export?area={REGION}&format=geojson")).json()
        features = region["features"]
        shelter = [f for f in features if f["properties"]["service_id"] == SHELTER_SERVICE]
        assert len(shelter) == 1
        assert shelter[0]["geometry"] is None
        assert "14.03" not in json.dumps(region)


def _shelter_card(html: str) -> str:
    match = re.search(rf'data-service="{SHELTER_SERVICE}".*?</li>', html, re.DOTALL)
    if match:
        return match.group(0)
    row = re.search(r'<tr data-need="safe-shelter">.*?</tr>', html, re.DOTALL)
    return row.group(0) if row and "Emergency shelter" in row.group(0) else ""


class TestPathway:
    async def test_every_need_with_service_phone_hours_and_date(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        response = await client.get(f"/lookup/pathway?area={KOUNDA}")
        assert response.status_code == 200
        page = Page(response.text)
        rows = [attrs["data-need"] for attrs in page.all("tr") if "data-need" in attrs]
        assert rows == list(NEED_CODES)
        assert "Referral pathway: Kounda (demo)" in page.text
        assert page.all("a", href="tel:+221300000015", **{"class": "contact call"})
        assert re.search(r"\b20\d\d-\d\d-\d\d\b", page.text)
        assert "Printed on" in page.text
        downloads = {a["href"] for a in page.all("a") if "download" in a}
        assert downloads == {
            f"/lookup/export?area={KOUNDA}&format=geojson",
            f"/lookup/export?area={KOUNDA}&format=csv",
        }

    async def test_a_need_nobody_meets_says_so(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        """Far from every service (in the ocean off the demo region), nothing is invented: a
        service further than the lookup's reach would mislead a village committee."""
        page = Page((await client.get("/lookup/pathway?lat=14.1&lon=-19.0")).text)
        assert page.text.count("None known within 250 km") == len(NEED_CODES)
        nearer = Page((await client.get("/lookup/pathway?lat=14.1&lon=-17.5")).text)
        assert nearer.text.count("None known within 250 km") < len(NEED_CODES)


class TestDownloads:
    async def test_csv_and_geojson_of_an_area(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        response = await client.get(f"/lookup/export?area={KOUNDA}&format=csv")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert f"relay-{KOUNDA}.csv" in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert KOUNDA_POST_RAPE_CARE in {row["service_id"] for row in rows}
        geojson = await client.get(f"/lookup/export?area={KOUNDA}&format=geojson")
        assert geojson.headers["content-type"] == "application/geo+json"
        assert geojson.json()["type"] == "FeatureCollection"
        assert {f["properties"]["service_id"] for f in geojson.json()["features"]} == {
            row["service_id"] for row in rows
        }

    @pytest.mark.parametrize(
        "query",
        ["format=csv", f"area={KOUNDA}&format=xlsx", "area=nope&format=csv", f"area={KOUNDA}"],
    )
    async def test_bad_requests_are_problems(
        self, client: httpx.AsyncClient, network: DemoNetwork, query: str
    ) -> None:
        response = await client.get(f"/lookup/export?{query}")
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"


class TestLightAndSelfContained:
    async def test_the_first_page_with_everything_it_loads_is_under_150_kb(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        response = await client.get("/lookup")
        total = len(response.content)
        page = Page(response.text)
        loaded = [a["href"] for a in page.all("link")] + [s["src"] for s in page.all("script")]
        for url in loaded:
            total += len((await client.get(url)).content)
        assert len(loaded) == 4
        assert total < 150_000, total

    async def test_no_page_or_file_references_another_host(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        urls = [
            "/lookup",
            "/lookup?lang=ne",
            lookup(area=[REGION, KOUNDA], need=list(NEED_CODES)),
            f"/lookup/pathway?area={KOUNDA}&lang=fr",
            "/lookup/pathway?lat=14.1&lon=-15.9",
            lookup(area=KOUNDA, need="medical-care", lang="km"),
            f"/lookup/results?area={KOUNDA}&need=helpline&need=psychosocial-support",
            "/lookup/sw.js",
            "/lookup/manifest.webmanifest",
            *[asset.url for asset in assets.assets().values()],
        ]
        external = re.compile(
            r"""(?:https?:|wss?:|ftp:)?//[a-z0-9.-]+|@import|(?-i:url)\(\s*['"]?(?!/|data:)""", re.I
        )
        # Links a person may follow out of the page, never anything the page loads: a number to
        # call, text or write to on WhatsApp, and a public place's position for the maps app.
        followed = re.compile(r'<a class="contact [a-z]+" href="(?:tel:|sms:|geo:|https://wa\.me/)')
        for url in urls:
            response = await client.get(url)
            assert response.status_code == 200, url
            body = followed.sub("<a>", response.text)
            # The SVG's XML namespace is a name, not a resource that is fetched.
            body = body.replace('xmlns="http://www.w3.org/2000/svg"', "")
            assert not external.search(body), (url, external.search(body))
            for attribute in re.findall(r'(?:href|src|action)="([^"]*)"', body):
                absolute = urljoin("http://relay.test/lookup", attribute)
                assert absolute.startswith("http://relay.test/"), (url, attribute)

    async def test_pages_forbid_other_origins_and_are_revalidated(
        self, client: httpx.AsyncClient, network: DemoNetwork
    ) -> None:
        response = await client.get("/lookup")
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy
        assert "'unsafe-inline'" not in policy
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-content-type-options"] == "nosniff"

    async def test_static_files_are_cached_for_a_year_by_version(
        self, client: httpx.AsyncClient
    ) -> None:
        asset = assets.assets()["lookup.css"]
        current = await client.get(asset.url)
        assert current.status_code == 200
        assert current.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert current.headers["content-type"] == "text/css; charset=utf-8"
        stale = await client.get("/lookup/static/lookup.css?v=0000")
        assert stale.headers["cache-control"] == "no-cache"
        again = await client.get(asset.url, headers={"If-None-Match": current.headers["etag"]})
        assert again.status_code == 304
        assert (await client.get("/lookup/static/../main.py")).status_code == 404
        assert (await client.get("/lookup/static/sw.js")).status_code == 404

    async def test_the_service_worker_may_serve_the_lookup_pages_and_caches_real_files(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/lookup/sw.js")
        assert response.headers["service-worker-allowed"] == "/lookup"
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
        shell = json.loads(re.search(r"const SHELL_FILES = (\[.*?\]);", response.text).group(1))
        assert sorted(shell) == sorted(asset.url for asset in assets.assets().values())
        for url in shell:
            assert (await client.get(url)).status_code == 200
        assert assets.fingerprint() in response.text

    async def test_the_manifest_installs_the_lookup_page(self, client: httpx.AsyncClient) -> None:
        manifest = (await client.get("/lookup/manifest.webmanifest?lang=fr")).json()
        assert manifest["start_url"] == "/lookup?lang=fr"
        assert manifest["scope"] == "/lookup"
        assert manifest["display"] == "standalone"
        assert (await client.get(manifest["icons"][0]["src"])).status_code == 200
