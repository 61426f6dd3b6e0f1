"""The lookup page in a real headless Chromium (Debian's chromium and chromedriver, driven by
Selenium; scripts/test-tools.sh installs them): a committee volunteer's flow on a 360 x 640 phone,
with JavaScript and without, a result page that opens on its answers and updates them in place,
the pages in every language, the pathway printed on A4, the pathway offline, and an area kept on
the phone and searched there when the server is gone or hangs.

One Chromium with JavaScript and one without serve every test of this module (each test has a
server of its own, so a new origin: nothing one test leaves in the browser reaches another).
Screenshots are saved under test-artifacts/ (RELAY_TEST_ARTIFACTS to change it).
"""

import io
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pypdf import PdfReader
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.models.directory import Phone
from api.web.i18n import LANGUAGES
from tests.factories.directory import DemoNetwork, add_national_lines, load_demo
from tests.web.browser import Browser, LiveServer, live, missing
from tests.web.pages import (
    HOTLINE,
    KOUNDA,
    KOUNDA_MOTHERS,
    KOUNDA_POST_RAPE_CARE,
    REGION,
    SABALI,
    demo_id,
)

WAIT_SECONDS = 20
Step = Callable[[WebDriver], Any]


@pytest.fixture
async def network(session: AsyncSession) -> DemoNetwork:
    return await load_demo(session)


@pytest.fixture
async def server(
    app: FastAPI, client: httpx.AsyncClient, network: DemoNetwork
) -> AsyncIterator[LiveServer]:
    """The test app (bound, through ``client``, to this test's transaction) on a real port."""
    async with live(app) as running:
        yield running


def _browser(javascript: bool) -> Browser:
    reason = missing()
    if reason:
        pytest.fail(reason)
    return Browser(javascript=javascript)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = _browser(javascript=True)
    yield chromium
    chromium.quit()


@pytest.fixture(scope="module")
def no_js_browser() -> Iterator[Browser]:
    chromium = _browser(javascript=False)
    yield chromium
    chromium.quit()


def wait_for(css: str) -> Step:
    def present(driver: WebDriver) -> bool:
        return bool(driver.find_elements(By.CSS_SELECTOR, css))

    def wait(driver: WebDriver) -> None:
        WebDriverWait(driver, WAIT_SECONDS).until(present, f"no {css} on {driver.current_url}")

    return wait


def choose(list_id: str, value: str) -> Step:
    return lambda driver: Select(driver.find_element(By.ID, list_id)).select_by_value(value)


def click(css: str) -> Step:
    return lambda driver: driver.find_element(By.CSS_SELECTOR, css).click()


def attribute(css: str, name: str) -> Step:
    return lambda driver: driver.find_element(By.CSS_SELECTOR, css).get_attribute(name)


def text(css: str) -> Step:
    return lambda driver: driver.find_element(By.CSS_SELECTOR, css).text


def displayed(css: str) -> Step:
    return lambda driver: driver.find_element(By.CSS_SELECTOR, css).is_displayed()


def listed(need: str) -> Step:
    """The services listed for a need, in order."""
    css = f'[data-need="{need}"] .card'
    return lambda driver: [
        card.get_attribute("data-service") for card in driver.find_elements(By.CSS_SELECTOR, css)
    ]


async def nearest_medical_care(browser: Browser) -> list[str]:
    """The services listed for medical care, and checks on the first one."""
    cards = await browser.script(
        """return Array.from(document.querySelectorAll('[data-need="medical-care"] .card'))
             .map(card => [card.dataset.service, card.querySelector('.organization').textContent,
                           card.querySelector('a.call').getAttribute('href'),
                           card.querySelector('a.call').getBoundingClientRect().height])"""
    )
    assert cards, "no medical care listed"
    _, organization, phone, height = cards[0]
    assert organization == "Kounda health centre (demo)"
    assert phone in {"tel:+221300000015", "tel:+221300000016"}  # the centre's two services
    assert height >= 44, "the phone link is a large tap target"
    return [card[0] for card in cards]


