"""Issue 22, acceptance 1, in a real headless Chromium on a 360 px phone: an anonymous visitor
reports a wrong number on a lookup card; the organisation's admin signs in (password and TOTP),
sees the report in the queue, corrects the phone, confirms the entry and accepts the report;
the lookup card then shows the new number and "checked on" today; the operator finds the queue
empty. The app's pages load no script, so one run (the lookup page's script on) covers them."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.models.people import UserRole
from api.schemas.directory import ServiceCreate
from api.services import directory
from tests.factories.organizations import create_organization
from tests.factories.people import create_operator_organization, create_person
from tests.web.browser import Browser, LiveServer, missing
from tests.web.test_app_browser import fill, on_page, server, sign_in, sign_out, text, wait_for

__all__ = ["server"]  # the live server fixture, shared with the people pages' browser test

OLD_NUMBER = "+261 20 22 000 04"
NEW_NUMBER = "+261349988877"
PLACE = "lat=-18.95&lon=47.52&need=medical-care&lang=en"


@pytest.fixture
def chromium() -> Iterator[Browser]:
    reason = missing()
    if reason:
        pytest.fail(reason)
    browser = Browser(javascript=True)
    yield browser
    browser.quit()


def click(css: str) -> object:
    return lambda driver: driver.find_element(By.CSS_SELECTOR, css).click()


async def test_a_wrong_number_is_reported_corrected_and_confirmed(
    chromium: Browser, server: LiveServer, session: AsyncSession, settings: Settings
) -> None:
    browser = chromium
    organization = await create_organization(session, name="CSB Anosizato (browser)")
    admin = await create_person(session, settings, organization, UserRole.org_admin)
    operator = await create_person(
        session, settings, await create_operator_organization(session), UserRole.operator
    )
    service = await directory.create_service(
        session,
        admin.principal(),
        ServiceCreate.model_validate(
            {
                "name": "CSB Anosizato (browser)",
                "needs": ["medical-care"],
                "phones": [{"number": OLD_NUMBER}],
                "locations": [{"name": "Anosizato", "latitude": -18.95, "longitude": 47.52}],
            }
        ),
        largest_area_km2=settings.max_service_area_km2,
    )
    card = f'li.card[data-service="{service.id}"]'

    # An anonymous visitor reports the wrong number from the card.
    await browser.get(f"{server.url}/lookup?{PLACE}")
    await browser.run(wait_for(f"{card} a.report-link"))
    await browser.run(click(f"{card} a.report-link"))
    await on_page(browser, "form#report", "/lookup/report")
    await browser.run(click("#reason-wrong_number"))
    await browser.run(fill({"correction": NEW_NUMBER}, "#send-report"))
    await browser.run(wait_for("#report-done"))
    await browser.screenshot("directory-reported.png")

    # The admin signs in and finds it in the queue.
    await sign_in(browser, server, admin.login, admin.password)
    await on_page(browser, "form#code-form", "/app/sign-in/code")
    await browser.run(fill({"code": admin.next_code()}, "#code-form button"))
    await on_page(browser, "#welcome", "/app")
    await browser.run(click("#directory-link"))
    await on_page(browser, "#queue", "/app/directory")
    queued = await browser.run(text("#queue"))
    assert "Wrong phone number" in queued
    assert f"Suggested: {NEW_NUMBER}" in queued
    await browser.screenshot("directory-queue.png")

    # The entry: the phone corrected, the entry confirmed, the report accepted.
    path = f"/app/directory/services/{service.id}"
    await browser.run(click(f'#queue a[href="{path}"]'))
    await on_page(browser, "form#phones-form", path)
    await browser.run(fill({"number_0": NEW_NUMBER}, "#save-phones"))
    await on_page(browser, "#done", path)
    await browser.run(click("#confirm"))
    await on_page(browser, "#done", path)
    today = datetime.now(UTC).date().isoformat()
    assert await browser.run(text("#checked")) == f"Checked on {today}"
    await browser.run(click("#reports form.accept button"))
    await on_page(browser, "#done", path)
    assert await browser.run(text("#done")) == "Report accepted."
    await browser.screenshot("directory-entry.png")
    await sign_out(browser)

    # The lookup card: the new number, checked today.
    await browser.get(f"{server.url}/lookup?{PLACE}")
    await browser.run(wait_for(f'{card} a[href="tel:{NEW_NUMBER}"]'))
    assert await browser.run(text(f"{card} .checked")) == f"Checked on {today}"
    assert not await browser.run(
        lambda driver: driver.find_elements(By.CSS_SELECTOR, f'{card} a[href^="tel:+26120"]')
    )

    # The operator's queue is empty.
    await sign_in(browser, server, operator.login, operator.password)
    await on_page(browser, "form#code-form", "/app/sign-in/code")
    await browser.run(fill({"code": operator.next_code()}, "#code-form button"))
    await on_page(browser, "#welcome", "/app")
    await browser.run(click("#operator-link"))
    await on_page(browser, "#queue-empty", "/app/operator")
    assert await browser.run(text("#queue-count")) == "Open reports: 0"
    await browser.screenshot("operator.png")
