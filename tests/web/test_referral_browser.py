"""Issue 21, acceptances 1 and 2, in a real headless Chromium on a 360 px phone: a volunteer of
the Sabali committee refers a girl to the Sabali health centre (consent by her mother with the
girl's assent, the ``standard`` profile), a caseworker of the health centre signs in, finds it
first in the inbox, receives, accepts and completes it; the volunteer then sees "completed" and
none of the girl's data; the audit trail names both people. Once in English with JavaScript,
once in French without, once in Nepali with: the pages load no script, so both must work, and
every message of the flow must be in the page's language (screenshots kept in test-artifacts/).
After the flow, the browser's disk cache holds nothing of the girl (every page is no-store).
"""

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import any_, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.config import Settings
from api.models.audit import AuditEvent
from api.models.directory import Service
from api.web.i18n import catalog
from tests.web.browser import Browser, LiveServer, live, missing
from tests.web.test_app_browser import fill, on_page, sign_out, text, wait_for
from tests.web.workspace import PERSON_NAME, SERVICE, Cast, cast

RUNS = [(True, "en"), (False, "fr"), (True, "ne")]
# A message key left in a page instead of its words (``refer.step.need``).
RAW_KEY = re.compile(r"\b(?:refer|referral|case|inbox|sent|problem)\.[a-z_]+(?:\.[a-z_-]+)?\b")


@pytest.fixture(params=RUNS, ids=[f"{'js' if js else 'no-js'}-{lang}" for js, lang in RUNS])
def run(request: pytest.FixtureRequest) -> Iterator[tuple[Browser, str]]:
    reason = missing()
    if reason:
        pytest.fail(reason)
    javascript, language = request.param
    browser = Browser(javascript=javascript)
    yield browser, language
    browser.quit()


@pytest.fixture
async def people(session: AsyncSession, settings: Settings) -> Cast:
    return await cast(session, settings)


@pytest.fixture
async def server(
    app: FastAPI, client: httpx.AsyncClient, people: Cast
) -> AsyncIterator[LiveServer]:
    async with live(app) as running:
        yield running


def click(css: str) -> object:
    return lambda driver: driver.find_element(By.CSS_SELECTOR, css).click()


def choose(field: str, value: str) -> object:
    return lambda driver: Select(driver.find_element(By.ID, field)).select_by_value(value)


def page_source(driver: WebDriver) -> str:
    return str(driver.page_source)


async def in_language(browser: Browser, language: str) -> str:
    """The page is in ``language``, and no message key stands in it for its words."""
    await browser.run(wait_for(f'html[lang="{language}"]'))
    shown = await browser.run(text("body"))
    leftover = RAW_KEY.findall(shown)
    assert not leftover, f"messages missing: {leftover}"
    return str(shown)


async def sign_in_as(
    browser: Browser, server: LiveServer, login: str, password: str, language: str
) -> None:
    await browser.get(f"{server.url}/app/sign-in?lang={language}")
    await on_page(browser, "form#sign-in", "/app/sign-in")
    await browser.run(fill({"login": login, "password": password}, "#sign-in button"))


async def step(browser: Browser, css: str, where: str, shot: str, language: str) -> str:
    """On the page ``where`` (a pattern), fitting the phone, in the language: a screenshot."""
    await browser.run(wait_for(css))
    current = await browser.run(lambda driver: driver.current_url)
    assert re.search(where, current), (where, current)
    width = await browser.script("return document.documentElement.scrollWidth")
    assert width <= 360, f"{current} is {width} px wide on a 360 px screen"
    shown = await in_language(browser, language)
    await browser.screenshot(f"referral-{shot}.png")
    return shown


def cached_bytes(profile: str) -> bytes:
    """Everything in the browser's disk cache."""
    found = b""
    for path in Path(profile).rglob("*"):
        if path.is_file() and "Cache" in path.parts[-3:-1] + path.parts[-2:-1]:
            found += path.read_bytes()
    return found


