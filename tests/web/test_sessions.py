"""Web sessions over the real HTTP stack (issue 20, acceptance 3): the cookie's flags in
development and elsewhere, a new session at each step of a sign-in (the one before no longer
works, and a value chosen by an attacker never becomes a signed-in session), idle and absolute
ends, CSRF refusals of forged form posts, sign-out and "sign out everywhere", a deactivated
person's session ended at once; where a sign-in may send the browser after (never another site).
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from http.cookies import SimpleCookie

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from api.config import Environment, Settings
from api.models.organization import Organization
from api.models.people import UserRole
from api.repositories.base import act_as_worker
from api.services import audit, maintenance, people
from api.services.people import sessions
from api.web.session import (
    COOKIE_NAME,
    CSRF_FIELD,
    SECURE_COOKIE_NAME,
    PersonPrincipal,
    SignedInPerson,
    csrf_token,
    person_or_none,
    safe_next,
)
from tests.factories.organizations import create_organization
from tests.factories.people import Person, create_person
from tests.web.app_pages import (
    ORIGIN,
    app_with,
    browser_client,
    session_cookie,
    sign_in,
    submit,
    token_of,
)

HTML = "text/html; charset=utf-8"


@pytest.fixture
async def organization(session: AsyncSession) -> Organization:
    return await create_organization(session, name="Sabali health centre (sessions)")


@pytest.fixture
async def caseworker(
    session: AsyncSession, settings: Settings, organization: Organization
) -> Person:
    return await create_person(session, settings, organization, UserRole.caseworker)


@pytest.fixture
async def volunteer(
    session: AsyncSession, settings: Settings, organization: Organization
) -> Person:
    """Without an authenticator: signed in twice within one 30-second step."""
    return await create_person(session, settings, organization, UserRole.volunteer)


@pytest.fixture
async def browser(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_client(app) as opened:
        yield opened


@pytest.fixture
async def other_browser(
    app: FastAPI, client: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_client(app) as opened:
        yield opened


def set_cookie(response: httpx.Response) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookie.load(header)
    return cookie


async def signed_in(client: httpx.AsyncClient) -> bool:
    """Whether the browser's session is signed in (the home page answers, or redirects)."""
    answer = await client.get("/app")
    assert answer.status_code in {200, 303}
    return answer.status_code == 200


async def rows(session: AsyncSession, user_id: uuid.UUID) -> int:
    found = await session.execute(
        text("SELECT count(*) FROM web_session WHERE user_id = :user"), {"user": user_id}
    )
    return int(found.scalar_one())


class TestCookie:
    async def test_outside_development_secure_host_only_http_only_lax(
        self, browser: httpx.AsyncClient
    ) -> None:
        answer = await browser.get("/app/sign-in")
        cookie = set_cookie(answer)[SECURE_COOKIE_NAME]
        assert cookie["secure"] is True
        assert cookie["httponly"] is True
        assert cookie["samesite"].lower() == "lax"
        assert cookie["path"] == "/"
        assert not cookie["domain"]
        assert not cookie["max-age"]
        assert not cookie["expires"]  # it goes with the browser; the server ends it sooner
        assert len(cookie.value) == 43  # 256 bits, base64url

    @pytest.mark.parametrize("environment", [Environment.test, Environment.production])
    async def test_production_and_test_name_it_host_only(
        self, connection: AsyncConnection, environment: Environment
    ) -> None:
        strong = {"password_hash_memory_kib": 19 * 1024, "password_hash_time_cost": 2}
        async with (
            app_with(connection, environment=environment, **strong) as application,
            browser_client(application) as opened,
        ):
            answer = await opened.get("/app/sign-in")
        header = answer.headers["set-cookie"]
        assert header.startswith(f"{SECURE_COOKIE_NAME}=")
        assert "; Secure" in header
        assert "; HttpOnly" in header
        assert "Domain" not in header

    async def test_development_plain_http_on_this_machine(
        self, connection: AsyncConnection
    ) -> None:
        async with (
            app_with(
                connection, environment=Environment.development, public_url="http://127.0.0.1:8000"
            ) as application,
            browser_client(application) as opened,
        ):
            answer = await opened.get("http://127.0.0.1:8000/app/sign-in")
        cookie = set_cookie(answer)[COOKIE_NAME]
        assert cookie["secure"] == ""
        assert cookie["httponly"] is True
        assert cookie["samesite"].lower() == "lax"
        assert cookie["path"] == "/"
        assert SECURE_COOKIE_NAME not in answer.headers["set-cookie"]

    async def test_pages_with_a_session_are_never_stored(
        self, browser: httpx.AsyncClient, caseworker: Person
    ) -> None:
        await sign_in(browser, caseworker)
        for path in ("/app", "/app/account", "/app/sign-in?next=/app"):
            answer = await browser.get(path)
            assert answer.headers["cache-control"] == "no-store"
            assert answer.headers["referrer-policy"] == "no-referrer"


