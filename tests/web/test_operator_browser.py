"""Issue 22, the operator's pages in a real headless Chromium on a 360 px phone, with the
browser's script on and off (the app's pages load none): the operator finds an organisation by
name, suspends it after a confirmation and reactivates it, registers another, and adds then
removes a country's national line; every page fits the screen."""

from selenium.webdriver.common.by import By
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.models.people import UserRole
from tests.factories.organizations import create_organization
from tests.factories.people import create_operator_organization, create_person
from tests.web.browser import Browser, LiveServer
from tests.web.test_app_browser import chromium, fill, on_page, server, sign_in, text, wait_for
from tests.web.test_app_browser import path as path_of

# The live server and the browser (with its script, and without) of the people pages' test.
__all__ = ["chromium", "server"]


def click(css: str) -> object:
    return lambda driver: driver.find_element(By.CSS_SELECTOR, css).click()


async def test_the_operator_suspends_registers_and_enters_a_line(
    chromium: Browser, server: LiveServer, session: AsyncSession, settings: Settings
) -> None:
    browser = chromium
    partner = await create_organization(session, name="Foyer Akany Vonjy (browser)")
    operator = await create_person(
        session, settings, await create_operator_organization(session), UserRole.operator
    )
    await sign_in(browser, server, operator.login, operator.password)
    await on_page(browser, "form#code-form", "/app/sign-in/code")
    await browser.run(fill({"code": operator.next_code()}, "#code-form button"))
    await on_page(browser, "#welcome", "/app")
    await browser.run(click("#operator-link"))
    await on_page(browser, "#organization-search", "/app/operator")

    # Found by part of its name, then suspended after a confirmation.
    await browser.run(fill({"q": "akany vonjy"}, "#organization-search button"))
    await on_page(browser, "#found", "/app/operator/organizations")
    assert await browser.run(text("#found")) == "Organisations found: 1"
    path = f"/app/operator/organizations/{partner.id}"
    await browser.run(click(f'#organization-list a[href="{path}"]'))
    await on_page(browser, "#suspend-link", path)
    await browser.run(click("#suspend-link"))
    await on_page(browser, "form#confirm", f"{path}/suspend")
    assert "Foyer Akany Vonjy (browser)" in await browser.run(text("main"))
    await browser.screenshot("operator-suspend.png")
    await browser.run(click("form#confirm button"))
    await on_page(browser, "#done", path)
    assert await browser.run(text("#status")) == "Suspended"
    await browser.run(click("#reactivate-link"))
    await browser.run(click("form#confirm button"))
    await on_page(browser, "#done", path)
    assert await browser.run(text("#status")) == "Active"
    await browser.screenshot("operator-organization.png")

    # Another registered: a refused name first, as a form error.
    await browser.get(f"{server.url}/app/operator/organizations/new")
    await on_page(browser, "form#new-organization-form", "/app/operator/organizations/new")
    await browser.run(fill({"name": "   "}, "#new-organization-form button"))
    await on_page(browser, "#problem", "/app/operator/organizations/new")
    await browser.run(
        fill({"name": "Brigade des mineurs (browser)"}, "#new-organization-form button")
    )
    await browser.run(wait_for("#done"))
    registered = await browser.run(path_of)
    assert registered.startswith("/app/operator/organizations/")
    await on_page(browser, "#done", registered)
    assert await browser.run(text("#organization-name")) == "Brigade des mineurs (browser)"

    # A national line entered, listed under its country, then removed.
    await browser.get(f"{server.url}/app/operator/national-lines")
    await on_page(browser, "form#add-line", "/app/operator/national-lines")
    await browser.run(
        fill(
            {"country": "zz", "name": "Police secours (browser)", "number": "117"},
            "#add-line button",
        )
    )
    await on_page(browser, "#done", "/app/operator/national-lines")
    listed = await browser.run(text('section[data-country="ZZ"]'))
    assert "Police emergency: Police secours (browser)" in listed
    await browser.screenshot("operator-national-lines.png")
    await browser.run(click('section[data-country="ZZ"] a[href$="/remove"]'))
    await browser.run(click("form#confirm button"))
    await on_page(browser, "#done", "/app/operator/national-lines")
    assert "Police secours (browser)" not in await browser.run(text("main"))
