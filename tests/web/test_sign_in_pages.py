"""The sign-in pages over HTTP (no browser): signing in by login or phone, the second step with a
recovery code, invitations by link and typed, the password policy in the page's language,
enrolment, brute force slowed with the real person back within minutes (issue 20, acceptance 5),
every page in every language, light and self-contained, and no person's data in an address, a
page title or a log line."""

import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from structlog.testing import capture_logs

from api.auth import totp
from api.config import Environment, Settings
from api.models.organization import Organization
from api.models.people import UserRole
from api.services import audit, demo, people
from api.web.i18n import LANGUAGES
from api.web.session import SECURE_DEVICE_COOKIE_NAME
from tests.factories.organizations import create_organization
from tests.factories.people import Person, create_person, invite, strong_password, travel
from tests.web.app_pages import app_with, browser_client, sign_in, submit
from tests.web.pages import Page

HTML = "text/html; charset=utf-8"


@pytest.fixture
async def organization(session: AsyncSession) -> Organization:
    return await create_organization(session, name="Sabali committee (pages)")


@pytest.fixture
async def browser(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_client(app) as opened:
        yield opened


def problem(response: httpx.Response) -> str:
    """The text of the page's problem box."""
    page = Page(response.text)
    match = re.search(r'<div class="errors"[^>]*>(.*?)</div>', response.text, re.S)
    assert match, page.text[:500]
    return Page(match.group(1)).text.strip()


def title(response: httpx.Response) -> str:
    match = re.search(r"<title>(.*?)</title>", response.text, re.S)
    assert match
    return match.group(1)


class TestSignIn:
    async def test_nobody_signed_in_is_sent_to_the_sign_in_page(
        self, browser: httpx.AsyncClient
    ) -> None:
        answer = await browser.get("/app")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/app/sign-in?next=%2Fapp"
        page = await browser.get("/app/sign-in?next=%2Fapp")
        assert page.status_code == 200
        assert page.headers["content-type"] == HTML
        assert Page(page.text).all("input", type="hidden", name="next", value="/app")

    async def test_a_volunteer_signs_in_by_phone_and_the_pages_speak_their_language(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> None:
        invited = await people.invite(
            session,
            settings,
            audit.CLI,
            organization_id=organization.id,
            role=UserRole.volunteer,
            display_name="Aminata (pages)",
            phone="+221 77 000 12 34",
            preferred_language="fr",
        )
        password = strong_password()
        await people.redeem_invitation(session, settings, invited.code, password, None)
        page = await browser.get("/app/sign-in?lang=ne")
        assert page.headers["content-language"] == "ne"
        answer = await submit(
            browser, "/app/sign-in", {"login": "+221770001234", "password": password}
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/app"
        home = await browser.get("/app")
        assert home.headers["content-language"] == "fr"  # the person's language, once signed in
        assert "Bienvenue, Aminata (pages)." in Page(home.text).text
        assert 'href="/app/people"' not in home.text  # a volunteer manages nobody
        # The switch changes it for this session.
        assert (await browser.get("/app?lang=en")).headers["content-language"] == "en"
        assert (await browser.get("/app/account")).headers["content-language"] == "en"

    async def test_a_wrong_password_and_an_unknown_login_answer_alike(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        wrong = await submit(
            browser, "/app/sign-in", {"login": person.login, "password": "not the password"}
        )
        unknown = await submit(
            browser, "/app/sign-in", {"login": "nobody.here", "password": person.password}
        )
        assert wrong.status_code == unknown.status_code == 422
        assert problem(wrong) == problem(unknown)
        assert problem(wrong) == "The login, the password or both are not right. Try again."

    async def test_signed_in_the_sign_in_page_goes_where_it_was_asked(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        await sign_in(browser, person)
        answer = await browser.get("/app/sign-in?next=%2Fapp%2Faccount")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/app/account"

    async def test_a_recovery_code_instead_of_the_authenticator_once(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.caseworker)
        answer = await submit(
            browser, "/app/sign-in", {"login": person.login, "password": person.password}
        )
        assert answer.headers["location"] == "/app/sign-in/code"
        code_page = await browser.get("/app/sign-in/code")
        other = Page(code_page.text).all("a", id="other-code")[0]["href"]
        assert other == "/app/sign-in/recovery"
        used = await submit(browser, other, {"code": person.recovery_codes[0].lower()})
        assert used.status_code == 303
        assert used.headers["location"] == "/app"
        await submit(browser, "/app/sign-out", {})
        again = await submit(
            browser, "/app/sign-in", {"login": person.login, "password": person.password}
        )
        assert again.status_code == 303
        refused = await submit(browser, other, {"code": person.recovery_codes[0]})
        assert refused.status_code == 422
        assert "not right, or was already used" in problem(refused)

    async def test_the_steps_without_their_session_go_back_to_the_password(
        self, browser: httpx.AsyncClient
    ) -> None:
        for path in ("/app/sign-in/code", "/app/sign-in/recovery", "/app/sign-in/enrol"):
            answer = await browser.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"] == "/app/sign-in"


class TestBruteForce:
    """Issue 20, acceptance 5: guesses at one account are slowed; the person is back within
    minutes."""

    async def test_wrong_passwords_are_slowed_and_the_person_signs_in_after_the_wait(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.caseworker)
        for _ in range(settings.sign_in_free_failures):
            answer = await submit(
                browser, "/app/sign-in", {"login": person.login, "password": "a guess 123456"}
            )
            assert answer.status_code == 422
        slowed = await submit(
            browser, "/app/sign-in", {"login": person.login, "password": "another guess 42"}
        )
        assert slowed.status_code == 429
        wait = int(slowed.headers["retry-after"])
        assert wait == settings.sign_in_backoff_seconds
        said = problem(slowed)
        assert f"try again in {wait} seconds" in said
        assert "password" not in said.lower()  # never which of login and password was wrong
        # During the wait the right password is not even checked: the same answer.
        right = await submit(
            browser, "/app/sign-in", {"login": person.login, "password": person.password}
        )
        assert right.status_code == 429
        assert problem(right) == said.replace(str(wait), right.headers["retry-after"])
        # More guesses: the wait doubles, up to minutes, never hours.
        for _ in range(8):
            await travel(session, settings.sign_in_backoff_max_seconds)
            await submit(browser, "/app/sign-in", {"login": person.login, "password": "guess"})
        longest = await submit(
            browser, "/app/sign-in", {"login": person.login, "password": person.password}
        )
        assert longest.status_code == 429
        assert int(longest.headers["retry-after"]) <= settings.sign_in_backoff_max_seconds
        assert "try again in 5 minutes" in problem(longest)
        # The person, after the wait: in.
        await travel(session, settings.sign_in_backoff_max_seconds + 1)
        await sign_in(browser, person)

    async def test_guesses_from_elsewhere_never_hold_the_person_back_on_their_own_phone(
        self,
        browser: httpx.AsyncClient,
        app: FastAPI,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        await sign_in(browser, person)
        cookie = next(c for c in browser.cookies.jar if c.name == SECURE_DEVICE_COOKIE_NAME)
        assert cookie.secure
        assert cookie.path == "/app/sign-in"  # only the sign-in steps get it back
        assert cookie.has_nonstandard_attr("HttpOnly")
        assert cookie.expires is not None
        assert cookie.expires - time.time() > 300 * 24 * 3600  # kept for a long time
        await submit(browser, "/app/sign-out", {})  # signing out keeps it: it opens nothing
        assert browser.cookies.get(SECURE_DEVICE_COOKIE_NAME) == cookie.value
        async with browser_client(app) as attacker:
            for _ in range(settings.sign_in_free_failures + 3):
                guess = await submit(
                    attacker, "/app/sign-in", {"login": person.login, "password": "a guess 42"}
                )
            assert guess.status_code == 429
            waiting = await submit(
                attacker, "/app/sign-in", {"login": person.login, "password": person.password}
            )
            assert waiting.status_code == 429  # the attacker's count
        await sign_in(browser, person)  # the person's phone has its own

    async def test_wrong_codes_are_slowed_too(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.caseworker)
        await submit(browser, "/app/sign-in", {"login": person.login, "password": person.password})
        statuses = []
        for guess in range(settings.sign_in_free_failures + 1):
            answer = await submit(browser, "/app/sign-in/code", {"code": f"{guess:06d}"})
            statuses.append(answer.status_code)
        assert statuses[-1] == 429
        assert "retry-after" in answer.headers
        await travel(session, settings.sign_in_backoff_seconds + 1)
        done = await submit(browser, "/app/sign-in/code", {"code": person.next_code()})
        assert done.status_code == 303


class TestInvitation:
    async def test_the_link_leaves_the_address_and_a_volunteer_is_signed_in(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> None:
        invited = await invite(session, settings, organization, UserRole.volunteer)
        path = urlsplit(invited.link).path
        answer = await browser.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/app/invitation/password"
        page = await browser.get("/app/invitation/password")
        assert "This account is for Test person (Committee volunteer)." in Page(page.text).text
        password = strong_password() + " and more"
        done = await submit(
            browser, "/app/invitation/password", {"password": password, "confirm": password}
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/app"
        assert (await browser.get("/app")).status_code == 200
        # The code is used: its link no longer works.
        await submit(browser, "/app/sign-out", {})
        await browser.get(path)
        again = await browser.get("/app/invitation/password")
        assert again.status_code == 422
        assert "cannot be used" in problem(again)

    async def test_a_code_typed_as_read_aloud_then_the_policy_in_the_page_language(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> None:
        invited = await invite(session, settings, organization, UserRole.caseworker)
        await browser.get("/app/invitation?lang=fr")
        typed = invited.code.replace("-", " ").lower()
        answer = await submit(browser, "/app/invitation", {"code": typed})
        assert answer.headers["location"] == "/app/invitation/password"
        short = await submit(
            browser, "/app/invitation/password", {"password": "kettle", "confirm": "kettle"}
        )
        assert short.status_code == 422
        assert problem(short) == "Un mot de passe compte au moins 10 caractères."
        differ = await submit(
            browser,
            "/app/invitation/password",
            {"password": "kettle harbour 1", "confirm": "kettle harbour 2"},
        )
        assert problem(differ) == "Les deux mots de passe ne sont pas identiques."
        common = await submit(
            browser, "/app/invitation/password", {"password": "1234567890", "confirm": "1234567890"}
        )
        assert "parmi les plus courants" in problem(common)
        password = strong_password()
        chosen = await submit(
            browser, "/app/invitation/password", {"password": password, "confirm": password}
        )
        assert chosen.headers["location"] == "/app/sign-in/enrol"

    async def test_enrolment_shows_the_same_key_until_confirmed_and_refuses_a_wrong_code(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> None:
        invited = await invite(session, settings, organization, UserRole.org_admin)
        await browser.get(urlsplit(invited.link).path)
        password = strong_password()
        await submit(
            browser, "/app/invitation/password", {"password": password, "confirm": password}
        )
        first = await browser.get("/app/sign-in/enrol")
        second = await browser.get("/app/sign-in/enrol")
        key = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', first.text)
        assert key
        assert key.group(1) in second.text
        secret = key.group(1).replace(" ", "")
        link = Page(first.text).all("a", id="totp-link")[0]["href"]
        assert link.startswith("otpauth://totp/Relay:")
        assert f"secret={secret}" in link
        wrong = await submit(browser, "/app/sign-in/enrol", {"code": "000000"})
        if wrong.status_code != 200:  # 000000 is, once in a million, the right code
            assert wrong.status_code == 422
            assert key.group(1) in wrong.text
        confirmed = await submit(
            browser, "/app/sign-in/enrol", {"code": totp.code_at(secret, datetime.now(UTC))}
        )
        assert confirmed.status_code == 200
        codes = re.findall(r"<li><code>([0-9A-Z-]+)</code></li>", confirmed.text)
        assert len(codes) == 10
        assert confirmed.headers["cache-control"] == "no-store"
        assert (await browser.get("/app")).status_code == 200

    async def test_an_unknown_code_is_refused_and_counted(self, browser: httpx.AsyncClient) -> None:
        await browser.get("/app/invitation/AAAA-BBBB-CCCC")
        refused = await browser.get("/app/invitation/password")
        assert refused.status_code == 422
        assert "cannot be used" in problem(refused)
        # Forgotten: the page asks for a code again.
        assert (await browser.get("/app/invitation/password")).headers["location"] == (
            "/app/invitation"
        )


class TestEveryPage:
    async def pages(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> tuple[Person, list[str]]:
        admin = await create_person(session, settings, organization, UserRole.org_admin)
        other = await create_person(session, settings, organization, UserRole.volunteer)
        await sign_in(browser, admin)
        return admin, [
            "/app",
            "/app/account",
            "/app/account/password",
            "/app/account/recovery-codes",
            "/app/account/sign-out-everywhere",
            "/app/people",
            "/app/people/invite",
            f"/app/people/{other.user_id}",
            f"/app/people/{other.user_id}/reset",
            f"/app/people/{other.user_id}/deactivate",
            "/app/sign-out",
        ]

    @pytest.mark.parametrize("language", LANGUAGES)
    async def test_every_page_in_every_language(
        self,
        browser: httpx.AsyncClient,
        app: FastAPI,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        language: str,
    ) -> None:
        async with browser_client(app) as anonymous:
            for path in ("/app/sign-in", "/app/invitation"):
                answer = await anonymous.get(f"{path}?lang={language}")
                assert answer.status_code == 200
                assert answer.headers["content-language"] == language
        _, paths = await self.pages(browser, session, settings, organization)
        for path in paths:
            answer = await browser.get(f"{path}?lang={language}")
            assert answer.status_code == 200, (path, answer.text[:300])
            assert f'<html lang="{language}">' in answer.text

    async def test_headers_and_titles(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> None:
        admin, paths = await self.pages(browser, session, settings, organization)
        for path in paths:
            answer = await browser.get(path)
            assert answer.headers["cache-control"] == "no-store"
            assert answer.headers["referrer-policy"] == "no-referrer"
            assert answer.headers["x-content-type-options"] == "nosniff"
            policy = answer.headers["content-security-policy"]
            assert "default-src 'none'" in policy
            assert "script-src" not in policy  # no script at all
            assert "frame-ancestors 'none'" in policy
            assert "form-action 'self'" in policy
            heading = title(answer)
            assert heading.endswith(" · Relay")
            assert "Test person" not in heading
            assert admin.login not in heading
            assert "<script" not in answer.text

    async def test_the_sign_in_page_is_lighter_than_the_lookup_page_and_self_contained(
        self, browser: httpx.AsyncClient, client: httpx.AsyncClient
    ) -> None:
        async def weight(response: httpx.Response) -> int:
            page = Page(response.text)
            loaded = [a["href"] for a in page.all("link")] + [s["src"] for s in page.all("script")]
            total = len(response.content)
            for url in loaded:
                total += len((await client.get(url)).content)
            return total

        sign_in_page = await browser.get("/app/sign-in")
        assert await weight(sign_in_page) < await weight(await client.get("/lookup"))
        for attribute in re.findall(r'(?:href|src|action)="([^"]*)"', sign_in_page.text):
            absolute = urljoin("https://relay.test/app/sign-in", attribute)
            assert absolute.startswith("https://relay.test/"), attribute


class TestNoPersonalDataOut:
    async def test_not_in_addresses_titles_or_logs(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> None:
        admin = await create_person(session, settings, organization, UserRole.org_admin)
        with capture_logs() as logs:
            addresses: list[str] = []
            titles: list[str] = []

            async def record(response: httpx.Response) -> None:
                await response.aread()
                addresses.append(str(response.request.url))
                if "location" in response.headers:
                    addresses.append(response.headers["location"])
                if response.headers.get("content-type") == HTML:
                    titles.append(title(response))

            browser.event_hooks["response"] = [record]
            await sign_in(browser, admin)
            invited = await submit(
                browser,
                "/app/people/invite",
                {
                    "org": str(organization.id),
                    "display_name": "Mariama Secretname",
                    "login": "mariama.secretlogin",
                    "phone": "+221 77 555 44 33",
                    "role": "volunteer",
                    "language": "en",
                },
            )
            assert invited.status_code == 200
            code = re.search(r'id="invitation-code">([0-9A-Z-]+)<', invited.text)
            assert code
            await submit(browser, "/app/sign-out", {})
            link = f"/app/invitation/{code.group(1)}"
            await browser.get(link)
            password = "mariama's secret password here"
            await submit(
                browser, "/app/invitation/password", {"password": password, "confirm": password}
            )
            await submit(browser, "/app/sign-out", {})
            await submit(
                browser, "/app/sign-in", {"login": "+221775554433", "password": "wrong " + password}
            )
            await sign_in(
                browser,
                Person(
                    admin.user_id,
                    admin.organization_id,
                    admin.role,
                    "mariama.secretlogin",
                    password,
                ),
            )
        secrets_seen = [
            "Mariama",
            "Secretname",
            "secretlogin",
            "775554433",
            password,
            code.group(1),
            code.group(1).replace("-", ""),
            admin.login,
            admin.password,
        ]
        for address in addresses:
            if address.endswith(link):
                continue  # the printed link itself, which the server turns away from at once
            for secret in secrets_seen:
                assert secret not in address, (secret, address)
        for heading in titles:
            for secret in secrets_seen:
                assert secret not in heading
        written = json.dumps(logs, default=str)
        assert logs
        for secret in secrets_seen:
            assert secret not in written, secret
        routes = {entry.get("route") for entry in logs if entry.get("event") == "request"}
        assert "/app/invitation/{code}" in routes


class TestDemoPeople:
    async def test_each_demo_person_signs_in_on_the_pages_as_printed(
        self, connection: AsyncConnection, session: AsyncSession
    ) -> None:
        async with app_with(
            connection, environment=Environment.development, public_url="http://127.0.0.1:8000"
        ) as application:
            development: Settings = application.state.settings
            await demo.load(session)
            await demo.load_people(session, development)
            for printed in demo.people_credentials(development):
                async with browser_client(application) as opened:
                    login = str(printed["phone"] or printed["login"])
                    answer = await submit(
                        opened,
                        "/app/sign-in",
                        {"login": login, "password": str(printed["password"])},
                    )
                    assert answer.status_code == 303, printed["role"]
                    secret = printed["totp_secret"]
                    if secret is not None:
                        assert answer.headers["location"] == "/app/sign-in/code"
                        code = totp.code_at(str(secret), datetime.now(UTC))
                        answer = await submit(opened, "/app/sign-in/code", {"code": code})
                    assert answer.headers["location"] == "/app", printed["role"]
                    home = await opened.get("/app")
                    assert home.status_code == 200
                    assert "(demo " in Page(home.text).text  # "Welcome, Fatou (demo admin)."
