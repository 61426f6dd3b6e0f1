"""The authorization server's endpoints: token, introspection, revocation.

Each call loads what Authlib needs asynchronously, runs Authlib's synchronous server in a worker
thread on those objects (``api.auth.server``), then persists what it decided. Failed client
authentication is counted per source address (and per client id from that address), and that
source is refused for a while once too frequent, before any secret or signature is checked
again; other sources, the client itself among them, are not (``TokenFailures``).

**Apps acting for a person.** A code (``grant_type=authorization_code``) is loaded with the
person it was issued for, if their account still holds (``current_user``); its exchange starts
a family of refresh tokens (``OAuthTokenFamily``) and gives an access token and the family's
first refresh token. A refresh (``grant_type=refresh_token``) uses the refresh token up and
gives a new one of the same family with the access token. Each is used once, by one statement
that only one request can win: a code or a refresh token presented again, even by two requests
at the same moment, revokes the whole family, every access token it gave included (RFC 6749
§4.1.2, RFC 9700 §4.14.2), and is audited; so does a refresh token presented by another
client. The issue of a person's tokens, and their revocation, are audited with the person as
the actor (their pseudonymous id).
"""

import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any, TypeVar

from anyio import to_thread
from authlib.oauth2.rfc6749 import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Error,
)
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.holds import token_holds
from api.auth.principal import person_pseudonym
from api.auth.ratelimit import Limits, retry_after_header
from api.auth.server import (
    NO_STORE_HEADERS,
    ClientRecord,
    CodeRecord,
    FormRequest,
    RefreshRecord,
    RequestServer,
    TokenRecord,
    basic_credentials,
    peek_assertion_subject,
    refuse_repeated_parameters,
)
from api.auth.tokens import MAXIMUM_CREDENTIAL_LENGTH, REFRESH_TOKEN_PREFIX, keyed_hash
from api.config import Settings
from api.errors import TooManyRequests
from api.logging import get_logger
from api.models.audit import Outcome
from api.models.oauth import (
    OAuthClient,
    OAuthRefreshToken,
    OAuthToken,
    OAuthTokenFamily,
)
from api.records import record_of
from api.repositories import clients as client_repository
from api.repositories import grants as grant_repository
from api.repositories import people as people_repository
from api.repositories import tokens as token_repository
from api.services import audit
from api.services.audit import Action
from api.services.people import SignedInUser, current_user

log = get_logger("relay.oauth")
FoundT = TypeVar("FoundT")
BASIC_CHALLENGE = ("WWW-Authenticate", 'Basic realm="relay"')
_CLIENT_ID = re.compile(r"[A-Za-z0-9._~-]{1,128}")


@dataclass(frozen=True)
class OAuthResponse:
    status: int
    body: dict[str, Any]
    headers: list[tuple[str, str]]


@dataclass(frozen=True)
class OAuthCall:
    """What the router read from the HTTP request."""

    endpoint: str
    pairs: list[tuple[str, str]]
    headers: Mapping[str, str]
    client_address: str


class OAuthEndpoint(StrEnum):
    """The endpoints that answer an ``OAuthCall`` (Authlib's names for them)."""

    token = "token"  # noqa: S105 (an endpoint's name)
    """POST /oauth/token: client credentials, authorization code, refresh token."""
    introspection = "introspection"
    """POST /oauth/introspect (RFC 7662): a client may introspect only its own tokens."""
    revocation = "revocation"
    """POST /oauth/revoke (RFC 7009): a client may revoke only its own tokens."""


@dataclass
class _Outcome:
    """What a call decided, beyond its answer: for whom a token was issued or revoked."""

    status: int
    body: dict[str, Any]
    headers: list[tuple[str, str]]
    client: ClientRecord | None
    person: SignedInUser | None = None
    """The person a token was issued to an app for, or whose refresh token was revoked."""


