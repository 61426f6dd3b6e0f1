"""Apps acting for a person (issue 20, acceptance 2): the authorization code grant with PKCE and
rotated refresh tokens, with Authlib's own client against the API served by uvicorn on
loopback.

The person's "yes" is given through the authorize step's service (``api/services/
authorization.py``, what the consent page calls with the signed-in person); everything an app
does — the authorization URL, the code's exchange, the refreshes, the calls with the tokens —
is Authlib's ``AsyncOAuth2Client`` over a real TCP connection, nothing built by hand.
"""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.authorize import ErrorPage, ErrorReason, Redirect
from api.auth.scopes import Scope
from api.config import Settings
from api.models.people import UserRole
from api.repositories.base import act_as_worker
from api.services import audit, authorization, people
from tests.factories.apps import (
    AppForPerson,
    answer_of,
    app_and_person,
    approve,
    authorize_pairs,
    bearer,
    exchange,
    new_verifier,
    query_of,
)
from tests.factories.auth import (
    NATIVE_REDIRECT_URI,
    WEB_REDIRECT_URI,
    create_client,
    register_app,
)
from tests.factories.organizations import create_organization
from tests.factories.people import create_person

AUTHORIZE = "https://relay.test/oauth/authorize"
NATIVE_PORT_URI = "http://127.0.0.1:53682/callback"


@pytest.fixture
async def field(session: AsyncSession, settings: Settings) -> AppForPerson:
    """A health centre's public field app and one of its caseworkers."""
    organization = await create_organization(session, name="Centre de santé")
    return await app_and_person(session, settings, organization)


@pytest.fixture
async def oauth(served: str, field: AppForPerson) -> AsyncIterator[AsyncOAuth2Client]:
    """The app: Authlib's client, public (no secret), PKCE with S256, a loopback redirect URI
    with the port it listens on this time."""
    async with AsyncOAuth2Client(
        client_id=field.app.client_id,
        token_endpoint_auth_method="none",
        code_challenge_method="S256",
        redirect_uri=NATIVE_PORT_URI,
        scope="directory:read referrals:send referrals:receive",
    ) as client:
        yield client


async def signed_code(
    oauth: AsyncOAuth2Client,
    session: AsyncSession,
    settings: Settings,
    field: AppForPerson,
    verifier: str,
) -> str:
    """Authlib makes the authorization URL; the person says yes; the redirect's location."""
    url, state = oauth.create_authorization_url(AUTHORIZE, code_verifier=verifier)
    location = await approve(session, settings, query_of(url), field.signed_in)
    assert answer_of(location)["state"] == state
    return location


async def status(served: str, token: str, path: str = "/v1/referrals?box=sent") -> int:
    async with httpx.AsyncClient(base_url=served) as plain:
        return (await plain.get(path, headers=bearer(token))).status_code


async def sent_box(client: httpx.AsyncClient, token: dict[str, str]) -> int:
    """What the harness's client is answered for a person's referrals sent, with ``token``."""
    return (await client.get("/v1/referrals?box=sent", headers=bearer(token))).status_code


