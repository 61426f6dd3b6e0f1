"""The printable referral form in a real headless Chromium (issue 21, acceptance 5): a caseworker
of the receiving health centre, signed in, opens the form of the fullest referral the API takes
(every field, every trafficking indicator) in each language and prints it to PDF on A4 paper, as
the browser's print dialog would: it is one page. The PDFs are kept under test-artifacts/
(``referral-form-<language>.pdf``), beside the browser tests' screenshots.
"""

import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pypdf import PdfReader
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.models.people import UserRole
from api.web.i18n import LANGUAGES, catalog
from tests.factories.people import Person, create_person
from tests.factories.referrals import NAME
from tests.web.browser import ARTIFACTS, Browser, LiveServer, live, missing
from tests.web.test_referral_form import SENDER_PHONE, Referred, full_referral

WAIT_SECONDS = 20


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    reason = missing()
    if reason:
        pytest.fail(reason)
    chromium = Browser(javascript=False)  # the app's pages load no script
    yield chromium
    chromium.quit()


@pytest.fixture
async def server(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[LiveServer]:
    """The test app (bound, through ``client``, to this test's transaction) on a real port."""
    async with live(app) as running:
        yield running


def wait_for(css: str) -> Any:
    def present(driver: WebDriver) -> bool:
        return bool(driver.find_elements(By.CSS_SELECTOR, css))

    return lambda driver: WebDriverWait(driver, WAIT_SECONDS).until(
        present, f"no {css} on {driver.current_url}"
    )


def fill(fields: dict[str, str], submit: str) -> Any:
    def work(driver: WebDriver) -> None:
        for field, value in fields.items():
            element = driver.find_element(By.ID, field)
            element.clear()
            element.send_keys(value)
        driver.find_element(By.CSS_SELECTOR, submit).click()

    return work


async def sign_in(browser: Browser, server: LiveServer, person: Person) -> None:
    """Sign in through the pages, as the person would (password, then the authenticator's
    code); a new server is a new origin, so no earlier session is in the way."""
    await browser.get(f"{server.url}/app/sign-in")
    await browser.run(wait_for("form#sign-in"))
    await browser.run(fill({"login": person.login, "password": person.password}, "#sign-in button"))
    await browser.run(wait_for("form#code-form"))
    await browser.run(fill({"code": person.next_code()}, "#code-form button"))
    await browser.run(wait_for("#sign-out"))


async def print_preview(browser: Browser, name: str) -> None:
    """The page as printed (print media, A4's width at 96 dpi) as a PNG, to look at the PDF's
    layout without a PDF reader."""

    def paper(driver: WebDriver) -> None:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 794, "height": 1123, "deviceScaleFactor": 1, "mobile": False},
        )

    def back(driver: WebDriver) -> None:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

    await browser.run(paper)
    try:
        await browser.screenshot(name)
    finally:
        await browser.run(back)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_form_prints_on_one_a4_page(
    browser: Browser,
    server: LiveServer,
    session: AsyncSession,
    settings: Settings,
    client: httpx.AsyncClient,
    language: str,
) -> None:
    referred: Referred = await full_referral(session, settings, client)
    caseworker = await create_person(
        session, settings, referred.net.receiver.organization, UserRole.caseworker
    )
    await sign_in(browser, server, caseworker)
    await browser.get(f"{server.url}/app/referrals/{referred.referral_id}/form?lang={language}")
    await browser.run(wait_for(".referral-form .filing"))
    title = await browser.run(lambda driver: driver.title)
    assert title == f"{catalog(language)('form.title')} · Relay"
    printed = await browser.print_a4()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"referral-form-{language}.pdf").write_bytes(printed)
    await browser.screenshot(f"referral-form-{language}.png")
    await print_preview(browser, f"referral-form-{language}-print.png")
    pdf = PdfReader(io.BytesIO(printed))
    assert len(pdf.pages) == 1, f"{len(pdf.pages)} pages in {language}"
    width, height = (float(value) for value in pdf.pages[0].mediabox[2:])
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (210, 297)
    text = pdf.pages[0].extract_text()
    # What is dialled or typed back keeps its ASCII digits; the person and the call-back are
    # there (the signature block last: everything above it fitted).
    assert SENDER_PHONE in text
    assert referred.referral_id in text.replace("\n", "")
    if language in {"en", "fr", "mg"}:  # scripts pypdf extracts reliably
        assert NAME in text
        assert catalog(language)("form.stamp") in text
