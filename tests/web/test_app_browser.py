"""Issue 20, acceptance 1, in a real headless Chromium on a 360 px phone, with JavaScript and
without: an organisation's admin signs in (password and TOTP) and invites a caseworker on the
people page; the caseworker opens the invitation link, chooses a password, enrols an
authenticator (the test reads the secret from the page and computes codes with pyotp), sees
their recovery codes, signs out and in again; a wrong code and a code used before are refused.
The sign-in page is shown in French and Nepali through the language switch.

The app's pages load no script: JavaScript on or off, the same pages must work.
"""

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import totp
from api.config import Settings
from api.models.people import UserRole
from tests.factories.organizations import create_organization
from tests.factories.people import Person, create_person, strong_password, unique_login
from tests.web.browser import Browser, LiveServer, live, missing

WAIT_SECONDS = 20


class Authenticator:
    """An authenticator app: the code of the current 30-second step, or of the next one when
    this one was used (a code is never accepted twice)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.last_step: int | None = None

    def next_code(self) -> str:
        step = int(datetime.now(UTC).timestamp()) // totp.PERIOD_SECONDS
        if self.last_step is not None and step <= self.last_step:
            step = self.last_step + 1
        self.last_step = step
        return pyotp.TOTP(self.secret).at(step * totp.PERIOD_SECONDS + 1)

    def last_code(self) -> str:
        assert self.last_step is not None
        return pyotp.TOTP(self.secret).at(self.last_step * totp.PERIOD_SECONDS + 1)

    def wrong_code(self) -> str:
        """Six digits no step near now accepts."""
        now = datetime.now(UTC)
        near = {
            pyotp.TOTP(self.secret).at(now + timedelta(seconds=30 * shift))
            for shift in range(-2, 4)
        }
        return next(code for code in ("000000", "123456", "999999", "424242") if code not in near)


@pytest.fixture(params=[True, False], ids=["javascript", "no-javascript"])
def chromium(request: pytest.FixtureRequest) -> Iterator[Browser]:
    reason = missing()
    if reason:
        pytest.fail(reason)
    browser = Browser(javascript=request.param)
    yield browser
    browser.quit()


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
    """Type into the form's fields (by id), then press its button."""

    def work(driver: WebDriver) -> None:
        for field, value in fields.items():
            element = driver.find_element(By.ID, field)
            element.clear()
            element.send_keys(value)
        driver.find_element(By.CSS_SELECTOR, submit).click()

    return work


def text(css: str) -> Any:
    return lambda driver: driver.find_element(By.CSS_SELECTOR, css).text


def path(driver: WebDriver) -> str:
    return urlsplit(driver.current_url).path


async def on_page(browser: Browser, css: str, where: str) -> None:
    await browser.run(wait_for(css))
    assert await browser.run(path) == where
    width = await browser.script("return document.documentElement.scrollWidth")
    assert width <= 360, f"{where} is {width} px wide on a 360 px screen"
    title = await browser.run(lambda driver: driver.title)
    assert title.endswith("· Relay"), title


async def sign_in(browser: Browser, server: LiveServer, login: str, password: str) -> None:
    await browser.get(f"{server.url}/app/sign-in")
    await on_page(browser, "form#sign-in", "/app/sign-in")
    await browser.run(fill({"login": login, "password": password}, "#sign-in button"))


async def sign_out(browser: Browser) -> None:
    await browser.run(lambda driver: driver.find_element(By.ID, "sign-out").click())
    await browser.run(wait_for("#notice"))
    assert await browser.run(path) == "/app/sign-in"