async def answer(
    session: AsyncSession,
    settings: Settings,
    limits: Limits,
    call: OAuthCall,
    endpoint: OAuthEndpoint,
) -> OAuthResponse:
    """The answer of ``endpoint`` to the call: an OAuth body (RFC 6749 §5.2 errors, never a
    problem), the client authenticated, throttled and audited alike at every endpoint."""
    now = datetime.now(UTC)
    malformed: InvalidClientError | None = None
    try:
        form = refuse_repeated_parameters(call.pairs)
        try:
            basic = basic_credentials(call.headers)
        except InvalidClientError as error:
            basic, malformed = None, error
        candidate = _claimed_client_id(form, basic[0] if basic else None)
    except OAuth2Error as error:
        return _error_response(error)

    _refuse_if_throttled(limits, call.client_address, candidate)

    if malformed is not None:
        # Nothing to look up: refused as a failed authentication (audited, counted) below.
        status, body, headers = _oauth_error(malformed)
        outcome = _Outcome(status, body, headers, None)
    else:
        outcome = await _authorize(session, settings, call, endpoint, form, candidate, now)
    status, body, headers, client = outcome.status, outcome.body, outcome.headers, outcome.client

    if endpoint is OAuthEndpoint.token:
        await _audit_token(session, client, status == 200, outcome.person)
    elif endpoint is OAuthEndpoint.revocation and status == 200 and client is not None:
        await audit.record(
            session,
            _actor(client, outcome.person),
            Action.token_revoke,
            "oauth_client",
            [client.client_id],
            _parties(client, outcome.person),
        )

    if body.get("error") == "invalid_client":
        status = 401
        headers = [*headers, BASIC_CHALLENGE]
        limits.token_failures.failed(call.client_address, candidate)
        log.info("client_authentication_failed", endpoint=endpoint)
    elif status == 200 and client is not None:
        limits.token_failures.succeeded(call.client_address, client.client_id)
    return OAuthResponse(status, body, _no_store(headers))


async def _authorize(
    session: AsyncSession,
    settings: Settings,
    call: OAuthCall,
    endpoint: OAuthEndpoint,
    form: dict[str, str],
    candidate: str | None,
    now: datetime,
) -> _Outcome:
    """Load the client (and token, code or refresh token, and the person), run Authlib's
    endpoint on them, persist what it decided."""
    client = await _load_client(session, settings, candidate)
    presented = await _load_presented(session, settings, endpoint, form, now)
    server = RequestServer(
        issuer=settings.issuer,
        secret_key=settings.secret_key.get_secret_value(),
        token_lifetime=settings.access_token_lifetime_seconds,
        now=now,
        client=client,
        token=presented.token,
        code=presented.code,
        refresh=presented.refresh,
        person=presented.person,
        family_ends_at=presented.family_ends_at,
    )
    request = FormRequest(call.endpoint, call.headers, form)
    if endpoint is OAuthEndpoint.token:
        status, body, headers = await to_thread.run_sync(server.create_token_response, request)
    else:
        status, body, headers = await to_thread.run_sync(
            server.create_endpoint_response, endpoint, request
        )
    outcome = _Outcome(status, body, headers, client)

    if status == 200 and request.assertion is not None and client is not None:
        fresh = await token_repository.use_assertion(
            session, client.pk, request.assertion.jti, request.assertion.expires_at
        )
        if not fresh:
            return _refused(
                outcome,
                InvalidClientError(status_code=401, description="The assertion was already used."),
            )
    if endpoint is OAuthEndpoint.token:
        return await _token_outcome(session, settings, server, outcome, presented, now)
    if status == 200 and isinstance(server.revoked, TokenRecord):
        await token_repository.revoke(session, server.revoked.token_hash, now)
    elif status == 200 and isinstance(server.revoked, RefreshRecord):
        await grant_repository.revoke_family(session, server.revoked.family_id, now)
        outcome.person = await current_user(
            session, server.revoked.user_id, server.revoked.user_generation
        )
    return outcome


@dataclass(frozen=True)
class _Presented:
    """What a call presents besides its client, loaded by its hash before Authlib runs: the
    access token to introspect or revoke, or the code or refresh token to exchange or revoke;
    ``person``: the one a code or refresh token to exchange was issued for, if their account
    still holds; ``family_ends_at``: when the family of refresh tokens the exchange would add
    to ends."""

    token: TokenRecord | None = None
    code: CodeRecord | None = None
    refresh: RefreshRecord | None = None
    person: SignedInUser | None = None
    family_ends_at: datetime | None = None