class TestWithAuthlibsClient:
    async def test_the_whole_flow_code_then_refreshes(
        self,
        served: str,
        oauth: AsyncOAuth2Client,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
    ) -> None:
        verifier = new_verifier()
        location = await signed_code(oauth, session, settings, field, verifier)
        assert location.startswith(NATIVE_PORT_URI + "?")  # the port the app listens on
        assert answer_of(location)["iss"] == settings.issuer  # RFC 9207

        token = await oauth.fetch_token(
            served + "/oauth/token", authorization_response=location, code_verifier=verifier
        )
        assert token["token_type"] == "Bearer"
        assert token["scope"] == "directory:read referrals:send referrals:receive"
        assert token["access_token"].startswith("rly_at_")
        assert token["refresh_token"].startswith("rly_rt_")
        assert 0 < token["expires_in"] <= settings.access_token_lifetime_seconds
        response = await oauth.get(served + "/v1/referrals?box=received")
        assert response.status_code == 200

        first_access, first_refresh = token["access_token"], token["refresh_token"]
        renewed = await oauth.refresh_token(served + "/oauth/token")
        assert renewed["refresh_token"] not in (first_refresh, None)
        assert renewed["access_token"] != first_access
        assert await status(served, renewed["access_token"]) == 200
        # Rotation uses the refresh token up; the access token it gave lives on until expiry.
        assert await status(served, first_access) == 200
        again = await oauth.refresh_token(served + "/oauth/token")
        assert await status(served, again["access_token"]) == 200

    async def test_a_missing_code_verifier_is_refused(
        self,
        served: str,
        oauth: AsyncOAuth2Client,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
    ) -> None:
        location = await signed_code(oauth, session, settings, field, new_verifier())
        with pytest.raises(OAuthError) as refused:
            await oauth.fetch_token(served + "/oauth/token", authorization_response=location)
        assert refused.value.error == "invalid_request"

    async def test_a_wrong_code_verifier_is_refused(
        self,
        served: str,
        oauth: AsyncOAuth2Client,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
    ) -> None:
        location = await signed_code(oauth, session, settings, field, new_verifier())
        with pytest.raises(OAuthError) as refused:
            await oauth.fetch_token(
                served + "/oauth/token",
                authorization_response=location,
                code_verifier=new_verifier(),
            )
        assert refused.value.error == "invalid_grant"

    async def test_a_reused_code_is_refused_and_revokes_what_it_gave(
        self,
        served: str,
        oauth: AsyncOAuth2Client,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
    ) -> None:
        verifier = new_verifier()
        location = await signed_code(oauth, session, settings, field, verifier)
        token = await oauth.fetch_token(
            served + "/oauth/token", authorization_response=location, code_verifier=verifier
        )
        assert await status(served, token["access_token"]) == 200
        with pytest.raises(OAuthError) as refused:
            await oauth.fetch_token(
                served + "/oauth/token", authorization_response=location, code_verifier=verifier
            )
        assert refused.value.error == "invalid_grant"
        # RFC 6749 §4.1.2: the tokens issued from the code are revoked.
        assert await status(served, token["access_token"]) == 401
        with pytest.raises(OAuthError):
            await oauth.refresh_token(served + "/oauth/token", refresh_token=token["refresh_token"])

    async def test_a_changed_redirect_uri_is_refused(
        self,
        served: str,
        oauth: AsyncOAuth2Client,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
    ) -> None:
        verifier = new_verifier()
        location = await signed_code(oauth, session, settings, field, verifier)
        for changed in ("http://127.0.0.1:53683/callback", NATIVE_REDIRECT_URI):
            with pytest.raises(OAuthError) as refused:
                await oauth.fetch_token(
                    served + "/oauth/token",
                    authorization_response=location,
                    code_verifier=verifier,
                    redirect_uri=changed,
                )
            assert refused.value.error == "invalid_grant"
        # The code was not used by the refusals: with the right URI it still works.
        token = await oauth.fetch_token(
            served + "/oauth/token", authorization_response=location, code_verifier=verifier
        )
        assert token["access_token"]

    async def test_a_replayed_refresh_token_revokes_the_family(
        self,
        served: str,
        oauth: AsyncOAuth2Client,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
    ) -> None:
        verifier = new_verifier()
        location = await signed_code(oauth, session, settings, field, verifier)
        first = await oauth.fetch_token(
            served + "/oauth/token", authorization_response=location, code_verifier=verifier
        )
        second = await oauth.refresh_token(served + "/oauth/token")
        third = await oauth.refresh_token(served + "/oauth/token")
        for token in (first, second, third):
            assert await status(served, token["access_token"]) == 200

        # An attacker (or a confused app) presents the first refresh token again.
        with pytest.raises(OAuthError) as refused:
            await oauth.refresh_token(served + "/oauth/token", refresh_token=first["refresh_token"])
        assert refused.value.error == "invalid_grant"

        # Every token of the family stops working, the newest included.
        for token in (first, second, third):
            assert await status(served, token["access_token"]) == 401
        with pytest.raises(OAuthError) as newest:
            await oauth.refresh_token(served + "/oauth/token", refresh_token=third["refresh_token"])
        assert newest.value.error == "invalid_grant"

        await act_as_worker(session)  # the audit trail's row-level security: every event
        replays = await session.execute(
            text(
                "SELECT acting_user, client_id, outcome FROM audit_event "
                "WHERE action = 'token.replay' AND acting_user = :person"
            ),
            {"person": f"user/{field.person.user_id}"},
        )
        assert [tuple(row) for row in replays] == [
            (f"user/{field.person.user_id}", field.app.client_id, "failure")
        ]

    async def test_a_confidential_app_authenticates_at_every_exchange(
        self, served: str, session: AsyncSession, settings: Settings
    ) -> None:
        organization = await create_organization(session, name="Case system vendor")
        web = await app_and_person(session, settings, organization, public=False)
        assert web.app.client_secret
        async with AsyncOAuth2Client(
            client_id=web.app.client_id,
            client_secret=web.app.client_secret,
            token_endpoint_auth_method="client_secret_basic",
            code_challenge_method="S256",
            redirect_uri=WEB_REDIRECT_URI,
        ) as app:
            verifier = new_verifier()
            url, _ = app.create_authorization_url(AUTHORIZE, code_verifier=verifier)
            location = await approve(session, settings, query_of(url), web.signed_in)
            token = await app.fetch_token(
                served + "/oauth/token", authorization_response=location, code_verifier=verifier
            )
            assert await status(served, token["access_token"]) == 200
        # Without its secret, the refresh token is of no use.
        async with AsyncOAuth2Client(
            client_id=web.app.client_id, token_endpoint_auth_method="none"
        ) as thief:
            with pytest.raises(OAuthError) as refused:
                await thief.refresh_token(
                    served + "/oauth/token", refresh_token=token["refresh_token"]
                )
        assert refused.value.error == "invalid_client"


