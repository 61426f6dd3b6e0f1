"""The authorization endpoint's page (``/oauth/authorize``, issue 20 part 3, acceptance 2): a
person sent by an app signs in on Relay's own pages, reads which app asks to do what, and
answers; the app, Authlib's own ``AsyncOAuth2Client`` against the API served on loopback, then
exchanges the code and refreshes. And what the page refuses: an untrusted client or redirect
URI (shown, never followed), a forged answer (no CSRF token)."""

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.models.organization import Organization
from api.models.people import UserRole
from api.web.session import sign_in_url
from tests.factories.apps import answer_of, authorize_pairs, new_verifier
from tests.factories.auth import NATIVE_REDIRECT_URI, register_app
from tests.factories.organizations import create_organization
from tests.factories.people import Person, create_person
from tests.web.app_pages import ORIGIN, browser_client, hidden_fields, sign_in
from tests.web.pages import Page

AUTHORIZE = "https://relay.test/oauth/authorize"
APP_PORT_URI = "http://127.0.0.1:8765/callback"
SAME_SITE = {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}


@pytest.fixture
async def organization(session: AsyncSession) -> Organization:
    return await create_organization(session, name="Comité de Sabali")


@pytest.fixture
async def browser(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_client(app) as opened:
        yield opened


@pytest.fixture
async def volunteer(
    session: AsyncSession, settings: Settings, organization: Organization
) -> Person:
    return await create_person(session, settings, organization, UserRole.volunteer)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def answer(
    browser: httpx.AsyncClient, consent: httpx.Response, decision: str
) -> httpx.Response:
    """Post the consent form as the browser would, with the button ``decision``."""
    fields = hidden_fields(consent.text, "authorize")
    return await browser.post(
        "/oauth/authorize", data={**fields, "decision": decision}, headers=SAME_SITE
    )


class TestThePage:
    async def test_a_person_signs_in_reads_and_allows_then_the_app_gets_its_tokens(
        self,
        served: str,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        volunteer: Person,
    ) -> None:
        app = await register_app(session, settings, organization)
        verifier = new_verifier()
        async with AsyncOAuth2Client(
            client_id=app.client_id,
            token_endpoint_auth_method="none",
            code_challenge_method="S256",
            redirect_uri=APP_PORT_URI,
            scope="directory:read referrals:send referrals:receive",
        ) as oauth:
            url, state = oauth.create_authorization_url(AUTHORIZE, code_verifier=verifier)

            # Not signed in yet: the sign-in page, which comes back here.
            first = await browser.get(path_of(url))
            assert first.status_code == 303
            assert first.headers["location"] == sign_in_url(path_of(url))
            await sign_in(browser, volunteer, next_path=path_of(url))

            consent = await browser.get(path_of(url))
            assert consent.status_code == 200
            page = Page(consent.text)
            assert "Field app, an app of Comité de Sabali, asks to act for you" in page.text
            granted = Page(consent.text.split('id="granted"')[1].split("</ul>")[0]).text
            assert "look up services in the directory" in granted
            assert "send referrals" in granted
            refused = Page(consent.text.split('id="not-granted"')[1].split("</ul>")[0]).text
            assert "see and work the referrals sent to your organisation" in refused
            assert "127.0.0.1" in Page(consent.text.split('id="back-to"')[1]).text
            assert consent.headers["cache-control"] == "no-store"
            policy = consent.headers["content-security-policy"]
            assert "form-action 'self' http://127.0.0.1:8765;" in policy
            assert "frame-ancestors 'none'" in policy

            allowed = await answer(browser, consent, "allow")
            assert allowed.status_code == 303
            location = allowed.headers["location"]
            assert location.startswith(APP_PORT_URI + "?")
            assert answer_of(location)["state"] == state
            assert answer_of(location)["iss"] == settings.issuer

            token = await oauth.fetch_token(
                served + "/oauth/token", authorization_response=location, code_verifier=verifier
            )
            # A volunteer's role holds no referrals:receive, whatever the app asked.
            assert token["scope"] == "directory:read referrals:send"
            assert (await oauth.get(served + "/v1/referrals?box=sent")).status_code == 200
            renewed = await oauth.refresh_token(served + "/oauth/token")
            assert renewed["refresh_token"] != token["refresh_token"]
            with pytest.raises(OAuthError):  # the code, a second time
                await oauth.fetch_token(
                    served + "/oauth/token",
                    authorization_response=location,
                    code_verifier=verifier,
                )

    async def test_the_person_may_say_no(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        volunteer: Person,
    ) -> None:
        app = await register_app(session, settings, organization)
        path = "/oauth/authorize?" + "&".join(
            f"{name}={value}" for name, value in authorize_pairs(app.client_id, verifier="v" * 43)
        )
        await sign_in(browser, volunteer, next_path=path)
        consent = await browser.get(path)
        refused = await answer(browser, consent, "deny")
        assert refused.status_code == 303
        sent = answer_of(refused.headers["location"])
        assert (sent["error"], sent["state"]) == ("access_denied", "state-1")
        assert "code" not in sent

    async def test_in_the_persons_language(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        volunteer: Person,
    ) -> None:
        app = await register_app(session, settings, organization)
        path = "/oauth/authorize?" + "&".join(
            f"{name}={value}" for name, value in authorize_pairs(app.client_id, verifier="v" * 43)
        )
        await sign_in(browser, volunteer, next_path=path)
        consent = await browser.get(path + "&lang=fr")
        assert consent.headers["content-language"] == "fr"
        assert "Autoriser une application" in consent.text
        assert "chercher des services dans l'annuaire" in Page(consent.text).text
        # The language switch keeps the app's request: the form still carries it.
        assert hidden_fields(consent.text, "authorize")["client_id"] == app.client_id

    async def test_what_the_app_sent_is_escaped_in_the_page(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        volunteer: Person,
    ) -> None:
        app = await register_app(session, settings, organization)
        state = '"><script>alert(1)</script>'
        query = httpx.QueryParams(authorize_pairs(app.client_id, verifier="v" * 43, state=state))
        await sign_in(browser, volunteer)
        consent = await browser.get(f"/oauth/authorize?{query}")
        assert consent.status_code == 200
        assert "<script>" not in consent.text
        assert hidden_fields(consent.text, "authorize")["state"] == state
        allowed = await answer(browser, consent, "allow")
        assert answer_of(allowed.headers["location"])["state"] == state

    async def test_a_forged_answer_is_refused(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        volunteer: Person,
    ) -> None:
        app = await register_app(session, settings, organization)
        path = "/oauth/authorize?" + "&".join(
            f"{name}={value}" for name, value in authorize_pairs(app.client_id, verifier="v" * 43)
        )
        await sign_in(browser, volunteer, next_path=path)
        consent = await browser.get(path)
        fields = hidden_fields(consent.text, "authorize")
        fields.pop("csrf_token")
        forged = await browser.post(
            "/oauth/authorize", data={**fields, "decision": "allow"}, headers=SAME_SITE
        )
        assert forged.status_code == 403
        assert "location" not in forged.headers
        from_elsewhere = await browser.post(
            "/oauth/authorize",
            data={**hidden_fields(consent.text, "authorize"), "decision": "allow"},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        )
        assert from_elsewhere.status_code == 403


class TestWhatThePageRefuses:
    @pytest.mark.parametrize(
        ("change", "words"),
        [
            ({"client_id": "rly_client_unknown"}, "not known to Relay"),
            ({"redirect_uri": "https://evil.example/callback"}, "you are not sent there"),
            ({"redirect_uri": "http://localhost/callback"}, "you are not sent there"),
        ],
    )
    async def test_an_untrusted_client_or_redirect_uri_is_shown_never_followed(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        volunteer: Person,
        change: dict[str, str],
        words: str,
    ) -> None:
        app = await register_app(session, settings, organization)
        fields = dict(authorize_pairs(app.client_id, verifier=new_verifier())) | change
        query = httpx.QueryParams(fields)
        await sign_in(browser, volunteer)
        shown = await browser.get(f"/oauth/authorize?{query}")
        assert shown.status_code == 400
        assert "location" not in shown.headers
        assert words in Page(shown.text).text

    async def test_other_errors_go_back_to_the_app(
        self,
        browser: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        volunteer: Person,
    ) -> None:
        app = await register_app(session, settings, organization)
        query = httpx.QueryParams(
            authorize_pairs(app.client_id, code_challenge="v" * 43, code_challenge_method="plain")
        )
        await sign_in(browser, volunteer)
        sent_back = await browser.get(f"/oauth/authorize?{query}")
        assert sent_back.status_code == 303
        assert sent_back.headers["location"].startswith(NATIVE_REDIRECT_URI + "?")
        assert answer_of(sent_back.headers["location"])["error"] == "invalid_request"
