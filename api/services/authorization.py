"""The authorize step for apps acting for a person (``GET``/``POST /oauth/authorize``): what the
consent screen shows, and the code or the refusal the app is sent back with.

The checks and the redirects are ``api/auth/authorize.py`` (Authlib's grant, no I/O); this
module loads the client the request names, stores the code the person's "yes" makes (a keyed
hash, bound to the client, the redirect URI as sent, the person and their account's
generation, the scopes and the S256 challenge; good once, for 60 seconds) and audits the
decision with the person as the actor. The page (a router on the web session of Relay's own
pages) calls ``consent`` to show the screen and ``decide`` with the person's answer; whoever
calls them has signed the person in.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import authorize
from api.auth.authorize import ErrorPage, Redirect
from api.auth.principal import WEB_CLIENT_ID
from api.auth.scopes import SCOPE_DESCRIPTIONS, Scope
from api.auth.server import AUTHORIZATION_CODE_LIFETIME, ClientRecord
from api.auth.tokens import keyed_hash
from api.config import Settings
from api.models.audit import Outcome
from api.models.oauth import OAuthAuthorizationCode
from api.repositories import clients as client_repository
from api.repositories import grants as grant_repository
from api.repositories import organizations as organization_repository
from api.services import audit
from api.services.audit import Action
from api.services.oauth import client_record
from api.services.people import SignedInUser

RESOURCE = "oauth_client"


@dataclass(frozen=True)
class ScopeInWords:
    scope: str
    words: str


@dataclass(frozen=True)
class ConsentScreen:
    """What the person is asked: which app (and whose), to do what, and where they will be sent
    back. ``fields`` go back, unchanged, in the form that answers."""

    client_id: str
    app_name: str
    app_organization: str
    granted: list[ScopeInWords]
    """What the app may do for the person if they say yes."""
    not_granted: list[ScopeInWords]
    """What the app asked that the person's role does not hold: it will not get it."""
    redirect_host: str
    fields: dict[str, str]


ConsentAnswer = ConsentScreen | ErrorPage | Redirect


def _in_words(scopes: tuple[str, ...] | list[str]) -> list[ScopeInWords]:
    return [ScopeInWords(scope, SCOPE_DESCRIPTIONS[Scope(scope)]) for scope in scopes]


async def _client(
    session: AsyncSession, settings: Settings, pairs: list[tuple[str, str]]
) -> ClientRecord | None:
    client_id = authorize.requested_client_id(pairs)
    if not client_id or len(client_id) > 128:
        return None
    found = await client_repository.get_for_authentication(session, client_id)
    return client_record(found, settings) if found is not None else None


def _call(
    settings: Settings, client: ClientRecord | None, pairs: list[tuple[str, str]], now: datetime
) -> authorize.AuthorizeCall:
    return authorize.AuthorizeCall(
        issuer=settings.issuer,
        secret_key=settings.secret_key.get_secret_value(),
        now=now,
        client=client,
        pairs=pairs,
    )


async def consent(
    session: AsyncSession,
    settings: Settings,
    pairs: list[tuple[str, str]],
    person: SignedInUser | None,
) -> ConsentAnswer:
    """``GET /oauth/authorize``: the consent screen for the request (its query as pairs, every
    value kept), or the error page, or the redirect with the error. Called before anyone is
    signed in (``person`` None), it checks what it can, so that a request that cannot hold is
    refused before the person types a password."""
    client = await _client(session, settings, pairs)
    checked = authorize.check(_call(settings, client, pairs, datetime.now(UTC)), person)
    if not isinstance(checked, authorize.Valid):
        return checked
    organization = await organization_repository.get(session, checked.client.organization_id)
    return ConsentScreen(
        client_id=checked.client.client_id,
        app_name=checked.client.name,
        app_organization=organization.name if organization is not None else "",
        granted=_in_words(checked.granted),
        not_granted=_in_words([s for s in checked.asked if s not in checked.granted]),
        redirect_host=urlsplit(checked.redirect_uri).hostname or "",
        fields=checked.fields,
    )


async def decide(
    session: AsyncSession,
    settings: Settings,
    pairs: list[tuple[str, str]],
    person: SignedInUser,
    *,
    allow: bool,
) -> ErrorPage | Redirect:
    """``POST /oauth/authorize``: the person's answer to the request posted back (its fields
    as pairs). Yes: a code, stored by its keyed hash, and the redirect carrying it; no:
    ``access_denied``. The request is checked again as posted, for this person."""
    now = datetime.now(UTC)
    client = await _client(session, settings, pairs)
    call = _call(settings, client, pairs, now)
    if not allow:
        refused = authorize.deny(call, person)
        if isinstance(refused, Redirect) and client is not None:
            await _audit(session, person, client, Action.oauth_deny, Outcome.failure)
        return refused
    approved = authorize.approve(call, person)
    if not isinstance(approved, authorize.Approved):
        return approved
    assert client is not None
    issued = approved.code
    await grant_repository.add_code(
        session,
        OAuthAuthorizationCode(
            code_hash=keyed_hash(call.secret_key, issued.code),
            client_pk=client.pk,
            user_id=person.user_id,
            user_generation=person.generation,
            redirect_uri=issued.redirect_uri,
            scopes=list(issued.scopes),
            code_challenge=issued.code_challenge,
            issued_at=now,
            expires_at=now + AUTHORIZATION_CODE_LIFETIME,
        ),
    )
    await _audit(session, person, client, Action.oauth_consent, Outcome.success)
    return approved.redirect


async def _audit(
    session: AsyncSession,
    person: SignedInUser,
    client: ClientRecord,
    action: Action,
    outcome: Outcome,
) -> None:
    """The person's decision, on Relay's own pages, about the app (the resource)."""
    parties: list[uuid.UUID | None] = [person.organization_id, client.organization_id]
    await audit.record(
        session,
        audit.Actor.person(person.organization_id, person.user_id, WEB_CLIENT_ID),
        action,
        RESOURCE,
        [client.client_id],
        parties,
        outcome,
    )