class TestTokenEndpoint:
    """The same rules, the token requests written out (for what Authlib's client never
    sends)."""

    async def post(self, client: httpx.AsyncClient, **form: str) -> httpx.Response:
        return await client.post("/oauth/token", data=form)

    async def test_a_public_client_cannot_use_client_credentials(
        self, client: httpx.AsyncClient, field: AppForPerson
    ) -> None:
        response = await self.post(
            client, grant_type="client_credentials", client_id=field.app.client_id
        )
        assert response.status_code == 400
        assert response.json()["error"] == "unauthorized_client"

    async def test_a_client_acting_for_itself_cannot_exchange_codes(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        organization = await create_organization(session)
        machine = await create_client(session, settings, organization, scopes=[Scope.admin])
        response = await client.post(
            "/oauth/token",
            data={"grant_type": "authorization_code", "code": "rly_ac_x", "code_verifier": "v"},
            auth=(machine.client_id, machine.client_secret or ""),
        )
        assert response.json()["error"] == "unauthorized_client"

    async def test_a_code_is_its_clients_only(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
    ) -> None:
        other = await register_app(session, settings, field.organization)
        verifier = new_verifier()
        pairs = authorize_pairs(field.app.client_id, verifier=verifier)
        code = answer_of(await approve(session, settings, pairs, field.signed_in))["code"]
        response = await self.post(
            client,
            grant_type="authorization_code",
            code=code,
            redirect_uri=NATIVE_REDIRECT_URI,
            client_id=other.client_id,
            code_verifier=verifier,
        )
        assert response.json()["error"] == "invalid_grant"

    async def test_a_code_lives_sixty_seconds(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        pairs = authorize_pairs(field.app.client_id, verifier=new_verifier())
        await approve(session, settings, pairs, field.signed_in)
        lifetime = await session.scalar(
            text(
                "SELECT expires_at - issued_at FROM oauth_authorization_code WHERE user_id = :user"
            ),
            {"user": field.person.user_id},
        )
        assert lifetime == timedelta(seconds=60)
        # A code past its time (issued as if a minute had passed already) is refused.
        monkeypatch.setattr(authorization, "AUTHORIZATION_CODE_LIFETIME", timedelta(seconds=-1))
        verifier = new_verifier()
        pairs = authorize_pairs(field.app.client_id, verifier=verifier)
        code = answer_of(await approve(session, settings, pairs, field.signed_in))["code"]
        response = await self.post(
            client,
            grant_type="authorization_code",
            code=code,
            redirect_uri=NATIVE_REDIRECT_URI,
            client_id=field.app.client_id,
            code_verifier=verifier,
        )
        assert response.json()["error"] == "invalid_grant"

    async def test_codes_and_tokens_are_stored_as_keyed_hashes(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
    ) -> None:
        token = await exchange(client, session, settings, field.app, field.signed_in)
        rows = await session.execute(
            text(
                "SELECT c.code_hash, r.token_hash FROM oauth_authorization_code c "
                "JOIN oauth_refresh_token r ON r.family_id = c.family_id WHERE c.user_id = :user"
            ),
            {"user": field.person.user_id},
        )
        code_hash, refresh_hash = rows.one()
        assert len(code_hash) == len(refresh_hash) == 64
        assert token["refresh_token"] not in (code_hash, refresh_hash)

    async def test_a_refresh_token_is_its_clients_only(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
    ) -> None:
        token = await exchange(client, session, settings, field.app, field.signed_in)
        other = await register_app(session, settings, field.organization)
        response = await self.post(
            client,
            grant_type="refresh_token",
            refresh_token=token["refresh_token"],
            client_id=other.client_id,
        )
        assert response.json()["error"] == "invalid_grant"
        # Presented by another client, it has leaked: its family ends.
        assert await sent_box(client, token) == 401

    async def test_a_refresh_gets_at_most_what_was_granted(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
    ) -> None:
        token = await exchange(
            client, session, settings, field.app, field.signed_in, scope="directory:read"
        )
        nothing_granted = await self.post(
            client,
            grant_type="refresh_token",
            refresh_token=token["refresh_token"],
            client_id=field.app.client_id,
            scope="referrals:send",
        )
        assert nothing_granted.json()["error"] == "invalid_scope"
        # Refused before it was used: it still works. Asked more, it gives what was granted.
        wider = await self.post(
            client,
            grant_type="refresh_token",
            refresh_token=token["refresh_token"],
            client_id=field.app.client_id,
            scope="directory:read referrals:send",
        )
        assert wider.status_code == 200
        assert wider.json()["scope"] == "directory:read"
        renewed = wider.json()["refresh_token"]
        unknown = await self.post(
            client,
            grant_type="refresh_token",
            refresh_token=renewed,
            client_id=field.app.client_id,
            scope="directory:read everything",
        )
        assert unknown.json()["error"] == "invalid_scope"

    async def test_a_family_ends_at_its_absolute_lifetime(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        await exchange(client, session, settings, field.app, field.signed_in)
        ends = await session.scalar(
            text("SELECT expires_at - created_at FROM oauth_token_family WHERE user_id = :user"),
            {"user": field.person.user_id},
        )
        assert ends == timedelta(days=settings.refresh_family_lifetime_days)
        # A family of two seconds: its access token ends with it, then it cannot refresh.
        monkeypatch.setattr(settings, "refresh_family_lifetime_days", 2 / 86_400)
        token = await exchange(client, session, settings, field.app, field.signed_in)
        assert 0 < int(token["expires_in"]) <= 2
        await asyncio.sleep(2.1)
        ended = await self.post(
            client,
            grant_type="refresh_token",
            refresh_token=token["refresh_token"],
            client_id=field.app.client_id,
        )
        assert ended.json()["error"] == "invalid_grant"
        assert await sent_box(client, token) == 401


class TestThePersonsAccount:
    """``current_user`` on every use: a token of a person whose account changed stops at once."""

    @pytest.mark.parametrize("change", ["deactivate", "reset", "change_role", "sign_out"])
    async def test_ends_every_token(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
        change: str,
    ) -> None:
        token = await exchange(client, session, settings, field.app, field.signed_in)
        assert await sent_box(client, token) == 200
        user_id = field.person.user_id
        if change == "deactivate":
            await people.deactivate(session, settings, audit.CLI, user_id)
        elif change == "reset":
            await people.reset(session, settings, audit.CLI, user_id)
        elif change == "change_role":
            await people.change_role(session, settings, audit.CLI, user_id, UserRole.volunteer)
        else:
            await people.sign_out_everywhere(session, field.person.principal())
        response = await client.get("/v1/referrals?box=sent", headers=bearer(token))
        assert response.status_code == 401
        refreshed = await client.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": token["refresh_token"],
                "client_id": field.app.client_id,
            },
        )
        assert refreshed.json()["error"] == "invalid_grant"

    async def test_a_suspended_organisation_ends_its_peoples_tokens(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
    ) -> None:
        token = await exchange(client, session, settings, field.app, field.signed_in)
        await session.execute(
            text("UPDATE organization SET status = 'suspended' WHERE id = :id"),
            {"id": field.organization.id},
        )
        assert await sent_box(client, token) == 401

    async def test_introspection_names_the_person(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        organization = await create_organization(session)
        web = await app_and_person(session, settings, organization, public=False)
        token = await exchange(client, session, settings, web.app, web.signed_in)
        answer = await client.post(
            "/oauth/introspect",
            data={"token": token["access_token"]},
            auth=(web.app.client_id, web.app.client_secret or ""),
        )
        assert answer.json()["active"] is True
        assert answer.json()["sub"] == f"user/{web.person.user_id}"
        assert answer.json()["client_id"] == web.app.client_id
        # A refresh token is not introspected (only access tokens are).
        refresh = await client.post(
            "/oauth/introspect",
            data={"token": token["refresh_token"]},
            auth=(web.app.client_id, web.app.client_secret or ""),
        )
        assert refresh.json() == {"active": False}

    async def test_a_public_client_does_not_introspect(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
    ) -> None:
        token = await exchange(client, session, settings, field.app, field.signed_in)
        public = await client.post(
            "/oauth/introspect",
            data={"token": token["access_token"], "client_id": field.app.client_id},
        )
        assert public.status_code == 401


class TestRevocation:
    async def test_revoking_a_refresh_token_ends_its_family(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
    ) -> None:
        token = await exchange(client, session, settings, field.app, field.signed_in)
        revoked = await client.post(
            "/oauth/revoke",
            data={
                "token": token["refresh_token"],
                "token_type_hint": "refresh_token",
                "client_id": field.app.client_id,
            },
        )
        assert revoked.status_code == 200
        assert await sent_box(client, token) == 401
        refreshed = await client.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": token["refresh_token"],
                "client_id": field.app.client_id,
            },
        )
        assert refreshed.json()["error"] == "invalid_grant"

    async def test_another_clients_revocation_does_nothing(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
    ) -> None:
        token = await exchange(client, session, settings, field.app, field.signed_in)
        other = await register_app(session, settings, field.organization)
        revoked = await client.post(
            "/oauth/revoke", data={"token": token["refresh_token"], "client_id": other.client_id}
        )
        assert revoked.status_code == 200
        assert await sent_box(client, token) == 200