class TestNewSessions:
    async def test_an_address_makes_new_sessions_within_the_anonymous_budget(
        self, connection: AsyncConnection
    ) -> None:
        async with (
            app_with(connection, anonymous_requests_per_minute=2) as application,
            browser_client(application) as kept,
        ):
            # A browser that has its session is not counted again.
            assert [(await kept.get("/app/sign-in")).status_code for _ in range(4)] == [200] * 4
            answers = []
            for _ in range(2):
                async with browser_client(application) as fresh:
                    answers.append(await fresh.get("/app/sign-in"))
        assert [answer.status_code for answer in answers] == [200, 429]
        refused = answers[-1]
        assert int(refused.headers["retry-after"]) >= 1
        assert "set-cookie" not in refused.headers
        assert "Too many attempts" in refused.text
        assert refused.headers["content-type"] == HTML


class TestRotation:
    async def test_each_step_of_a_sign_in_is_a_new_session_and_the_one_before_ends(
        self, browser: httpx.AsyncClient, caseworker: Person, app: FastAPI
    ) -> None:
        page = await browser.get("/app/sign-in")
        anonymous = session_cookie(browser)
        assert anonymous
        password_step = await browser.post(
            "/app/sign-in",
            data={
                "login": caseworker.login,
                "password": caseworker.password,
                CSRF_FIELD: token_of(page.text),
            },
            headers={"Origin": ORIGIN},
        )
        assert password_step.status_code == 303
        pending = session_cookie(browser)
        assert pending
        assert pending != anonymous
        code_step = await submit(browser, "/app/sign-in/code", {"code": caseworker.next_code()})
        assert code_step.status_code == 303
        signed = session_cookie(browser)
        assert signed
        assert signed not in {anonymous, pending}
        assert await signed_in(browser)
        # The earlier values name nothing any more (the pending one is not signed in either).
        for old in (anonymous, pending):
            async with browser_client(app) as thief:
                thief.cookies.set(SECURE_COOKIE_NAME, old, domain="relay.test")
                answer = await thief.get("/app")
                assert answer.status_code == 303
                assert answer.headers["location"] == "/app/sign-in?next=%2Fapp"
                # ... and the dead cookie is removed.
                assert set_cookie(answer)[SECURE_COOKIE_NAME]["max-age"] == "0"

    async def test_a_cookie_value_chosen_by_an_attacker_never_becomes_a_signed_in_session(
        self, browser: httpx.AsyncClient, caseworker: Person, app: FastAPI
    ) -> None:
        # An attacker gets a real anonymous session of their own and plants its value (or one
        # they made up) in the victim's browser (a shared phone, a sibling domain's cookie).
        async with browser_client(app) as attacker:
            await attacker.get("/app/sign-in")
            planted = session_cookie(attacker)
            assert planted
            browser.cookies.set(SECURE_COOKIE_NAME, planted, domain="relay.test")
            await sign_in(browser, caseworker)
            assert session_cookie(browser) != planted
            assert not await signed_in(attacker)
        async with browser_client(app) as other:
            other.cookies.set(SECURE_COOKIE_NAME, "A" * 43, domain="relay.test")
            page = await other.get("/app/sign-in")
            assert set_cookie(page)[SECURE_COOKIE_NAME].value != "A" * 43

    async def test_a_changed_password_is_a_new_session_and_ends_the_others(
        self,
        browser: httpx.AsyncClient,
        other_browser: httpx.AsyncClient,
        volunteer: Person,
    ) -> None:
        await sign_in(browser, volunteer)
        await sign_in(other_browser, volunteer)
        before = session_cookie(browser)
        changed = await submit(
            browser,
            "/app/account/password",
            {
                "current": volunteer.password,
                "password": "a brand new kettle 42",
                "confirm": "a brand new kettle 42",
            },
        )
        assert changed.status_code == 303
        assert changed.headers["location"] == "/app/account?done=password"
        assert session_cookie(browser) != before
        assert await signed_in(browser)
        assert not await signed_in(other_browser)


