"""The printable referral form (issue 21) over HTTP: the API's export (``format=html``) and the
app's page (``/app/referrals/{id}/form``), in the reader's language, with human labels, the
consent's summary, who to call back and the signature block; only what the sharing profile
shares with the reader (the same service as the API decides). Its words in every catalogue.

The form printed by Chromium on one A4 page, in each language: test_referral_form_browser.py.
"""

import re
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.models.directory import Phone
from api.models.people import UserRole
from api.web.i18n import LANGUAGES, catalog
from api.web.referral_form import ENUMERATIONS, TEMPLATE
from api.web.render import TEMPLATES
from tests.factories.people import Person, create_person
from tests.factories.referrals import NAME, Network, move, network, record_consent, refer
from tests.web.app_pages import browser_client, sign_in
from tests.web.pages import Page

SENDER_PHONE = "+221 33 800 00 42"
SENDER_EMAIL = "protection@committee.example"
# The longest referral the write API takes (every field, every trafficking indicator): the
# form must still fit one page with it (test_referral_form_browser.py prints it).
FULL_REFERRAL = {
    "priority": "urgent",
    "needs": ["post-rape-care", "medical-care", "psychosocial-support"],
    "reason": {
        "gbv_type": "rape",
        "child_protection_concern": "sexual_violence",
        "trafficking_indicators": [
            "deception",
            "debt_bondage",
            "documents_withheld",
            "restricted_movement",
            "forced_labour",
            "sexual_exploitation",
            "under_18",
        ],
        "incident_date": "2026-11-21",
    },
    "subject": {
        "name": NAME,
        "date_of_birth": "2011-03-14",
        "age": 15,
        "gender": "female",
        "language": "fr",
        "contact": {"phone": "+221 77 000 00 01", "address": "Behind the market, Kounda"},
    },
    "safety": {
        "do_not_contact_directly": True,
        "safe_channel": "through_referrer",
        "safe_times": "Weekday mornings, when the uncle is at work",
    },
}


@dataclass
class Referred:
    net: Network
    referral_id: str


async def full_referral(
    session: AsyncSession, settings: Settings, client: httpx.AsyncClient
) -> Referred:
    """A committee's referral of a girl to a health centre, consent by her mother with her assent
    (``standard`` profile), every field filled; the committee has a phone and an e-mail."""
    net = await network(session, settings)
    sender = net.sender.organization
    sender.email = SENDER_EMAIL
    session.add(sender)
    session.add(Phone(organization_id=sender.id, number=SENDER_PHONE, type="voice"))
    await session.flush()
    consent_id = await record_consent(
        client, net, allowed_recipient_kinds=["health", "shelter", "social_welfare"]
    )
    referral = await refer(client, net, consent_id, **FULL_REFERRAL)
    return Referred(net, str(referral["id"]))


@pytest.fixture
async def referred(
    session: AsyncSession, settings: Settings, client: httpx.AsyncClient
) -> Referred:
    return await full_referral(session, settings, client)


def export_path(referral_id: str, **query: str) -> str:
    extra = "".join(f"&{key}={value}" for key, value in query.items())
    return f"/v1/referrals/{referral_id}/export?format=html{extra}"


def text_of(page: httpx.Response) -> str:
    return re.sub(r"\s+", " ", Page(page.text).text)