class TestScopes:
    async def test_never_more_than_the_persons_role(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
    ) -> None:
        organization = await create_organization(session, name="Comité")
        volunteer = await app_and_person(session, settings, organization, UserRole.volunteer)
        asked = " ".join(scope.value for scope in Scope)  # everything the app may ask
        token = await exchange(
            client, session, settings, volunteer.app, volunteer.signed_in, scope=asked
        )
        assert token["scope"].split() == ["directory:read", "referrals:send"]
        received = await client.get("/v1/referrals?box=received", headers=bearer(token))
        assert received.status_code == 403

    async def test_never_more_than_the_app_may_ask(
        self, session: AsyncSession, settings: Settings
    ) -> None:
        organization = await create_organization(session)
        app = await register_app(session, settings, organization, scopes=[Scope.directory_read])
        person = await create_person(session, settings, organization, UserRole.org_admin)
        pairs = authorize_pairs(app.client_id, verifier=new_verifier(), scope="audit:read")
        answer = answer_of(await approve(session, settings, pairs, await person.signed_in(session)))
        assert answer["error"] == "invalid_scope"
        assert answer["state"] == "state-1"

    async def test_none_left_for_the_role_is_refused(
        self, session: AsyncSession, settings: Settings
    ) -> None:
        organization = await create_organization(session)
        app = await register_app(session, settings, organization, scopes=[Scope.audit_read])
        volunteer = await create_person(session, settings, organization, UserRole.volunteer)
        pairs = authorize_pairs(app.client_id, verifier=new_verifier())
        signed_in = await volunteer.signed_in(session)
        answer = answer_of(await approve(session, settings, pairs, signed_in))
        assert answer["error"] == "invalid_scope"