async def _load_presented(
    session: AsyncSession,
    settings: Settings,
    endpoint: OAuthEndpoint,
    form: dict[str, str],
    now: datetime,
) -> _Presented:
    grant_type = form.get("grant_type")
    if endpoint is OAuthEndpoint.token and grant_type == "authorization_code":
        code = await _load_code(session, settings, form.get("code"))
        person = None
        if code is not None:
            person = await current_user(session, code.user_id, code.user_generation)
        family_ends_at = now + timedelta(days=settings.refresh_family_lifetime_days)
        return _Presented(code=code, person=person, family_ends_at=family_ends_at)
    if endpoint is OAuthEndpoint.token and grant_type == "refresh_token":
        refresh = await _load_refresh(session, settings, form.get("refresh_token"), now)
        if refresh is None:
            return _Presented()
        person = await current_user(session, refresh.user_id, refresh.user_generation)
        return _Presented(refresh=refresh, person=person, family_ends_at=refresh.family_expires_at)
    if endpoint is OAuthEndpoint.token:
        return _Presented()  # client credentials: the client is all there is
    value = form.get("token")
    if (
        value is not None
        and value.startswith(REFRESH_TOKEN_PREFIX)
        and endpoint is OAuthEndpoint.revocation
    ):
        return _Presented(refresh=await _load_refresh(session, settings, value, now))
    return _Presented(token=await _load_token(session, settings, value, now))


async def _token_outcome(
    session: AsyncSession,
    settings: Settings,
    server: RequestServer,
    outcome: _Outcome,
    presented: _Presented,
    now: datetime,
) -> _Outcome:
    """Persist what the token endpoint decided; a code or refresh token used twice revokes its
    family instead."""
    client, person, code = outcome.client, presented.person, presented.code
    if outcome.status != 200 or server.issued is None or client is None:
        return await _revoke_if_replayed(session, outcome, code, presented.refresh)
    if server.used_code is not None and code is not None and person is not None:
        family = OAuthTokenFamily(
            client_pk=client.pk,
            user_id=code.user_id,
            user_generation=code.user_generation,
            organization_id=person.organization_id,
            scopes=server.issued["scope"].split(),
            created_at=now,
            expires_at=now + timedelta(days=settings.refresh_family_lifetime_days),
        )
        await grant_repository.add_family(session, family)
        if not await grant_repository.use_code(session, code.code_hash, family.id, now):
            # Another request exchanged the code first: both families end.
            await grant_repository.revoke_family(session, family.id, now)
            return await _replayed(session, outcome, code.user_id, await _family_of(session, code))
        await _persist_person_tokens(
            session, settings, client, person, server.issued, family.id, family.expires_at, now
        )
    elif server.rotated is not None and person is not None:
        rotated = server.rotated
        if not await grant_repository.use_refresh_token(session, rotated.token_hash, now):
            # Another request rotated it first: a replay, however close in time.
            return await _replayed(session, outcome, rotated.user_id, rotated.family_id)
        await _persist_person_tokens(
            session,
            settings,
            client,
            person,
            server.issued,
            rotated.family_id,
            rotated.family_expires_at,
            now,
        )
    else:
        await _persist_token(session, settings, client, server.issued, now)
    outcome.person = person
    return outcome


async def _revoke_if_replayed(
    session: AsyncSession,
    outcome: _Outcome,
    code: CodeRecord | None,
    refresh: RefreshRecord | None,
) -> _Outcome:
    """A refused exchange of a code already used, or of a refresh token already rotated (or
    presented by another client than its own): the family it belongs to is revoked. A failed
    client authentication is still answered as one (and counted)."""
    replayed = None
    if code is not None and code.used:
        replayed = await _replayed(session, outcome, code.user_id, await _family_of(session, code))
    elif refresh is not None:
        other_client = outcome.client is not None and outcome.client.pk != refresh.client_pk
        if refresh.used or other_client:
            replayed = await _replayed(session, outcome, refresh.user_id, refresh.family_id)
    if replayed is None or outcome.body.get("error") == "invalid_client":
        return outcome
    return replayed


async def _family_of(session: AsyncSession, code: CodeRecord) -> uuid.UUID | None:
    """The family a used code started (read again: another request may have just used it)."""
    stored = await grant_repository.find_code(session, code.code_hash)
    return stored.family_id if stored is not None else None


