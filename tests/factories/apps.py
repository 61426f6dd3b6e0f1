"""Apps acting for a person: the authorize step through its service (as the consent page calls
it, the person signed in and saying yes), and the code's exchange over HTTP."""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.authorize import Redirect
from api.auth.roles import scopes_of
from api.auth.tokens import keyed_hash, new_access_token
from api.config import Settings
from api.models.oauth import OAuthToken, OAuthTokenFamily
from api.models.organization import Organization
from api.models.people import UserRole
from api.repositories import clients as client_repository
from api.schemas.clients import ClientCredentials
from api.services import authorization
from api.services.people import SignedInUser
from tests.factories.auth import NATIVE_REDIRECT_URI, WEB_REDIRECT_URI, register_app
from tests.factories.people import Person, create_person


def new_verifier() -> str:
    return secrets.token_urlsafe(48)


def authorize_pairs(
    client_id: str,
    *,
    verifier: str | None = None,
    scope: str | None = None,
    redirect_uri: str = NATIVE_REDIRECT_URI,
    state: str | None = "state-1",
    **extra: str,
) -> list[tuple[str, str]]:
    """The query of an authorization request, as an app sends it."""
    pairs = [("response_type", "code"), ("client_id", client_id), ("redirect_uri", redirect_uri)]
    if scope is not None:
        pairs.append(("scope", scope))
    if state is not None:
        pairs.append(("state", state))
    if verifier is not None:
        pairs += [
            ("code_challenge", create_s256_code_challenge(verifier)),
            ("code_challenge_method", "S256"),
        ]
    return pairs + list(extra.items())


def query_of(url: str) -> list[tuple[str, str]]:
    """The query of an authorization URL, every value kept."""
    return [
        (name, value)
        for name, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items()
        for value in values
    ]


def answer_of(location: str) -> dict[str, str]:
    """The parameters an app is sent back with."""
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


async def approve(
    session: AsyncSession,
    settings: Settings,
    pairs: list[tuple[str, str]],
    person: SignedInUser,
) -> str:
    """The person says yes: the redirect's location (a code, or an error)."""
    answer = await authorization.decide(session, settings, pairs, person, allow=True)
    assert isinstance(answer, Redirect), answer
    return answer.location


@dataclass
class AppForPerson:
    organization: Organization
    app: ClientCredentials
    person: Person
    signed_in: SignedInUser


async def app_and_person(
    session: AsyncSession,
    settings: Settings,
    organization: Organization,
    role: UserRole = UserRole.caseworker,
    *,
    public: bool = True,
) -> AppForPerson:
    app = await register_app(session, settings, organization, public=public)
    person = await create_person(session, settings, organization, role)
    return AppForPerson(organization, app, person, await person.signed_in(session))


async def exchange(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    app: ClientCredentials,
    person: SignedInUser,
    *,
    scope: str | None = None,
) -> dict[str, str]:
    """The whole flow for ``person``: approved, then the code exchanged over HTTP (a public app
    names itself, a confidential one authenticates with its secret); the token response."""
    verifier = new_verifier()
    redirect_uri = NATIVE_REDIRECT_URI if app.client_secret is None else WEB_REDIRECT_URI
    pairs = authorize_pairs(
        app.client_id, verifier=verifier, scope=scope, redirect_uri=redirect_uri
    )
    location = await approve(session, settings, pairs, person)
    form = {
        "grant_type": "authorization_code",
        "code": answer_of(location)["code"],
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    if app.client_secret is None:
        form["client_id"] = app.client_id
    response = await client.post(
        "/oauth/token",
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(app.client_id, app.client_secret) if app.client_secret else None,
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def bearer(token: dict[str, str] | str) -> dict[str, str]:
    value = token if isinstance(token, str) else token["access_token"]
    return {"Authorization": f"Bearer {value}"}


async def issue_person_token(
    session: AsyncSession,
    settings: Settings,
    app: ClientCredentials,
    person: Person,
    *,
    scopes: list[str] | None = None,
) -> str:
    """An app's access token for ``person``, as the token endpoint would store it (in a family
    of its own), without going through the flow: the scopes the app may ask, narrowed to the
    person's role's, unless given."""
    stored = await client_repository.get(session, app.client_id)
    assert stored is not None
    granted = (
        scopes if scopes is not None else [s for s in app.scopes if s in scopes_of(person.role)]
    )
    now = datetime.now(UTC)
    family = OAuthTokenFamily(
        client_pk=stored.id,
        user_id=person.user_id,
        user_generation=person.generation,
        organization_id=person.organization_id,
        scopes=granted,
        created_at=now,
        expires_at=now + timedelta(days=1),
    )
    session.add(family)
    await session.flush()
    value = new_access_token()
    session.add(
        OAuthToken(
            token_hash=keyed_hash(settings.secret_key.get_secret_value(), value),
            client_pk=stored.id,
            organization_id=person.organization_id,
            scopes=granted,
            issued_at=now - timedelta(seconds=1),
            expires_at=now + timedelta(minutes=10),
            user_id=person.user_id,
            user_generation=person.generation,
            family_id=family.id,
        )
    )
    await session.flush()
    return value