class TestTheExportedForm:
    @pytest.mark.parametrize("language", LANGUAGES)
    async def test_speaks_the_language_asked_with_human_labels(
        self, client: httpx.AsyncClient, referred: Referred, language: str
    ) -> None:
        words = catalog(language)
        page = await client.get(
            export_path(referred.referral_id, lang=language), headers=referred.net.receiver.headers
        )
        assert page.status_code == 200, page.text
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["content-language"] == language
        assert "default-src 'none'" in page.headers["content-security-policy"]
        text = text_of(page)
        # Labels and coded values in words, never the API's keys or codes.
        for key in (
            "form.gbv_type",
            "form.gbv_type.rape",
            "form.priority.urgent",
            "form.status.requested",
            "form.given_by.parent_guardian",
            "form.method.verbal",
            "form.safe_channel.through_referrer",
            "form.trafficking_indicators.debt_bondage",
            "form.consent_state.active",
            "form.recipient_kinds.social_welfare",
            "form.signature",
            "form.stamp",
            "need.post-rape-care",
        ):
            assert words(key) in text, key
        for raw in (
            "gbv_type",
            "through_referrer",
            "parent_guardian",
            "debt_bondage",
            "in-progress",
        ):
            assert re.search(rf"\b{raw}\b", text) is None, raw
        # The person's data the standard profile shares, the consent, who to call back.
        assert NAME in text
        assert "mother" in text  # the relationship, as the committee wrote it
        assert words("form.child_assent") in text
        assert "Village committee" in text
        assert SENDER_PHONE in text
        assert SENDER_EMAIL in text
        assert referred.referral_id in text
        assert words.numerals("2026-11-21") in text  # the incident's date in the language's digits
        assert "CASE-2026-0042" not in page.text  # the sender's case reference never travels
        assert "staff-17" not in page.text  # nor who recorded the consent
        # The title says what the page is, never whose.
        title = re.search(r"<title>(.*?)</title>", page.text)
        assert title is not None
        assert title.group(1) == f"{words('form.title')} · Relay"

    async def test_without_lang_the_browsers_language_is_chosen(
        self, client: httpx.AsyncClient, referred: Referred
    ) -> None:
        headers = {**referred.net.receiver.headers, "Accept-Language": "de-DE, ne;q=0.8, fr;q=0.5"}
        page = await client.get(export_path(referred.referral_id), headers=headers)
        assert page.headers["content-language"] == "ne"
        assert catalog("ne")("form.title") in page.text
        nothing = await client.get(
            export_path(referred.referral_id), headers=referred.net.receiver.headers
        )
        assert nothing.headers["content-language"] == "en"
        # ``lang`` wins over the browser's choice.
        chosen = await client.get(export_path(referred.referral_id, lang="km"), headers=headers)
        assert chosen.headers["content-language"] == "km"

    @pytest.mark.parametrize("language", ["de", "EN", "en-GB", ""])
    async def test_an_unknown_language_is_a_422_problem(
        self, client: httpx.AsyncClient, referred: Referred, language: str
    ) -> None:
        answer = await client.get(
            export_path(referred.referral_id, lang=language), headers=referred.net.receiver.headers
        )
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        assert NAME not in answer.text

    async def test_the_minimal_profile_shows_only_what_it_shares(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        net = await network(session, settings)
        consent_id = await record_consent(client, net)
        # The write API takes nothing the profile does not share (intake refuses it).
        referral = await refer(
            client,
            net,
            consent_id,
            sharing_profile="minimal",
            reason={},
            subject={"age": 15, "gender": "female", "language": "fr"},
            safety=FULL_REFERRAL["safety"],
        )
        page = await client.get(export_path(str(referral["id"])), headers=net.receiver.headers)
        text = text_of(page)
        words = catalog("en")
        assert words("form.gender.female") in text  # demographics
        assert words("form.do_not_contact_directly") in text  # safety
        assert words("form.name") not in text  # identity
        assert words("form.incident") not in text
        assert words("form.sharing_profile.minimal") in text
        # The consent allows more; the form says what this referral's profile shares.
        shared = re.search(rf"{words('form.shared')} (.*?) {words('form.recipients')}", text)
        assert shared is not None
        assert shared.group(1) == "Age, gender and language; Safety instructions"

    async def test_a_closed_referral_shows_no_person_and_no_consent(
        self, client: httpx.AsyncClient, referred: Referred
    ) -> None:
        net = referred.net
        await move(client, net.receiver.headers, referred.referral_id, status="received")
        await move(
            client,
            net.receiver.headers,
            referred.referral_id,
            status="rejected",
            reason="no_capacity",
        )
        page = await client.get(
            export_path(referred.referral_id, lang="fr"), headers=net.receiver.headers
        )
        text = text_of(page)
        words = catalog("fr")
        assert words("form.withheld.closed") in text
        assert words("form.status.rejected") in text
        assert NAME not in text
        assert "mother" not in text
        assert words("form.consent") not in text
        assert words("form.call_back") in text  # who to call back is the organisation's
        assert words("form.filing") in text

    async def test_another_organisation_gets_404(
        self, client: httpx.AsyncClient, referred: Referred
    ) -> None:
        answer = await client.get(
            export_path(referred.referral_id), headers=referred.net.third.headers
        )
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"


class TestTheAppPage:
    async def test_a_caseworker_of_the_receiver_reads_it_in_their_language(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        referred: Referred,
    ) -> None:
        caseworker = await create_person(
            session, settings, referred.net.receiver.organization, UserRole.caseworker
        )
        async with browser_client(app) as browser:
            await sign_in(browser, caseworker)
            page = await browser.get(f"/app/referrals/{referred.referral_id}/form?lang=mg")
        assert page.status_code == 200, page.text[:500]
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["content-language"] == "mg"
        assert "script-src" not in page.headers["content-security-policy"]
        text = text_of(page)
        assert catalog("mg")("form.gbv_type.rape") in text
        assert NAME in text
        assert f"<title>{catalog('mg')('form.title')} · Relay</title>" in page.text
        assert f'href="/app/referrals/{referred.referral_id}"' in page.text  # back to the case

    async def test_a_volunteer_of_the_sender_sees_no_person(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        referred: Referred,
    ) -> None:
        volunteer = await create_person(
            session, settings, referred.net.sender.organization, UserRole.volunteer
        )
        async with browser_client(app) as browser:
            await sign_in(browser, volunteer)
            page = await browser.get(f"/app/referrals/{referred.referral_id}/form")
        assert page.status_code == 200
        text = text_of(page)
        assert catalog("en")("form.withheld.not_for_your_role") in text
        assert NAME not in text
        assert "mother" not in text
        assert catalog("en")("form.status.requested") in text

    @pytest.mark.parametrize("which", ["another organisation's", "unknown", "malformed"])
    async def test_a_referral_not_theirs_is_not_found(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        referred: Referred,
        which: str,
    ) -> None:
        person: Person = await create_person(
            session,
            settings,
            referred.net.third.organization
            if which == "another organisation's"
            else referred.net.receiver.organization,
            UserRole.caseworker,
        )
        referral_id = {
            "another organisation's": referred.referral_id,
            "unknown": "7d0c9b8e-0000-4000-8000-000000000000",
            "malformed": "not-a-referral",
        }[which]
        async with browser_client(app) as browser:
            await sign_in(browser, person)
            page = await browser.get(f"/app/referrals/{referral_id}/form")
        assert page.status_code == 404
        assert catalog("en")("form.not_found") in text_of(page)
        assert NAME not in page.text


class TestWords:
    @pytest.mark.parametrize("language", LANGUAGES)
    def test_every_code_of_every_coded_field_has_words(self, language: str) -> None:
        words = catalog(language)
        for field, enumeration in ENUMERATIONS.items():
            for member in enumeration:
                assert words.has(f"form.{field}.{member.value}"), (field, member.value)

    @pytest.mark.parametrize("language", LANGUAGES)
    def test_every_label_the_form_names_has_words(self, language: str) -> None:
        template = (TEMPLATES / TEMPLATE).read_text(encoding="utf-8")
        labels = set(re.findall(r'\bf\("([a-z_]+)"\)', template))
        labels |= set(re.findall(r'\bt\("(form\.[a-z_.]+)"', template))
        assert len(labels) > 40
        words = catalog(language)
        for label in labels:
            key = label if label.startswith("form.") else f"form.{label}"
            assert words.has(key), key