class TestEnds:
    async def test_idle_for_the_idle_timeout_ends_the_session(
        self,
        browser: httpx.AsyncClient,
        caseworker: Person,
        session: AsyncSession,
        settings: Settings,
    ) -> None:
        await sign_in(browser, caseworker)
        idle = timedelta(minutes=settings.session_idle_minutes)
        await session.execute(
            text("UPDATE web_session SET last_seen_at = last_seen_at - CAST(:almost AS interval)"),
            {"almost": idle - timedelta(seconds=5)},
        )
        assert await signed_in(browser)  # used again in time: it goes on (and is touched)
        await session.execute(
            text("UPDATE web_session SET last_seen_at = last_seen_at - CAST(:idle AS interval)"),
            {"idle": idle},
        )
        assert not await signed_in(browser)
        assert await rows(session, caseworker.user_id) == 0

    async def test_the_idle_timeout_is_a_setting(
        self,
        connection: AsyncConnection,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
    ) -> None:
        async with app_with(connection, session_idle_minutes=0.5) as application:
            person = await create_person(
                session, application.state.settings, organization, UserRole.volunteer
            )
            async with browser_client(application) as opened:
                await sign_in(opened, person)
                await session.execute(
                    text("UPDATE web_session SET last_seen_at = now() - interval '31 seconds'")
                )
                assert not await signed_in(opened)

    async def test_the_absolute_end_is_the_setting_after_sign_in(
        self,
        browser: httpx.AsyncClient,
        caseworker: Person,
        session: AsyncSession,
        settings: Settings,
    ) -> None:
        await sign_in(browser, caseworker)
        found = await session.execute(
            text(
                "SELECT expires_at - created_at FROM web_session WHERE user_id = :user "
                "AND state = 'signed_in'"
            ),
            {"user": caseworker.user_id},
        )
        assert found.scalar_one() == timedelta(hours=settings.session_absolute_hours)

    async def test_the_absolute_end_comes_however_busy_the_session(
        self, connection: AsyncConnection, session: AsyncSession, organization: Organization
    ) -> None:
        async with app_with(connection, session_absolute_hours=1.5 / 3600) as application:
            person = await create_person(
                session, application.state.settings, organization, UserRole.volunteer
            )
            async with browser_client(application) as opened:
                await sign_in(opened, person)
                assert await signed_in(opened)  # used all the time...
                await asyncio.sleep(0.5)
                assert await signed_in(opened)
                await asyncio.sleep(1.1)
                assert not await signed_in(opened)  # ... and ended all the same

    async def test_the_second_step_lasts_minutes_only(
        self,
        browser: httpx.AsyncClient,
        caseworker: Person,
        session: AsyncSession,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        assert timedelta(minutes=1) <= sessions.PENDING <= timedelta(minutes=10)
        monkeypatch.setattr(sessions, "PENDING", timedelta(seconds=0.5))
        answer = await submit(
            browser, "/app/sign-in", {"login": caseworker.login, "password": caseworker.password}
        )
        assert answer.headers["location"] == "/app/sign-in/code"
        assert (await browser.get("/app/sign-in/code")).status_code == 200
        await asyncio.sleep(0.6)
        page = await browser.get("/app/sign-in/code")
        assert page.status_code == 303
        assert page.headers["location"] == "/app/sign-in"

    async def test_sign_out_ends_this_session_only_and_is_audited(
        self,
        browser: httpx.AsyncClient,
        other_browser: httpx.AsyncClient,
        volunteer: Person,
        session: AsyncSession,
    ) -> None:
        await sign_in(browser, volunteer)
        await sign_in(other_browser, volunteer)
        value = session_cookie(browser)
        answer = await submit(browser, "/app/sign-out", {})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/app/sign-in?signed_out=1"
        assert set_cookie(answer)[SECURE_COOKIE_NAME]["max-age"] == "0"
        assert not await signed_in(browser)
        assert await signed_in(other_browser)
        assert await rows(session, volunteer.user_id) == 1
        await act_as_worker(session)
        events = await session.execute(
            text(
                "SELECT acting_user, client_id FROM audit_event WHERE action = 'user.sign_out' "
                "AND resource_ids @> ARRAY[:user]::text[]"
            ),
            {"user": str(volunteer.user_id)},
        )
        assert events.all() == [(f"user/{volunteer.user_id}", "relay-web")]
        # The value signed out cannot be used again.
        browser.cookies.set(SECURE_COOKIE_NAME, value or "", domain="relay.test")
        assert not await signed_in(browser)

    async def test_sign_out_everywhere_ends_every_session_of_the_person(
        self,
        browser: httpx.AsyncClient,
        other_browser: httpx.AsyncClient,
        volunteer: Person,
        session: AsyncSession,
    ) -> None:
        await sign_in(browser, volunteer)
        await sign_in(other_browser, volunteer)
        answer = await submit(browser, "/app/account/sign-out-everywhere", {})
        assert answer.status_code == 303
        assert not await signed_in(browser)
        assert not await signed_in(other_browser)
        assert await rows(session, volunteer.user_id) == 0
        await sign_in(browser, volunteer)  # and signing in again works

    async def test_deactivating_a_person_ends_their_session_at_once(
        self,
        browser: httpx.AsyncClient,
        caseworker: Person,
        session: AsyncSession,
        settings: Settings,
    ) -> None:
        await sign_in(browser, caseworker)
        await people.deactivate(session, settings, audit.CLI, caseworker.user_id)
        answer = await browser.get("/app/account")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/app/sign-in?next=%2Fapp%2Faccount"
        assert await rows(session, caseworker.user_id) == 0

    @pytest.mark.parametrize("change", ["reset", "role"])
    async def test_a_reset_or_a_new_role_ends_the_session_too(
        self,
        browser: httpx.AsyncClient,
        caseworker: Person,
        session: AsyncSession,
        settings: Settings,
        change: str,
    ) -> None:
        await sign_in(browser, caseworker)
        if change == "reset":
            await people.reset(session, settings, audit.CLI, caseworker.user_id)
        else:
            await people.change_role(
                session, settings, audit.CLI, caseworker.user_id, UserRole.volunteer
            )
        assert not await signed_in(browser)

    async def test_the_worker_deletes_ended_sessions(
        self,
        browser: httpx.AsyncClient,
        caseworker: Person,
        session: AsyncSession,
        settings: Settings,
    ) -> None:
        await sign_in(browser, caseworker)
        await browser.get("/app/sign-in")  # another browser state: anonymous
        await session.execute(
            text("UPDATE web_session SET last_seen_at = now() - interval '1 day'")
        )
        removed = await maintenance.forget_expired_credentials(session, settings)
        assert removed >= 1
        left = await session.execute(text("SELECT count(*) FROM web_session"))
        assert left.scalar_one() == 0


class TestCsrf:
    async def test_a_form_post_without_the_token_is_refused_with_a_page(
        self, browser: httpx.AsyncClient, caseworker: Person
    ) -> None:
        await browser.get("/app/sign-in")
        answer = await browser.post(
            "/app/sign-in",
            data={"login": caseworker.login, "password": caseworker.password},
            headers={"Origin": ORIGIN},
        )
        assert answer.status_code == 403
        assert answer.headers["content-type"] == HTML
        assert "<title>Not accepted · Relay</title>" in answer.text
        assert answer.headers["cache-control"] == "no-store"
        assert session_cookie(browser)  # nothing happened: still the anonymous session

    @pytest.mark.parametrize("token", ["wrong", "other-session", "unmasked", "empty"])
    async def test_a_wrong_token_is_refused(
        self, browser: httpx.AsyncClient, caseworker: Person, app: FastAPI, token: str
    ) -> None:
        page = await browser.get("/app/sign-in")
        async with browser_client(app) as other:
            other_token = token_of((await other.get("/app/sign-in")).text)
        real = token_of(page.text)
        sent = {
            "wrong": real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB"),
            "other-session": other_token,
            "unmasked": "A" * 43,
            "empty": "",
        }[token]
        answer = await browser.post(
            "/app/sign-in",
            data={"login": caseworker.login, "password": caseworker.password, CSRF_FIELD: sent},
            headers={"Origin": ORIGIN},
        )
        assert answer.status_code == 403

    @pytest.mark.parametrize(
        "headers",
        [
            {"Origin": "https://evil.example"},
            {"Origin": "https://relay.test.evil.example"},
            {"Origin": "http://relay.test"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
            {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        ],
        ids=lambda headers: ",".join(f"{k}={v}" for k, v in headers.items()),
    )
    async def test_a_post_from_another_site_is_refused_even_with_the_token(
        self, browser: httpx.AsyncClient, caseworker: Person, headers: dict[str, str]
    ) -> None:
        page = await browser.get("/app/sign-in")
        answer = await browser.post(
            "/app/sign-in",
            data={
                "login": caseworker.login,
                "password": caseworker.password,
                CSRF_FIELD: token_of(page.text),
            },
            headers=headers,
        )
        assert answer.status_code == 403

    @pytest.mark.parametrize(
        "headers",
        [
            {},  # a browser that sends neither: the token decides
            {"Origin": "null", "Sec-Fetch-Site": "same-origin"},  # Relay's pages: no-referrer
            {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"},
        ],
        ids=["no-headers", "origin-null", "same-origin"],
    )
    async def test_the_pages_own_posts_pass(
        self, browser: httpx.AsyncClient, caseworker: Person, headers: dict[str, str]
    ) -> None:
        page = await browser.get("/app/sign-in")
        answer = await browser.post(
            "/app/sign-in",
            data={
                "login": caseworker.login,
                "password": caseworker.password,
                CSRF_FIELD: token_of(page.text),
            },
            headers=headers,
        )
        assert answer.status_code == 303

    async def test_the_token_differs_in_every_page_and_each_works(
        self, browser: httpx.AsyncClient, caseworker: Person
    ) -> None:
        first = token_of((await browser.get("/app/sign-in")).text)
        second = token_of((await browser.get("/app/sign-in")).text)
        assert first != second
        answer = await browser.post(
            "/app/sign-in",
            data={"login": caseworker.login, "password": caseworker.password, CSRF_FIELD: first},
        )
        assert answer.status_code == 303

    def test_masking_pads_the_secret_with_new_random_bytes(self) -> None:
        secret = bytes(range(32))
        visitor = sessions.Visitor(
            token_hash="0" * 64,
            state=sessions.WebSessionState.anonymous,
            user_id=None,
            generation=None,
            csrf_secret=secret,
            language="en",
            last_seen_at=None,  # type: ignore[arg-type]
            expires_at=None,  # type: ignore[arg-type]
        )
        tokens = {csrf_token(visitor) for _ in range(50)}
        assert len(tokens) == 50
        # No token holds the secret's bytes where they were: every byte of it is padded.
        assert all(secret.hex() not in token for token in tokens)

    async def test_a_forged_post_to_a_signed_in_form_changes_nothing(
        self,
        browser: httpx.AsyncClient,
        other_browser: httpx.AsyncClient,
        volunteer: Person,
    ) -> None:
        await sign_in(browser, volunteer)
        await sign_in(other_browser, volunteer)
        forged = await browser.post(
            "/app/account/sign-out-everywhere",
            data={CSRF_FIELD: "forged"},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        )
        assert forged.status_code == 403
        assert "Not accepted" in forged.text
        assert await signed_in(browser)
        assert await signed_in(other_browser)

    async def test_a_post_without_a_session_is_refused(self, browser: httpx.AsyncClient) -> None:
        answer = await browser.post("/app/sign-in", data={"login": "x", "password": "y"})
        assert answer.status_code == 403


class TestWhereToGoAfter:
    @pytest.mark.parametrize(
        "value",
        [
            "//evil.example",
            "///evil.example",
            "https://evil.example/app",
            "http:evil.example",
            "javascript:alert(1)",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            " /app",
            "app",
            "/app\r\nSet-Cookie: x=y",
            "/ap\u0440",  # not ASCII
            "",
        ],
    )
    def test_anything_but_a_local_path_is_refused(self, value: str) -> None:
        assert safe_next(value) is None

    @pytest.mark.parametrize(
        "value", ["/app", "/app/people?org=1", "/oauth/authorize?client_id=a&scope=b%20c"]
    )
    def test_a_local_path_is_kept(self, value: str) -> None:
        assert safe_next(value) == value

    @pytest.mark.parametrize(
        "value", ["//evil.example", "https://evil.example", "/\\evil.example", "/%09/x"]
    )
    async def test_a_sign_in_never_sends_the_browser_to_another_site(
        self, browser: httpx.AsyncClient, caseworker: Person, value: str
    ) -> None:
        page = await browser.get("/app/sign-in", params={"next": value})
        answer = await browser.post(
            "/app/sign-in",
            data={
                "login": caseworker.login,
                "password": caseworker.password,
                "next": value,
                CSRF_FIELD: token_of(page.text),
            },
        )
        location = answer.headers["location"]
        assert location.startswith("/app/sign-in/code")
        code = await submit(browser, location, {"code": caseworker.next_code(), "next": value})
        expected = "/%09/x" if value == "/%09/x" else "/app"  # a path of this site, encoded
        assert code.headers["location"] == expected

    async def test_a_page_that_needs_a_person_comes_back_after_the_sign_in(
        self, browser: httpx.AsyncClient, caseworker: Person
    ) -> None:
        answer = await browser.get("/app/account?lang=fr")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/app/sign-in?next=%2Fapp%2Faccount%3Flang%3Dfr"
        await sign_in(browser, caseworker, next_path="/app/account?lang=fr")


class TestForOtherPages:
    """What other pages and endpoints build on (the OAuth authorization endpoint): who is signed
    in, or a redirect to the sign-in page."""

    async def test_person_or_none_and_the_dependencies(
        self, connection: AsyncConnection, session: AsyncSession, organization: Organization
    ) -> None:
        async with app_with(connection) as application:
            router = APIRouter()

            @router.get("/probe/person-or-none")
            async def probe(request: Request) -> dict[str, str | None]:
                person = await person_or_none(request)  # a transaction of its own
                return {"user": str(person.user_id) if person else None}

            @router.get("/probe/signed-in")
            async def signed(person: SignedInPerson, principal: PersonPrincipal) -> dict[str, str]:
                assert principal.user_id == person.user_id
                assert principal.client_id == "relay-web"
                return {"user": str(person.user_id), "scopes": " ".join(sorted(principal.scopes))}

            application.include_router(router)
            person = await create_person(
                session, application.state.settings, organization, UserRole.volunteer
            )
            async with browser_client(application) as opened:
                assert (await opened.get("/probe/person-or-none")).json() == {"user": None}
                redirected = await opened.get("/probe/signed-in?x=1")
                assert redirected.status_code == 303
                assert redirected.headers["location"] == (
                    "/app/sign-in?next=%2Fprobe%2Fsigned-in%3Fx%3D1"
                )
                await sign_in(opened, person)
                assert (await opened.get("/probe/person-or-none")).json() == {
                    "user": str(person.user_id)
                }
                answer = (await opened.get("/probe/signed-in")).json()
                assert answer == {
                    "user": str(person.user_id),
                    "scopes": "directory:read referrals:send",
                }
