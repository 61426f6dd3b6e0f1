"""Issue 24, acceptance 4, in a real headless Chromium without JavaScript (the pages have none):
``/stats`` and ``/app/stats`` on a 360 px phone (nothing wider than the screen, the charts
drawn) and printed on A4, their screenshots and PDFs kept in test-artifacts/; the counts the
browser shows are the CSV's, cell for cell."""

import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pypdf import PdfReader
from selenium.webdriver.common.by import By
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.models.organization import Organization
from api.models.people import UserRole
from tests.factories.people import create_person
from tests.factories.statistics import QUARTER, figures_in_csv, seed
from tests.web.browser import ARTIFACTS, Browser, LiveServer, live, missing
from tests.web.test_app_browser import fill, on_page, wait_for


@pytest.fixture
def chromium() -> Iterator[Browser]:
    reason = missing()
    if reason:
        pytest.fail(reason)
    browser = Browser(javascript=False)
    yield browser
    browser.quit()


@pytest.fixture
async def server(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[LiveServer]:
    async with live(app) as running:
        yield running


def shown_figures(driver: Any) -> list[tuple[str, str]]:
    cells = driver.find_elements(By.CSS_SELECTOR, "td[data-figure]")
    return [
        (cell.get_attribute("data-figure"), cell.get_attribute("textContent").strip())
        for cell in cells
    ]


async def phone_and_paper(browser: Browser, name: str) -> None:
    """The page at 360 px (nothing wider, charts drawn), then on A4: a PDF and a screenshot of
    the print layout, all kept."""
    width = await browser.script("return document.documentElement.scrollWidth")
    assert width <= 360, f"{name} is {width} px wide on a 360 px screen"
    charts = await browser.script("return document.querySelectorAll('svg.chart rect').length")
    assert charts > 5
    await browser.screenshot(f"{name}-360.png")
    pdf_bytes = await browser.print_a4()
    (ARTIFACTS / f"{name}-a4.pdf").write_bytes(pdf_bytes)
    pdf = PdfReader(io.BytesIO(pdf_bytes))
    width_pt, height_pt = (float(value) for value in pdf.pages[0].mediabox[2:])
    assert abs(width_pt - 595) < 2  # A4 in points
    assert abs(height_pt - 842) < 2
    assert 1 <= len(pdf.pages) <= 6  # a table never split: see app.css, @media print
    text = " ".join(page.extract_text() for page in pdf.pages)
    assert "Total" in text
    await browser.run(
        lambda driver: driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 794, "height": 1123, "deviceScaleFactor": 1, "mobile": False},
        )
    )
    await browser.run(
        lambda driver: driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    )
    await browser.screenshot(f"{name}-a4-print.png")
    await browser.run(
        lambda driver: driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    )


async def test_the_public_figures_on_a_phone_and_on_paper_match_their_csv(
    chromium: Browser, server: LiveServer, session: AsyncSession
) -> None:
    history = await seed(session)
    await chromium.get(f"{server.url}/stats?quarter={QUARTER}&lang=en")
    await chromium.run(wait_for("table.figures"))
    shown = await chromium.run(shown_figures)
    async with httpx.AsyncClient() as http:
        exported = await http.get(f"{server.url}/stats.csv", params={"quarter": QUARTER})
    assert exported.status_code == 200
    assert shown == figures_in_csv(exported.text)
    assert ("total", str(len(history.referrals))) in shown
    await phone_and_paper(chromium, "stats-public")
    await chromium.get(f"{server.url}/stats?quarter={QUARTER}&lang=km")
    await chromium.run(wait_for('html[lang="km"]'))
    await chromium.screenshot("stats-public-km-360.png")


async def test_an_organisations_figures_on_a_phone_and_on_paper_match_their_csv(
    chromium: Browser,
    server: LiveServer,
    session: AsyncSession,
    settings: Settings,
) -> None:
    history = await seed(session)
    organization = await session.get(Organization, history.organizations["health"])
    assert organization is not None
    person = await create_person(session, settings, organization, UserRole.caseworker)
    await chromium.get(f"{server.url}/app/sign-in")
    await on_page(chromium, "form#sign-in", "/app/sign-in")
    await chromium.run(
        fill({"login": person.login, "password": person.password}, "#sign-in button")
    )
    await on_page(chromium, "form#code-form", "/app/sign-in/code")
    await chromium.run(fill({"code": person.next_code()}, "#code-form button"))
    await on_page(chromium, "#welcome", "/app")
    await chromium.run(lambda driver: driver.find_element(By.ID, "stats-link").click())
    await on_page(chromium, "table.figures", "/app/stats")
    await chromium.get(f"{server.url}/app/stats?quarter={QUARTER}")
    await on_page(chromium, "table.figures", "/app/stats")
    shown = await chromium.run(shown_figures)
    cookies = await chromium.run(lambda driver: driver.get_cookies())
    jar = {cookie["name"]: cookie["value"] for cookie in cookies}
    async with httpx.AsyncClient(cookies=jar) as http:  # the browser's own session
        exported = await http.get(f"{server.url}/app/stats.csv", params={"quarter": QUARTER})
    assert exported.status_code == 200
    assert shown == figures_in_csv(exported.text)
    await phone_and_paper(chromium, "stats-app")