async def test_an_admin_invites_a_caseworker_who_enrols_and_signs_in_again(
    chromium: Browser,
    server: LiveServer,
    session: AsyncSession,
    settings: Settings,
    request: pytest.FixtureRequest,
) -> None:
    browser = chromium
    shot = "js" if request.node.callspec.params["chromium"] else "no-js"
    organization = await create_organization(session, name="Sabali health centre (browser)")
    admin: Person = await create_person(session, settings, organization, UserRole.org_admin)

    # The sign-in page speaks every language of the switch.
    await browser.get(f"{server.url}/app/sign-in")
    await browser.run(
        lambda driver: driver.find_element(By.CSS_SELECTOR, 'a[hreflang="fr"]').click()
    )
    await browser.run(wait_for('html[lang="fr"]'))
    assert await browser.run(text("h1")) == "Se connecter"
    await browser.run(
        lambda driver: driver.find_element(By.CSS_SELECTOR, 'a[hreflang="ne"]').click()
    )
    await browser.run(wait_for('html[lang="ne"]'))
    assert await browser.run(text("h1")) == "साइन इन गर्नुहोस्"
    await browser.screenshot(f"app-sign-in-ne-{shot}.png")
    await browser.get(f"{server.url}/app/sign-in?lang=en")
    await browser.run(wait_for('html[lang="en"]'))

    # The admin: password, then the authenticator's code.
    await sign_in(browser, server, admin.login, admin.password)
    await on_page(browser, "form#code-form", "/app/sign-in/code")
    await browser.run(fill({"code": admin.next_code()}, "#code-form button"))
    await on_page(browser, "#welcome", "/app")

    # The people page: invite a caseworker.
    await browser.run(lambda driver: driver.find_element(By.ID, "people-link").click())
    await on_page(browser, "#invite-link", "/app/people")
    await browser.run(lambda driver: driver.find_element(By.ID, "invite-link").click())
    await on_page(browser, "form#invite", "/app/people/invite")
    login = unique_login("caseworker")
    await browser.run(
        lambda driver: Select(driver.find_element(By.ID, "role")).select_by_value("caseworker")
    )
    await browser.run(
        fill({"display_name": "Awa (browser test)", "login": login}, "#invite button")
    )
    await on_page(browser, "#invitation-code", "/app/people/invite")
    code = await browser.run(text("#invitation-code"))
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)
    link = await browser.run(text("#invitation-link"))
    assert link == f"{settings.issuer}/app/invitation/{code}"
    await browser.screenshot(f"app-invited-{shot}.png")
    await browser.run(lambda driver: driver.find_element(By.ID, "back").click())
    await on_page(browser, "[data-person] a", "/app/people")
    assert "Awa (browser test)" in await browser.run(text("#people"))
    await browser.screenshot(f"app-people-{shot}.png")
    await sign_out(browser)

    # The caseworker opens the link: the code leaves the address at once.
    await browser.get(server.url + urlsplit(link).path)
    await on_page(browser, "form#set-password", "/app/invitation/password")
    assert code not in await browser.run(lambda driver: driver.current_url)
    password = strong_password()
    await browser.run(fill({"password": password, "confirm": password}, "#set-password button"))

    # Enrolment: the key from the page, the code from pyotp.
    await on_page(browser, "form#enrol", "/app/sign-in/enrol")
    await browser.screenshot(f"app-enrol-{shot}.png")
    secret = (await browser.run(text("#totp-secret"))).replace(" ", "")
    uri = await browser.run(
        lambda driver: driver.find_element(By.ID, "totp-link").get_attribute("href")
    )
    assert uri.startswith("otpauth://totp/")
    assert f"secret={secret}" in uri
    authenticator = Authenticator(secret)
    await browser.run(fill({"code": authenticator.next_code()}, "#enrol button"))
    await on_page(browser, "#recovery-codes", "/app/sign-in/enrol")
    codes = await browser.run(
        lambda driver: [
            item.text for item in driver.find_elements(By.CSS_SELECTOR, "#recovery-codes code")
        ]
    )
    assert len(codes) == 10
    await browser.screenshot(f"app-recovery-codes-{shot}.png")
    await browser.run(lambda driver: driver.find_element(By.ID, "continue").click())
    await on_page(browser, "#welcome", "/app")
    assert "Awa (browser test)" in await browser.run(text("#welcome"))
    await sign_out(browser)

    # Signing in again: a wrong code and the code already used (at enrolment) are refused,
    # the next one lets the caseworker in.
    await sign_in(browser, server, login, password)
    await on_page(browser, "form#code-form", "/app/sign-in/code")
    await browser.run(fill({"code": authenticator.wrong_code()}, "#code-form button"))
    await on_page(browser, "#problem", "/app/sign-in/code")
    await browser.run(fill({"code": authenticator.last_code()}, "#code-form button"))
    await on_page(browser, "#problem", "/app/sign-in/code")
    await browser.screenshot(f"app-code-refused-{shot}.png")
    await browser.run(fill({"code": authenticator.next_code()}, "#code-form button"))
    await on_page(browser, "#welcome", "/app")
    await browser.screenshot(f"app-home-{shot}.png")