async def first_call_on_first_screen(browser: Browser, need: str) -> None:
    """The first service of ``need`` can be called without scrolling: its call button lies
    wholly within the first screen."""
    top, bottom, screen = await browser.script(
        """const call = document.querySelector(arguments[0]).getBoundingClientRect();
           return [call.top, call.bottom, window.innerHeight];""",
        f'[data-need="{need}"] .card a.call',
    )
    assert screen == 640
    assert top >= 0, f"the first call button starts {top} px above the screen"
    assert bottom <= screen, f"the first call button ends {bottom} px down a {screen} px screen"


async def fits_the_phone(browser: Browser) -> None:
    viewport = await browser.script("return window.innerWidth")
    assert viewport == 360, f"the phone's screen is {viewport} px wide, not 360"
    width = await browser.script("return document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width} px wide on a 360 px screen"


class TestVolunteerFlow:
    async def test_pick_an_area_and_medical_care_then_switch_language(
        self, browser: Browser, server: LiveServer
    ) -> None:
        await browser.get(f"{server.url}/lookup")
        assert await browser.script("return document.documentElement.className") == "js"
        await fits_the_phone(browser)
        # Choosing from a list searches at once (JavaScript submits the form).
        await browser.run(choose("area-1", REGION))
        await browser.run(wait_for("#area-2"))
        await browser.run(choose("area-2", KOUNDA))
        await browser.run(wait_for(f'#area-2 option[selected][value="{KOUNDA}"]'))
        # Ticking a need puts its results in place, and the address bar says so.
        await browser.run(click('input[name="need"][value="medical-care"]'))
        await browser.run(wait_for('[data-need="medical-care"] .card'))
        address = await browser.run(lambda driver: driver.current_url)
        assert f"area={KOUNDA}" in address
        assert "need=medical-care" in address
        services = await nearest_medical_care(browser)
        assert set(services[:2]) == {KOUNDA_POST_RAPE_CARE, KOUNDA_MOTHERS}
        await fits_the_phone(browser)
        shot = await browser.screenshot("lookup-medical-care-en.png")
        assert shot.stat().st_size > 10_000
        # Instant filtering hides the cards that do not match.
        await browser.run(lambda driver: driver.find_element(By.ID, "filter").send_keys("Sabali"))
        shown = await browser.script(
            "return Array.from(document.querySelectorAll('.card')).filter(c => !c.hidden).length"
        )
        assert 0 < shown < len(services)

        await browser.run(click('a[hreflang="fr"]'))
        await browser.run(wait_for('html[lang="fr"]'))
        legend = await browser.script("return document.querySelector('.place legend').textContent")
        assert legend == "1. Où se trouve la personne\u00a0?"
        heading = await browser.script(
            "return document.querySelector('[data-need=\"medical-care\"] h3').textContent"
        )
        assert heading == "Soins médicaux"
        assert await nearest_medical_care(browser) == services
        await browser.screenshot("lookup-medical-care-fr.png")

        await browser.run(click('a[hreflang="ne"]'))
        await browser.run(wait_for('html[lang="ne"]'))
        legend = await browser.script("return document.querySelector('.needs legend').textContent")
        assert legend == "२. कस्तो सहयोग चाहिन्छ?"
        assert "१.५ कि.मी. टाढा" in await browser.run(text('[data-need="medical-care"] .distance'))
        await browser.screenshot("lookup-medical-care-ne.png")

        await browser.run(click('a[hreflang="mg"]'))
        await browser.run(wait_for('html[lang="mg"]'))
        assert await browser.run(text('[data-need="medical-care"] h3')) == "Fitsaboana"
        assert await nearest_medical_care(browser) == services
        await fits_the_phone(browser)
        await browser.screenshot("lookup-medical-care-mg.png")

        await browser.run(click('a[hreflang="km"]'))
        await browser.run(wait_for('html[lang="km"]'))
        heading = await browser.run(text('[data-need="medical-care"] h3'))
        assert heading == "ការថែទាំវេជ្ជសាស្ត្រ"
        assert "១,៥ គ.ម." in await browser.run(text('[data-need="medical-care"] .distance'))
        assert await nearest_medical_care(browser) == services
        await fits_the_phone(browser)
        # Khmer letters are drawn by a Khmer font, not as boxes of one width (tofu).
        widths = await browser.script(
            """return ['ក', 'ញ', 'ឃ្លាំ'].map(letters => {
                 const span = document.createElement('span');
                 span.textContent = letters;
                 document.querySelector('h1').appendChild(span);
                 const width = span.getBoundingClientRect().width;
                 span.remove();
                 return width;
               });"""
        )
        assert len(set(widths)) == 3, f"Khmer letters all {widths} px wide: no Khmer font"
        await browser.screenshot("lookup-medical-care-km.png")

    async def test_the_same_flow_without_javascript(
        self, no_js_browser: Browser, server: LiveServer
    ) -> None:
        browser = no_js_browser
        await browser.get(f"{server.url}/lookup")
        # The script never ran: the page still says no-js, and the location button is hidden.
        assert await browser.run(attribute("html", "class")) == "no-js"
        assert not await browser.run(displayed("#locate"))
        await browser.run(choose("area-1", REGION))
        await browser.run(click("button.primary"))
        await browser.run(wait_for("#area-2"))
        await browser.run(choose("area-2", KOUNDA))
        await browser.run(click('input[name="need"][value="medical-care"]'))
        await browser.run(click("button.primary"))
        await browser.run(wait_for('[data-need="medical-care"] .card'))
        url = await browser.run(lambda driver: driver.current_url)
        assert f"area={KOUNDA}" in url
        assert "need=medical-care" in url
        # The result page opens on its answers, the form folded above them.
        assert not await browser.run(displayed("#lookup"))
        await first_call_on_first_screen(browser, "medical-care")
        services = await browser.run(listed("medical-care"))
        assert set(services[:2]) == {KOUNDA_POST_RAPE_CARE, KOUNDA_MOTHERS}
        phone = await browser.run(attribute(".card a.call", "href"))
        assert phone in {"tel:+221300000015", "tel:+221300000016"}
        # Keeping the area on the phone needs the script: without it, no button.
        assert not await browser.run(displayed("#keep-area"))
        await browser.run(click('a[hreflang="fr"]'))
        await browser.run(wait_for('html[lang="fr"]'))
        assert await browser.run(text('[data-need="medical-care"] h3')) == "Soins médicaux"
        assert await browser.run(listed("medical-care")) == services
        await browser.screenshot("lookup-medical-care-no-js.png")


class TestAnswersFirst:
    async def test_a_result_page_opens_on_its_answers_and_a_need_updates_them_in_place(
        self, browser: Browser, server: LiveServer
    ) -> None:
        place = f"area={REGION}&area={KOUNDA}"
        for language in reversed(LANGUAGES):  # English last: the rest of the test is in English
            await browser.get(f"{server.url}/lookup?lang={language}&{place}&need=medical-care")
            await fits_the_phone(browser)
            assert not await browser.run(displayed("#lookup")), "the form is folded"
            await first_call_on_first_screen(browser, "medical-care")
            await browser.screenshot(f"lookup-first-screen-{language}.png", whole_page=False)

        # Unfold the form and tick a need: one request, no navigation.
        await browser.run(click("details.search > summary"))
        assert await browser.run(displayed("#lookup"))
        before = await browser.script(
            """window.relayNoReload = true;
               return [performance.now(), performance.getEntriesByType('resource').length];"""
        )
        await browser.run(click('input[name="need"][value="helpline"]'))
        await browser.run(wait_for('[data-need="helpline"] .card'))
        await browser.run(wait_for("#updated a"))
        after = await browser.script(
            """return {
                 kept: window.relayNoReload === true,
                 navigations: performance.getEntriesByType('navigation').length,
                 requests: performance.getEntriesByType('resource')
                   .filter(entry => entry.startTime >= arguments[0])
                   .map(entry => [entry.initiatorType, new URL(entry.name).pathname]),
                 address: location.pathname + location.search,
                 busy: document.getElementById('results').getAttribute('aria-busy'),
                 status: document.getElementById('updated').getAttribute('role'),
                 announced: document.getElementById('updated').textContent,
               };""",
            before[0],
        )
        assert after["kept"], "the page was loaded again"
        assert after["navigations"] == 1
        assert after["requests"] == [["fetch", "/lookup/results"]]
        assert after["address"].startswith("/lookup?lang=en&area=")
        assert "need=medical-care&need=helpline" in after["address"]
        assert after["busy"] is None
        assert after["status"] == "status"
        assert after["announced"] == "Results updated: see them"
        assert await browser.run(listed("medical-care"))  # still there, with the new need
        phones = await browser.script(
            """return Array.from(document.querySelectorAll('[data-need="helpline"] a.contact'))
                 .map(link => link.getAttribute('href').split('?')[0]);"""
        )
        assert phones[0].startswith("tel:+2213")
        assert "https://wa.me/221300009002" in phones
        # The language links now keep the new search too.
        french = await browser.run(attribute('a[hreflang="fr"]', "href"))
        assert "lang=fr" in french
        assert "need=helpline" in french
        await browser.screenshot("lookup-need-added-in-place.png")


class TestPathway:
    @pytest.mark.parametrize("language", LANGUAGES)
    async def test_prints_on_one_a4_page(
        self, browser: Browser, server: LiveServer, language: str
    ) -> None:
        await browser.get(f"{server.url}/lookup/pathway?area={KOUNDA}&lang={language}")
        await fits_the_phone(browser)
        pdf = PdfReader(io.BytesIO(await browser.print_a4()))
        assert len(pdf.pages) == 1
        width, height = (float(value) for value in pdf.pages[0].mediabox[2:])
        assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (210, 297)
        text = pdf.pages[0].extract_text()
        assert "Kounda" in text
        assert "+221300000015" in text

    async def test_the_last_pathway_shows_offline(
        self, browser: Browser, server: LiveServer
    ) -> None:
        pathway = f"{server.url}/lookup/pathway?area={KOUNDA}&lang=fr"
        await browser.get(pathway)
        # The service worker installs, then keeps this pathway; wait until it is saved.
        await browser.run(
            lambda driver: WebDriverWait(driver, WAIT_SECONDS).until(
                lambda d: d.execute_async_script(
                    """const done = arguments[arguments.length - 1];
                    caches.open('relay-lookup-pathway')
                      .then(cache => cache.match('/lookup/pathway/last'))
                      .then(found => done(Boolean(found)), () => done(false));"""
                ),
                "the pathway was not saved for offline use",
            )
        )
        await server.stop()
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient() as outside:
                await outside.get(pathway)

        await browser.get(pathway)
        assert await browser.script("return document.documentElement.dataset.offline") == "1"
        assert await browser.run(displayed(".offline-banner"))
        title = await browser.script("return document.querySelector('h1').textContent.trim()")
        assert title == "Circuit d'orientation\u00a0: Kounda (demo)"
        rows = await browser.script("return document.querySelectorAll('tr[data-need]').length")
        assert rows == 15
        await browser.screenshot("pathway-offline.png")
        # Any other lookup page, offline, falls back to the saved pathway.
        await browser.get(f"{server.url}/lookup?area={REGION}")
        title = await browser.script("return document.querySelector('h1').textContent.trim()")
        assert title == "Circuit d'orientation\u00a0: Kounda (demo)"


SCHOOL = demo_id("service", "education")  # in Sabali only: the one service of its needs
# Sabali's health centre: two services at one place (the first by id comes first).
SABALI_HEALTH = {demo_id("service", "health-sabali-prc"), demo_id("service", "health-sabali-mch")}
SAVED_DIRECTORY = "/lookup/area/saved/directory"


async def keep_this_area(browser: Browser) -> str:
    """Press "Keep this area on this phone" and wait until the page says it is saved."""
    assert await browser.run(displayed("#keep-area"))
    await browser.run(click("#keep-area"))
    await browser.run(wait_for('#saved-area[data-state="saved"]'))
    status: str = await browser.script("return document.getElementById('saved-status').textContent")
    return status


async def phone_of(session: AsyncSession, service: str) -> str:
    numbers = await session.execute(
        select(col(Phone.number)).where(col(Phone.service_id) == uuid.UUID(service))
    )
    return str(numbers.scalars().first())


async def first_card(browser: Browser, need: str) -> dict[str, Any]:
    card: dict[str, Any] = await browser.script(
        """const card = document.querySelector(`[data-need="${arguments[0]}"] .card`);
           const call = card.querySelector('a.call');
           return {service: card.dataset.service, name: card.querySelector('.name').textContent,
                   call: call.getAttribute('href'), label: call.textContent,
                   height: call.getBoundingClientRect().height};""",
        need,
    )
    return card


class TestSavedArea:
    async def test_kept_then_searched_offline_in_a_neighbouring_district(
        self, browser: Browser, server: LiveServer, session: AsyncSession
    ) -> None:
        await browser.get(f"{server.url}/lookup/pathway?area={KOUNDA}&lang=en")
        status = await keep_this_area(browser)
        assert status.startswith("Saved area: Kounda (demo), 20"), status
        assert await browser.run(displayed("#forget-area"))

        # Online, a copy more than a day old is made again when a page opens.
        await browser.run(
            lambda driver: driver.execute_async_script(
                """const done = arguments[arguments.length - 1];
                caches.open('relay-lookup-area').then(cache => cache.match(arguments[0])
                  .then(found => found.json())
                  .then(saved => cache.put(arguments[0], new Response(JSON.stringify(
                    Object.assign(saved, {made: '2020-01-02T03:04:05Z'})))))
                ).then(() => done(true));""",
                SAVED_DIRECTORY,
            )
        )
        await browser.get(f"{server.url}/lookup?lang=en")
        await browser.run(
            lambda driver: WebDriverWait(driver, WAIT_SECONDS).until(
                lambda d: (
                    "2020-01-02" not in d.find_element(By.ID, "saved-status").text
                    and d.find_element(By.ID, "saved-status").text.startswith("Saved area: Kounda")
                ),
                "the old copy was not made again",
            )
        )

        await server.stop()
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient() as outside:
                await outside.get(f"{server.url}/lookup")

        # Offline: the lookup page of the saved area, searched on the phone.
        await browser.get(f"{server.url}/lookup?lang=en&area={REGION}&area={KOUNDA}")
        assert await browser.script("return document.documentElement.dataset.offline") == "1"
        assert await browser.run(displayed(".offline-banner"))
        assert (await browser.run(text("#saved-status"))).startswith("Saved area: Kounda")
        assert not await browser.run(displayed("#keep-area"))
        # A school is in the neighbouring Sabali alone: found, with its number to call.
        await browser.run(click('input[name="need"][value="education-literacy"]'))
        await browser.run(wait_for('[data-need="education-literacy"] .card'))
        school = await first_card(browser, "education-literacy")
        number = await phone_of(session, SCHOOL)
        assert school["service"] == SCHOOL
        assert school["call"] == f"tel:{number}"
        assert number in school["label"]
        assert school["height"] >= 44
        assert "km away" in await browser.run(text('[data-need="education-literacy"] .distance'))
        await fits_the_phone(browser)
        address = await browser.run(lambda driver: driver.current_url)
        assert "need=education-literacy" in address
        # Choosing the neighbouring district itself: its own health centre comes first.
        await browser.run(choose("area-2", SABALI))
        await browser.run(click('input[name="need"][value="medical-care"]'))
        await browser.run(wait_for('[data-need="medical-care"] .card'))
        care = await first_card(browser, "medical-care")
        assert care["service"] in SABALI_HEALTH
        assert care["call"] == f"tel:{await phone_of(session, care['service'])}"
        origin = await browser.run(text("#results .origin"))
        assert origin == "Distances are measured from a point inside Sabali (demo)."
        await browser.screenshot("lookup-saved-area-offline.png")
        # The saved area's pathway too.
        await browser.get(f"{server.url}/lookup/pathway?area={KOUNDA}&lang=en")
        title = await browser.script("return document.querySelector('h1').textContent.trim()")
        assert title == "Referral pathway: Kounda (demo)"

    async def test_offline_a_need_nothing_near_meets_offers_the_national_line(
        self, browser: Browser, server: LiveServer, session: AsyncSession
    ) -> None:
        """Issue 22: the saved area carries its country's national lines; offline, a need
        that no saved service within reach meets shows them, with a number to call."""
        await add_national_lines(
            session, ("ZZ", "police", "Police secours (demo)", "17", "emergency-police")
        )
        await browser.get(f"{server.url}/lookup/pathway?area={KOUNDA}&lang=en")
        await keep_this_area(browser)
        await server.stop()

        await browser.get(f"{server.url}/lookup?lang=en&area={REGION}&area={KOUNDA}")
        assert await browser.script("return document.documentElement.dataset.offline") == "1"
        # A point 300 km north of the saved districts: no police post within reach; the
        # country is that of the saved area nearest to it.
        await browser.script(
            "document.getElementById('lat').value = '16.90';"
            "document.getElementById('lon').value = '-15.90';"
        )
        await browser.run(click('input[name="need"][value="emergency-police"]'))
        await browser.run(wait_for('[data-need="emergency-police"] .national-line'))
        line: dict[str, str] = await browser.script(
            """const group = document.querySelector('[data-need="emergency-police"]');
               const call = group.querySelector('.national-line a.call');
               return {none: group.querySelector('.none').textContent,
                       hint: group.querySelector('.national-hint').textContent,
                       line: group.querySelector('.national-line').textContent,
                       call: call.getAttribute('href'),
                       cards: group.querySelectorAll('.card').length};"""
        )
        assert line["cards"] == 0
        assert line["hint"] == "Call a national line:"
        assert line["line"] == "Police emergency: Police secours (demo) 17"
        assert line["call"] == "tel:17"
        await fits_the_phone(browser)
        await browser.run(click("#forget-area"))
        await browser.run(wait_for('#saved-area[data-state="forgotten"]'))

    async def test_a_server_that_hangs_gives_the_saved_copy_within_5_seconds(
        self, browser: Browser, server: LiveServer
    ) -> None:
        await browser.get(f"{server.url}/lookup?lang=fr&area={REGION}&area={KOUNDA}")
        status = await keep_this_area(browser)
        assert status.startswith("Zone enregistrée\u00a0: Kounda (demo), 20"), status

        server.hang()
        try:
            # On the page already open, a need ticked: the saved area answers in its place.
            started = time.monotonic()
            await browser.run(click('input[name="need"][value="helpline"]'))
            await browser.run(wait_for('[data-need="helpline"] .card'))
            elapsed = time.monotonic() - started
            assert elapsed < 5, f"the saved area answered after {elapsed:.1f} s"
            assert await browser.run(displayed(".offline-banner"))
            helpline = await first_card(browser, "helpline")
            assert helpline["service"] == HOTLINE
            assert await browser.run(text('[data-need="helpline"] .covering'))
            print(f"a need ticked answered after {elapsed:.2f} s with the server hanging")  # noqa: T201

            # A page asked for: the service worker shows the saved copy.
            started = time.monotonic()
            await browser.get(f"{server.url}/lookup?lang=fr&area={KOUNDA}&need=medical-care")
            await browser.run(wait_for('[data-need="medical-care"] .card'))
            elapsed = time.monotonic() - started
            assert elapsed < 5, f"the saved copy took {elapsed:.1f} s"
            assert server.hanging.waiting >= 1, "the server was never asked"
            assert await browser.script("return document.documentElement.dataset.offline") == "1"
            care = await first_card(browser, "medical-care")
            assert care["service"] in {KOUNDA_POST_RAPE_CARE, KOUNDA_MOTHERS}
            assert care["call"].startswith("tel:+2213")
            assert await browser.run(text('[data-need="medical-care"] h3')) == "Soins médicaux"
            await browser.screenshot("lookup-saved-area-server-hangs.png")
            print(f"saved copy shown after {elapsed:.2f} s with the server hanging")  # noqa: T201
        finally:
            server.answer()

        # Forgotten, the area is no longer on the phone.
        await browser.run(click("#forget-area"))
        await browser.run(wait_for('#saved-area[data-state="forgotten"]'))
        kept = await browser.run(
            lambda driver: driver.execute_async_script(
                """const done = arguments[arguments.length - 1];
                caches.has('relay-lookup-area').then(done);"""
            )
        )
        assert kept is False
