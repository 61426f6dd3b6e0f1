"""Issue 24's pages over HTTP: ``/stats`` (anyone: an ended quarter of the network, regions and
the loop) and ``/app/stats`` (a person with ``stats:read``), in every language, their CSV the
same cells as their tables, their caching, and bad input."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.models.organization import Organization
from api.models.people import UserRole
from api.services.statistics import Quarter
from api.web.i18n import LANGUAGES, catalog
from tests.factories.people import create_operator_organization, create_person
from tests.factories.statistics import QUARTER, History, figures_in_csv, figures_in_page, seed
from tests.web.app_pages import browser_client, sign_in
from tests.web.pages import Page


@pytest.fixture
async def history(session: AsyncSession) -> History:
    return await seed(session)


@pytest.fixture
async def browser(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_client(app) as opened:
        yield opened


def loads_nothing_from_another_host(html: str) -> None:
    page = Page(html)
    for tag, attribute in (("link", "href"), ("img", "src"), ("script", "src"), ("a", "href")):
        for attrs in page.all(tag):
            value = attrs.get(attribute, "")
            assert not value.startswith(("http:", "https:", "//")), (tag, value)
    assert not page.all("script")


class TestPublicPage:
    @pytest.mark.parametrize("language", LANGUAGES)
    async def test_an_ended_quarter_in_every_language_with_its_csv(
        self, browser: httpx.AsyncClient, history: History, language: str
    ) -> None:
        page = await browser.get("/stats", params={"quarter": QUARTER, "lang": language})
        assert page.status_code == 200, page.text[:500]
        assert page.headers["content-language"] == language
        assert page.headers["cache-control"] == "public, max-age=300"
        assert "Accept-Language" in page.headers["vary"]
        words = catalog(language)
        assert words("stats.public_title") in Page(page.text).text
        assert "<svg" in page.text
        loads_nothing_from_another_host(page.text)
        shown = figures_in_page(page.text)
        tables = {attrs["data-table"] for attrs in Page(page.text).all("table")}
        assert tables == {"areas", "needs", "stages", "funnel"}
        exported = await browser.get("/stats.csv", params={"quarter": QUARTER})
        assert exported.status_code == 200
        assert exported.headers["content-type"] == "text/csv; charset=utf-8"
        digits = str.maketrans(words("number.digits"), "0123456789")
        assert [(name, value.translate(digits)) for name, value in shown] == figures_in_csv(
            exported.text
        )

    async def test_regions_only_and_no_district(
        self, browser: httpx.AsyncClient, history: History
    ) -> None:
        page = await browser.get("/stats", params={"quarter": QUARTER})
        names = {name for name, _ in figures_in_page(page.text)}
        assert not [name for name in names if name.startswith("area:")]
        assert f"region:{history.areas['region']}" in names
        assert "Statistics district-1" not in page.text
        assert "Statistics region" in page.text

    @pytest.mark.parametrize(
        ("quarter", "key"),
        [
            ("2019Q5", "stats.error.quarter"),
            ("<script>", "stats.error.quarter"),
            (str(Quarter.current()), "stats.error.not_ended"),
            ("2099Q1", "stats.error.not_ended"),
        ],
    )
    async def test_a_quarter_not_published_is_a_422_page(
        self, browser: httpx.AsyncClient, quarter: str, key: str
    ) -> None:
        for path in ("/stats", "/stats.csv"):
            page = await browser.get(path, params={"quarter": quarter, "lang": "fr"})
            assert page.status_code == 422
            assert catalog("fr")(key) in Page(page.text).text
            assert "<script>" not in page.text

    async def test_the_default_is_the_last_ended_quarter(self, browser: httpx.AsyncClient) -> None:
        page = await browser.get("/stats")
        assert page.status_code == 200
        assert str(Quarter.current().previous()) in page.text


class TestAppPage:
    async def test_a_caseworker_sees_their_organisation_and_the_csv_matches(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        history: History,
    ) -> None:
        organization = await session.get(Organization, history.organizations["health"])
        assert organization is not None
        person = await create_person(session, settings, organization, UserRole.caseworker)
        await sign_in(browser, person)
        home = await browser.get("/app")
        assert 'href="/app/stats"' in home.text
        page = await browser.get("/app/stats", params={"quarter": QUARTER})
        assert page.status_code == 200, page.text[:500]
        assert page.headers["cache-control"] == "no-store"
        assert catalog("en")("stats.scope.organization") in Page(page.text).text
        loads_nothing_from_another_host(page.text)
        exported = await browser.get("/app/stats.csv", params={"quarter": QUARTER})
        assert exported.status_code == 200
        assert exported.headers["cache-control"] == "no-store"
        assert figures_in_page(page.text) == figures_in_csv(exported.text)
        total = dict(figures_in_page(page.text))["total"]
        mine = sum(1 for referral in history.referrals if referral.receiver == "health")
        assert total == str(mine)
        assert 'data-directory="needs"' in page.text  # the directory's health, below
        districts = [name for name, _ in figures_in_page(page.text) if name.startswith("area:")]
        assert districts  # the organisation's own figures go down to the district

    async def test_the_operator_sees_the_network(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        history: History,
    ) -> None:
        operator = await create_person(
            session, settings, await create_operator_organization(session), UserRole.operator
        )
        await sign_in(browser, operator)
        page = await browser.get("/app/stats", params={"quarter": QUARTER, "lang": "ne"})
        assert page.status_code == 200
        assert catalog("ne")("stats.scope.network") in Page(page.text).text
        total = dict(figures_in_page(page.text))["total"]
        assert total == catalog("ne").number(len(history.referrals), 0)

    async def test_a_volunteer_is_told_the_figures_are_not_for_their_role(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        history: History,
    ) -> None:
        organization = await session.get(Organization, history.organizations["committee"])
        assert organization is not None
        person = await create_person(session, settings, organization, UserRole.volunteer)
        await sign_in(browser, person)
        assert 'href="/app/stats"' not in (await browser.get("/app")).text
        for path in ("/app/stats", "/app/stats.csv"):
            page = await browser.get(path)
            assert page.status_code == 403
            assert catalog("en")("problem.statistics-not-allowed") in Page(page.text).text

    async def test_a_bad_quarter_is_a_422_page(
        self, browser: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        organization = await create_operator_organization(session)
        person = await create_person(session, settings, organization, UserRole.operator)
        await sign_in(browser, person)
        page = await browser.get("/app/stats", params={"quarter": "2026-Q1"})
        assert page.status_code == 422
        assert catalog("en")("stats.error.quarter") in Page(page.text).text