async def _replayed(
    session: AsyncSession,
    outcome: _Outcome,
    user_id: uuid.UUID,
    family_id: uuid.UUID | None,
) -> _Outcome:
    """Revoke the family (every refresh and access token of it), audit the replay with the
    person as the actor, and answer ``invalid_grant``."""
    if family_id is not None:
        await grant_repository.revoke_family(session, family_id, datetime.now(UTC))
    organization_id = await _organization_of(session, user_id)
    client = outcome.client
    client_id = client.client_id if client else None
    log.warning("grant_replayed", family=str(family_id) if family_id else None)
    await audit.record(
        session,
        audit.Actor(organization_id, client_id, person_pseudonym(user_id)),
        Action.token_replay,
        "oauth_token_family",
        [family_id] if family_id else [],
        [organization_id, client.organization_id if client else None],
        Outcome.failure,
    )
    refused = _refused(
        outcome,
        InvalidGrantError(
            description="This grant was already used: every token issued from it is revoked."
        ),
    )
    refused.person = None
    return refused


async def _organization_of(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    """The person's organisation (for the audit trail), whatever the state of their account."""
    user = await people_repository.get(session, user_id)
    return user.organization_id if user is not None else None


def _refused(outcome: _Outcome, error: OAuth2Error) -> _Outcome:
    status, body, headers = _oauth_error(error)
    return _Outcome(status, body, headers, outcome.client)


def _actor(client: ClientRecord, person: SignedInUser | None) -> audit.Actor:
    if person is None:
        return _client_actor(client)
    return audit.Actor.person(person.organization_id, person.user_id, client.client_id)


def _parties(client: ClientRecord, person: SignedInUser | None) -> list[uuid.UUID | None]:
    return [client.organization_id, person.organization_id if person else None]


def _client_actor(client: ClientRecord) -> audit.Actor:
    return audit.Actor(client.organization_id, client.client_id)


async def _audit_token(
    session: AsyncSession,
    client: ClientRecord | None,
    issued: bool,
    person: SignedInUser | None = None,
) -> None:
    """A token issued (to an app for a person: the person is the actor), or refused (to a
    known client, or to no client: the claimed id, which could be anything, is not kept)."""
    if client is None:
        await audit.record(
            session,
            audit.Actor(None, None),
            Action.token_refuse,
            "oauth_client",
            [],
            [],
            Outcome.failure,
        )
        return
    await audit.record(
        session,
        _actor(client, person if issued else None),
        Action.token_issue if issued else Action.token_refuse,
        "oauth_client",
        [client.client_id],
        _parties(client, person if issued else None),
        Outcome.success if issued else Outcome.failure,
    )


def _claimed_client_id(form: dict[str, str], basic_id: str | None) -> str | None:
    """Which client the request says it is, before anything is verified."""
    in_form = bool(form.get("client_secret") or form.get("client_assertion"))
    if basic_id and in_form:
        raise InvalidRequestError(description="Use one client authentication method only.")
    assertion = form.get("client_assertion")
    candidate = (
        basic_id
        or form.get("client_id")
        or (peek_assertion_subject(assertion) if assertion else None)
    )
    if candidate is not None and not _CLIENT_ID.fullmatch(candidate):
        return None  # not an id we could have issued: authentication fails, nothing is queried
    return candidate


def _refuse_if_throttled(limits: Limits, address: str, client_id: str | None) -> None:
    wait = limits.token_failures.wait(address, client_id)
    if wait > 0:
        raise TooManyRequests(
            "Too many failed authentication attempts; try again later.",
            headers=retry_after_header(wait),
        )


async def _load_client(
    session: AsyncSession, settings: Settings, client_id: str | None
) -> ClientRecord | None:
    if not client_id:
        return None
    client = await client_repository.get_for_authentication(session, client_id)
    if client is None:
        return None
    return client_record(client, settings)


def client_record(client: OAuthClient, settings: Settings) -> ClientRecord:
    """A stored client as Authlib's server sees it."""
    return record_of(
        ClientRecord,
        client,
        pk=client.id,
        scopes=tuple(client.scopes),
        secret_key=settings.secret_key.get_secret_value(),
        redirect_uris=tuple(client.redirect_uris),
    )


async def _found_by_hash(
    settings: Settings, value: str | None, find: Callable[[str], Awaitable[FoundT | None]]
) -> FoundT | None:
    """What ``find`` finds by the keyed hash of a credential sent (none for an empty or an
    over-long one)."""
    if not value or len(value) > MAXIMUM_CREDENTIAL_LENGTH:
        return None
    return await find(keyed_hash(settings.secret_key.get_secret_value(), value))


async def _load_token(
    session: AsyncSession, settings: Settings, value: str | None, now: datetime
) -> TokenRecord | None:
    found = await _found_by_hash(settings, value, partial(token_repository.find, session))
    if found is None:
        return None
    revoked_at = found.revoked_at
    if not token_holds(found):
        revoked_at = revoked_at or now
    user_id = found.person.user_id if found.person else None
    return record_of(TokenRecord, found, revoked_at=revoked_at, now=now, user_id=user_id)


async def _load_code(
    session: AsyncSession, settings: Settings, value: str | None
) -> CodeRecord | None:
    found = await _found_by_hash(settings, value, partial(grant_repository.find_code, session))
    if found is None:
        return None
    return record_of(CodeRecord, found, scopes=tuple(found.scopes), used=found.used_at is not None)


async def _load_refresh(
    session: AsyncSession, settings: Settings, value: str | None, now: datetime
) -> RefreshRecord | None:
    finding = partial(grant_repository.find_refresh_token, session)
    found = await _found_by_hash(settings, value, finding)
    if found is None:
        return None
    token, family = found
    return record_of(
        RefreshRecord,
        family,
        token_hash=token.token_hash,
        family_id=family.id,
        scopes=tuple(family.scopes),
        expires_at=token.expires_at,
        family_expires_at=family.expires_at,
        used=token.used_at is not None,
        family_revoked=family.revoked_at is not None,
        now=now,
    )


async def _persist_token(
    session: AsyncSession,
    settings: Settings,
    client: ClientRecord,
    issued: dict[str, Any],
    now: datetime,
) -> None:
    secret_key = settings.secret_key.get_secret_value()
    await token_repository.add(
        session, _access_token(secret_key, client, issued, now, client.organization_id)
    )


def _access_token(
    secret_key: str,
    client: ClientRecord,
    issued: dict[str, Any],
    now: datetime,
    organization_id: uuid.UUID,
    **for_person: Any,
) -> OAuthToken:
    """The row of an access token Authlib ``issued`` (kept by its keyed hash); ``for_person``:
    the person's columns of an app's token."""
    return OAuthToken(
        token_hash=keyed_hash(secret_key, issued["access_token"]),
        client_pk=client.pk,
        organization_id=organization_id,
        scopes=issued["scope"].split(),
        issued_at=now,
        expires_at=now + timedelta(seconds=int(issued["expires_in"])),
        **for_person,
    )


async def _persist_person_tokens(
    session: AsyncSession,
    settings: Settings,
    client: ClientRecord,
    person: SignedInUser,
    issued: dict[str, Any],
    family_id: uuid.UUID,
    family_expires_at: datetime,
    now: datetime,
) -> None:
    """An app's access token for a person, and the family's next refresh token."""
    secret_key = settings.secret_key.get_secret_value()
    token = _access_token(
        secret_key,
        client,
        issued,
        now,
        person.organization_id,
        user_id=person.user_id,
        user_generation=person.generation,
        family_id=family_id,
    )
    await token_repository.add(session, token)
    idle = now + timedelta(days=settings.refresh_token_idle_days)
    await grant_repository.add_refresh_token(
        session,
        OAuthRefreshToken(
            token_hash=keyed_hash(secret_key, issued["refresh_token"]),
            family_id=family_id,
            issued_at=now,
            expires_at=min(idle, family_expires_at),
        ),
    )


def _oauth_error(error: OAuth2Error) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
    status, body, headers = error()
    return status, dict(body), list(headers)


def _error_response(error: OAuth2Error) -> OAuthResponse:
    status, body, headers = _oauth_error(error)
    return OAuthResponse(status, body, _no_store(headers))


def _no_store(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    kept = [
        (name, value)
        for name, value in headers
        if name.lower() not in {"cache-control", "pragma", "content-type"}
    ]
    return kept + NO_STORE_HEADERS