async def test_a_volunteer_refers_and_a_caseworker_completes(
    run: tuple[Browser, str],
    server: LiveServer,
    people: Cast,
    session: AsyncSession,
) -> None:
    browser, language = run
    words = catalog(language)
    shot = f"{'js' if language != 'fr' else 'no-js'}-{language}"

    # The volunteer refers, in steps.
    await sign_in_as(browser, server, people.volunteer.login, people.volunteer.password, language)
    await on_page(browser, "#welcome", "/app")
    await browser.get(f"{server.url}/app?lang={language}")  # the switch: kept for the session
    await browser.get(f"{server.url}/app/refer?lang={language}")
    await step(browser, "form#refer", r"/app/refer\?", f"1-need-{shot}", language)
    await browser.run(click('input[name="need"][value="post-rape-care"]'))
    await browser.run(click("#urgent"))
    await browser.run(click("details.coordinates summary"))
    await browser.run(fill({"lat": "14.1", "lon": "-16.25"}, "#next"))
    await step(
        browser, "form#choose", r"/app/refer/[0-9a-f-]+/services$", f"2-services-{shot}", language
    )
    service_id = await session.scalar(select(Service.id).where(col(Service.name) == SERVICE))
    await browser.run(click(f'input[name="service"][value="{service_id}"]'))
    await browser.run(click("#next"))
    await step(browser, "form#consent", "/consent$", f"3-consent-{shot}", language)
    await browser.run(click('input[name="given_by"][value="parent_guardian"]'))
    await browser.run(click('input[name="child_assent"][value="yes"]'))
    await browser.run(click('input[name="profile"][value="standard"]'))
    await browser.run(click('input[name="method"][value="verbal"]'))
    await browser.run(fill({"relationship": "mother", "age": "14"}, "#next"))
    await step(browser, "form#person", "/person$", f"4-person-{shot}", language)
    assert (
        await browser.run(lambda driver: driver.find_element(By.ID, "age").get_attribute("value"))
        == "14"
    )
    await browser.run(choose("gender", "female"))
    await browser.run(choose("gbv_type", "rape"))
    await browser.run(fill({"name": PERSON_NAME}, "#next"))
    await step(browser, "form#safety", "/safety$", f"5-safety-{shot}", language)
    await browser.run(click("#do_not_contact_directly"))
    await browser.run(choose("safe_channel", "through_referrer"))
    await browser.run(click("#next"))
    review = await step(browser, "form#send", "/review$", f"6-review-{shot}", language)
    assert PERSON_NAME in review
    assert words("referral.priority.urgent") in review
    await browser.run(click("#send-button"))
    sent = await step(
        browser, "#sent-notice", r"/app/referrals/[0-9a-f-]+\?sent=1$", f"7-sent-{shot}", language
    )
    assert PERSON_NAME not in sent
    case_path = "/app/referrals/" + re.search(  # type: ignore[union-attr]
        r"/app/referrals/([0-9a-f-]+)", await browser.run(lambda driver: driver.current_url)
    ).group(1)
    title = await browser.run(lambda driver: driver.title)
    assert PERSON_NAME not in title
    await sign_out(browser)

    # The caseworker: the referral is first in the inbox; receive, accept, complete.
    caseworker = people.caseworker
    await sign_in_as(browser, server, caseworker.login, caseworker.password, language)
    await on_page(browser, "form#code-form", "/app/sign-in/code")
    await browser.run(fill({"code": caseworker.next_code()}, "#code-form button"))
    await on_page(browser, "#welcome", "/app")
    await browser.get(f"{server.url}/app?lang={language}")  # the switch: kept for the session
    await browser.run(click("#inbox-link"))
    await step(browser, "#inbox-list", "/app/inbox$", f"8-inbox-{shot}", language)
    first = await browser.run(
        lambda driver: driver.find_element(By.CSS_SELECTOR, "#inbox-list a").get_attribute("href")
    )
    assert first.endswith(case_path)
    await browser.run(click("#inbox-list a"))
    opened = await step(browser, "#move-received", case_path + "$", f"9-case-{shot}", language)
    assert PERSON_NAME in opened
    assert words("refer.do_not_contact") in opened
    # Each move answers with the case file again, showing the next moves (waiting for those,
    # not for any part of the page, which the page before the move has too).
    for status, then in (("received", "#move-accepted"), ("accepted", "#outcome-completed")):
        await browser.run(click(f"#move-{status} button"))
        await browser.run(wait_for(then))
    await browser.run(choose("outcome-completed", "service_provided"))
    await browser.run(click("#move-completed button"))
    done = await step(browser, ".status-completed", case_path, f"10-completed-{shot}", language)
    assert words("referral.status.completed") in done
    await sign_out(browser)

    # The volunteer sees "completed", and nothing of the girl.
    await sign_in_as(browser, server, people.volunteer.login, people.volunteer.password, language)
    await on_page(browser, "#welcome", "/app")
    await browser.get(f"{server.url}/app?lang={language}")  # the switch: kept for the session
    await browser.get(f"{server.url}/app/sent")
    await step(browser, "#sent-list", "/app/sent$", f"11-sent-list-{shot}", language)
    await browser.get(server.url + case_path)
    seen = await step(browser, "#status", case_path, f"12-seen-{shot}", language)
    assert await browser.run(text("#status")) == words("referral.status.completed")
    assert PERSON_NAME not in await browser.run(page_source)
    assert PERSON_NAME not in seen

    # The audit trail names both people.
    referral_id = case_path.rsplit("/", 1)[1]
    assert uuid.UUID(referral_id)
    actors = await session.execute(
        select(func.array_agg(func.distinct(AuditEvent.acting_user))).where(
            literal(referral_id) == any_(col(AuditEvent.resource_ids))
        )
    )
    named = set(actors.scalar_one() or [])
    assert f"user/{people.volunteer.user_id}" in named
    assert f"user/{caseworker.user_id}" in named

    # Nothing of the girl in the browser's disk cache.
    assert PERSON_NAME.encode() not in cached_bytes(browser.profile)