class TestTheAuthorizeStep:
    """What the consent page is given: RFC 6749 §4.1.2.1 (an untrusted client or redirect URI
    is shown, never followed), PKCE with S256 always, the app's organisation's people."""

    async def consent(
        self,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
        pairs: list[tuple[str, str]],
    ) -> authorization.ConsentAnswer:
        return await authorization.consent(session, settings, pairs, field.signed_in)

    async def test_the_consent_screen_names_the_app_and_the_scopes(
        self, session: AsyncSession, settings: Settings
    ) -> None:
        organization = await create_organization(session, name="Comité de Kounda")
        field = await app_and_person(session, settings, organization, UserRole.volunteer)
        pairs = authorize_pairs(
            field.app.client_id,
            verifier=new_verifier(),
            scope="directory:read referrals:send referrals:receive",
        )
        screen = await self.consent(session, settings, field, pairs)
        assert isinstance(screen, authorization.ConsentScreen)
        assert (screen.app_name, screen.app_organization) == ("Field app", "Comité de Kounda")
        assert [scope.scope for scope in screen.granted] == ["directory:read", "referrals:send"]
        assert [scope.scope for scope in screen.not_granted] == ["referrals:receive"]
        assert screen.granted[0].words.startswith("Read the directory")
        assert screen.redirect_host == "127.0.0.1"
        assert dict(pairs) == screen.fields

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            ({"client_id": "rly_client_unknown"}, ErrorReason.client),
            ({"client_id": None}, ErrorReason.client),
            ({"redirect_uri": "https://evil.example/callback"}, ErrorReason.redirect_uri),
            ({"redirect_uri": NATIVE_REDIRECT_URI + "/more"}, ErrorReason.redirect_uri),
            ({"redirect_uri": "http://127.0.0.1/callback?x=1"}, ErrorReason.redirect_uri),
            ({"redirect_uri": "http://localhost/callback"}, ErrorReason.redirect_uri),
            ({"redirect_uri": "http://[::1]/callback"}, ErrorReason.redirect_uri),
            ({"redirect_uri": None}, ErrorReason.redirect_uri),
        ],
    )
    async def test_an_untrusted_client_or_redirect_uri_is_shown_never_followed(
        self,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
        change: dict[str, str | None],
        reason: ErrorReason,
    ) -> None:
        fields = dict(authorize_pairs(field.app.client_id, verifier=new_verifier()))
        fields.update(change)  # type: ignore[arg-type]
        pairs = [(name, value) for name, value in fields.items() if value is not None]
        assert await self.consent(session, settings, field, pairs) == ErrorPage(reason)
        answer = await authorization.decide(session, settings, pairs, field.signed_in, allow=True)
        assert answer == ErrorPage(reason)

    async def test_a_repeated_parameter_is_shown(
        self, session: AsyncSession, settings: Settings, field: AppForPerson
    ) -> None:
        pairs = authorize_pairs(field.app.client_id, verifier=new_verifier())
        pairs.append(("redirect_uri", "https://evil.example/callback"))
        assert await self.consent(session, settings, field, pairs) == ErrorPage(ErrorReason.request)

    async def test_a_client_acting_for_itself_has_no_authorize_step(
        self, session: AsyncSession, settings: Settings, field: AppForPerson
    ) -> None:
        machine = await create_client(
            session, settings, field.organization, scopes=[Scope.directory_read]
        )
        pairs = authorize_pairs(machine.client_id, verifier=new_verifier())
        assert await self.consent(session, settings, field, pairs) == ErrorPage(ErrorReason.client)

    @pytest.mark.parametrize(
        ("change", "error"),
        [
            ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
            ({"code_challenge_method": None}, "invalid_request"),
            ({"code_challenge_method": "plain"}, "invalid_request"),
            ({"code_challenge": "too-short"}, "invalid_request"),
            ({"response_type": "token"}, "unsupported_response_type"),
            ({"scope": "directory:read no-such-scope"}, "invalid_scope"),
        ],
    )
    async def test_other_errors_go_back_to_the_app_with_its_state(
        self,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
        change: dict[str, str | None],
        error: str,
    ) -> None:
        fields = dict(authorize_pairs(field.app.client_id, verifier=new_verifier()))
        fields.update(change)  # type: ignore[arg-type]
        pairs = [(name, value) for name, value in fields.items() if value is not None]
        answer = await self.consent(session, settings, field, pairs)
        assert isinstance(answer, Redirect), answer
        assert answer.location.startswith(NATIVE_REDIRECT_URI + "?")
        sent = answer_of(answer.location)
        assert (sent["error"], sent["state"], sent["iss"]) == (error, "state-1", settings.issuer)
        assert "code" not in sent

    async def test_plain_pkce_is_refused_even_with_a_matching_verifier(
        self, session: AsyncSession, settings: Settings, field: AppForPerson
    ) -> None:
        verifier = new_verifier()
        pairs = authorize_pairs(
            field.app.client_id, code_challenge=verifier, code_challenge_method="plain"
        )
        answer = await authorization.decide(session, settings, pairs, field.signed_in, allow=True)
        assert isinstance(answer, Redirect)
        assert answer_of(answer.location)["error"] == "invalid_request"

    async def test_the_port_of_a_loopback_uri_may_vary_nothing_else(
        self, session: AsyncSession, settings: Settings, field: AppForPerson
    ) -> None:
        for uri in ("http://127.0.0.1:1/callback", "http://127.0.0.1:65535/callback"):
            pairs = authorize_pairs(field.app.client_id, verifier=new_verifier(), redirect_uri=uri)
            assert answer_of(await approve(session, settings, pairs, field.signed_in))["code"]
        for uri in ("http://127.0.0.1:0/callback", "http://127.0.0.1:65536/callback"):
            pairs = authorize_pairs(field.app.client_id, verifier=new_verifier(), redirect_uri=uri)
            assert await self.consent(session, settings, field, pairs) == ErrorPage(
                ErrorReason.redirect_uri
            )

    async def test_the_person_may_say_no(
        self, session: AsyncSession, settings: Settings, field: AppForPerson
    ) -> None:
        pairs = authorize_pairs(field.app.client_id, verifier=new_verifier())
        answer = await authorization.decide(session, settings, pairs, field.signed_in, allow=False)
        assert isinstance(answer, Redirect)
        assert answer_of(answer.location)["error"] == "access_denied"
        codes = await session.scalar(
            text("SELECT count(*) FROM oauth_authorization_code WHERE user_id = :user"),
            {"user": field.person.user_id},
        )
        assert codes == 0

    async def test_an_app_acts_for_its_own_organisations_people_unless_registered_for_all(
        self, session: AsyncSession, settings: Settings, field: AppForPerson
    ) -> None:
        elsewhere = await create_organization(session, name="Commissariat")
        officer = await create_person(session, settings, elsewhere, UserRole.caseworker)
        signed_in = await officer.signed_in(session)
        pairs = authorize_pairs(field.app.client_id, verifier=new_verifier())
        answer = answer_of(await approve(session, settings, pairs, signed_in))
        assert answer["error"] == "access_denied"

        shared = await register_app(session, settings, field.organization, any_organization=True)
        pairs = authorize_pairs(shared.client_id, verifier=new_verifier())
        assert answer_of(await approve(session, settings, pairs, signed_in))["code"]

    async def test_the_decision_and_the_tokens_are_audited_with_the_person_as_actor(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        field: AppForPerson,
    ) -> None:
        since = datetime.now(UTC)
        await exchange(client, session, settings, field.app, field.signed_in)
        await act_as_worker(session)  # the audit trail's row-level security: every event
        rows = await session.execute(
            text(
                "SELECT action, client_id, acting_user, resource_ids, outcome FROM audit_event "
                "WHERE at >= :since AND acting_user = :person ORDER BY position"
            ),
            {"since": since, "person": f"user/{field.person.user_id}"},
        )
        person = f"user/{field.person.user_id}"
        assert [tuple(row) for row in rows] == [
            ("oauth.consent", "relay-web", person, [field.app.client_id], "success"),
            ("token.issue", field.app.client_id, person, [field.app.client_id], "success"),
        ]

    async def test_a_code_carries_nothing_but_its_hash_and_what_it_is_bound_to(
        self, session: AsyncSession, settings: Settings, field: AppForPerson
    ) -> None:
        verifier = new_verifier()
        pairs = authorize_pairs(
            field.app.client_id, verifier=verifier, redirect_uri=NATIVE_PORT_URI
        )
        code = answer_of(await approve(session, settings, pairs, field.signed_in))["code"]
        assert code.startswith("rly_ac_")
        row = (
            await session.execute(
                text(
                    "SELECT code_hash, redirect_uri, code_challenge, user_generation, scopes "
                    "FROM oauth_authorization_code WHERE user_id = :user"
                ),
                {"user": field.person.user_id},
            )
        ).one()
        assert code not in row.code_hash
        assert row.redirect_uri == NATIVE_PORT_URI
        assert row.code_challenge == create_s256_code_challenge(verifier)
        assert row.user_generation == field.person.generation
        assert row.scopes == ["directory:read", "referrals:send", "referrals:receive", "stats:read"]
