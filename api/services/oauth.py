"""The authorization server's endpoints: token, introspection, revocation.

Each call loads what Authlib needs asynchronously, runs Authlib's synchronous server in a worker
thread on those objects (``api.auth.server``), then persists what it decided. Failed client
authentication is counted per source address (and per client id from that address), and that
source is refused for a while once too frequent, before any secret or signature is checked
again; other sources, the client itself among them, are not (``TokenFailures``).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from anyio import to_thread
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError, OAuth2Error
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.ratelimit import Limits, retry_after_header
from api.auth.server import (
    NO_STORE_HEADERS,
    ClientRecord,
    FormRequest,
    RequestServer,
    TokenRecord,
    basic_credentials,
    peek_assertion_subject,
    refuse_repeated_parameters,
)
from api.auth.tokens import MAXIMUM_CREDENTIAL_LENGTH, keyed_hash
from api.config import Settings
from api.errors import TooManyRequests
from api.logging import get_logger
from api.models.audit import Outcome
from api.models.oauth import OAuthToken
from api.repositories import clients as client_repository
from api.repositories import tokens as token_repository
from api.services import audit
from api.services.audit import Action

log = get_logger("relay.oauth")
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


async def token(
    session: AsyncSession, settings: Settings, limits: Limits, call: OAuthCall
) -> OAuthResponse:
    """POST /oauth/token: the client credentials grant."""
    return await _handle(session, settings, limits, call, "token")


async def introspect(
    session: AsyncSession, settings: Settings, limits: Limits, call: OAuthCall
) -> OAuthResponse:
    """POST /oauth/introspect (RFC 7662): a client may introspect only its own tokens."""
    return await _handle(session, settings, limits, call, "introspection")


async def revoke(
    session: AsyncSession, settings: Settings, limits: Limits, call: OAuthCall
) -> OAuthResponse:
    """POST /oauth/revoke (RFC 7009): a client may revoke only its own tokens."""
    return await _handle(session, settings, limits, call, "revocation")


async def _handle(
    session: AsyncSession, settings: Settings, limits: Limits, call: OAuthCall, endpoint: str
) -> OAuthResponse:
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
        client = None
    else:
        status, body, headers, client = await _authorize(
            session, settings, call, endpoint, form, candidate, now
        )

    if endpoint == "token":
        await _audit_token(session, client, status == 200)
    elif endpoint == "revocation" and status == 200 and client is not None:
        await audit.record(
            session,
            _client_actor(client),
            Action.token_revoke,
            "oauth_client",
            [client.client_id],
            [client.organization_id],
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
    endpoint: str,
    form: dict[str, str],
    candidate: str | None,
    now: datetime,
) -> tuple[int, dict[str, Any], list[tuple[str, str]], ClientRecord | None]:
    """Load the client (and token), run Authlib's endpoint on them, persist what it decided."""
    client = await _load_client(session, settings, candidate)
    stored_token = None
    if endpoint != "token":
        stored_token = await _load_token(session, settings, form.get("token"), now)
    server = RequestServer(
        issuer=settings.issuer,
        secret_key=settings.secret_key.get_secret_value(),
        token_lifetime=settings.access_token_lifetime_seconds,
        now=now,
        client=client,
        token=stored_token,
    )
    request = FormRequest(call.endpoint, call.headers, form)
    if endpoint == "token":
        status, body, headers = await to_thread.run_sync(server.create_token_response, request)
    else:
        status, body, headers = await to_thread.run_sync(
            server.create_endpoint_response, endpoint, request
        )

    if status == 200 and request.assertion is not None and client is not None:
        fresh = await token_repository.use_assertion(
            session, client.pk, request.assertion.jti, request.assertion.expires_at
        )
        if not fresh:
            status, body, headers = _oauth_error(
                InvalidClientError(status_code=401, description="The assertion was already used.")
            )
    if status == 200 and server.issued is not None and client is not None:
        await _persist_token(session, settings, client, server.issued, now)
    if status == 200 and server.revoked is not None:
        await token_repository.revoke(session, server.revoked.token_hash, now)
    return status, body, headers, client


def _client_actor(client: ClientRecord) -> audit.Actor:
    return audit.Actor(client.organization_id, client.client_id)


async def _audit_token(session: AsyncSession, client: ClientRecord | None, issued: bool) -> None:
    """A token issued, or refused (to a known client, or to no client: the claimed id, which
    could be anything, is not kept)."""
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
        _client_actor(client),
        Action.token_issue if issued else Action.token_refuse,
        "oauth_client",
        [client.client_id],
        [client.organization_id],
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
    return ClientRecord(
        pk=client.id,
        client_id=client.client_id,
        organization_id=client.organization_id,
        scopes=tuple(client.scopes),
        auth_method=client.auth_method,
        secret_hash=client.secret_hash,
        jwks=client.jwks,
        secret_key=settings.secret_key.get_secret_value(),
    )


async def _load_token(
    session: AsyncSession, settings: Settings, value: str | None, now: datetime
) -> TokenRecord | None:
    if not value or len(value) > MAXIMUM_CREDENTIAL_LENGTH:
        return None
    found = await token_repository.find(
        session, keyed_hash(settings.secret_key.get_secret_value(), value)
    )
    if found is None:
        return None
    revoked_at = found.revoked_at
    if found.client_disabled or found.organization_status != "active":
        revoked_at = revoked_at or now
    return TokenRecord(
        token_hash=found.token_hash,
        client_pk=found.client_pk,
        client_id=found.client_id,
        organization_id=found.organization_id,
        scopes=found.scopes,
        issued_at=found.issued_at,
        expires_at=found.expires_at,
        revoked_at=revoked_at,
        now=now,
    )


async def _persist_token(
    session: AsyncSession,
    settings: Settings,
    client: ClientRecord,
    issued: dict[str, Any],
    now: datetime,
) -> None:
    await token_repository.add(
        session,
        OAuthToken(
            token_hash=keyed_hash(settings.secret_key.get_secret_value(), issued["access_token"]),
            client_pk=client.pk,
            organization_id=client.organization_id,
            scopes=issued["scope"].split(),
            issued_at=now,
            expires_at=now + timedelta(seconds=int(issued["expires_in"])),
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
