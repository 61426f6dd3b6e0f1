"""Resource-side authentication: bearer token → ``Principal``, scopes checked per route.

Routes declare their protection with one of the aliases at the bottom (``AdminPrincipal`` …),
so the required scope is visible in the signature and in OpenAPI. No credentials or a bad token:
401 with ``WWW-Authenticate: Bearer``. A valid token without the scope: 403
``insufficient_scope``. ``tests/auth/test_route_protection.py`` walks every route to prove it.
"""

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.openapi.models import (
    OAuthFlowAuthorizationCode,
    OAuthFlowClientCredentials,
    OAuthFlows,
)
from fastapi.security import OAuth2, SecurityScopes

from api.auth.holds import token_holds
from api.auth.principal import Principal
from api.auth.ratelimit import Limits, anonymous_key, retry_after_header
from api.auth.scopes import SCOPE_DESCRIPTIONS, Scope
from api.auth.token_cache import TokenCache
from api.auth.tokens import MAXIMUM_CREDENTIAL_LENGTH, keyed_hash
from api.config import Settings
from api.db import Database, Reader
from api.deps import SessionDep, read_own_writes
from api.errors import BadRequest, InsufficientScope, TooManyRequests, Unauthenticated
from api.models.people import UserRole
from api.repositories import tokens as token_repository

ACTING_USER_HEADER = "X-Acting-User"
PURPOSE_OF_USE_HEADER = "X-Purpose-Of-Use"
_ACTING_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
_PURPOSE_OF_USE = re.compile(r"[A-Za-z][A-Za-z0-9._:-]{0,63}")

_SCOPES = {scope.value: text for scope, text in SCOPE_DESCRIPTIONS.items()}
oauth2_scheme = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(tokenUrl="/oauth/token", scopes=_SCOPES),
        authorizationCode=OAuthFlowAuthorizationCode(
            authorizationUrl="/oauth/authorize",
            tokenUrl="/oauth/token",
            refreshUrl="/oauth/token",
            scopes=_SCOPES,
        ),
    ),
    scheme_name="oauth2",
    description="OAuth 2.0: client credentials for a partner's system; the authorization code "
    "grant with PKCE (S256) for an app acting for a person, whose tokens carry at most the "
    "person's role's scopes. Send the token as `Authorization: Bearer …`.",
    auto_error=False,
)


async def _limits(request: Request) -> Limits:
    limits: Limits = request.app.state.limits
    return limits


LimitsDep = Annotated[Limits, Depends(_limits)]


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("This operation needs a bearer token.", invalid_token=False)
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise Unauthenticated(
            "Send the token as 'Authorization: Bearer <token>'.", invalid_token=False
        )
    if len(value) > MAXIMUM_CREDENTIAL_LENGTH:
        raise Unauthenticated("The access token is not valid.", invalid_token=True)
    return value


def _context_header(request: Request, name: str, pattern: re.Pattern[str]) -> str | None:
    value = request.headers.get(name)
    if value is None:
        return None
    if not pattern.fullmatch(value):
        raise BadRequest(f"{name} must match {pattern.pattern}.")
    return value


async def authenticate(
    security_scopes: SecurityScopes,
    request: Request,
    session: SessionDep,
    authorization: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    return await _principal(security_scopes, request, session, authorization)


async def _principal(
    security_scopes: SecurityScopes,
    request: Request,
    database: Database,
    authorization: str | None,
) -> Principal:
    # Settings and limits from the application's state, not as dependencies of their own:
    # every request runs this, and each dependency costs FastAPI a resolution.
    settings: Settings = request.app.state.settings
    limits: Limits = request.app.state.limits
    cache: TokenCache = request.app.state.token_cache
    value = _bearer(authorization)
    token_hash = keyed_hash(settings.secret_key.get_secret_value(), value)
    found = cache.get(token_hash)
    if found is None:
        generation = cache.generation()
        found = await token_repository.find(database, token_hash)
        if found is None and isinstance(database, Reader) and database.on_replica:
            # A token issued a moment ago may not have reached the replica yet.
            await database.to_primary()
            found = await token_repository.find(database, token_hash)
        if found is not None and token_holds(found):
            cache.keep(token_hash, found, generation)
    if found is None or not token_holds(found) or found.expires_at <= datetime.now(UTC):
        raise Unauthenticated("The access token is not valid.", invalid_token=True)

    person = found.person
    # An app acting for a person has a budget per person: its other people are not slowed.
    wait = limits.requests_by_client.hit(
        found.client_id if person is None else f"{found.client_id}/{person.user_id}"
    )
    if wait > 0:
        raise TooManyRequests(
            "This client sent too many requests; slow down.", headers=retry_after_header(wait)
        )
    purpose_of_use = _context_header(request, PURPOSE_OF_USE_HEADER, _PURPOSE_OF_USE)
    if person is None:
        principal = Principal(
            client_id=found.client_id,
            client_pk=found.client_pk,
            organization_id=found.organization_id,
            scopes=frozenset(found.scopes),
            expires_at=found.expires_at,
            acting_user=_context_header(request, ACTING_USER_HEADER, _ACTING_USER),
            purpose_of_use=purpose_of_use,
        )
    else:
        # The person is the actor: X-Acting-User is not read (it cannot name someone else).
        principal = Principal.of_person(
            user_id=person.user_id,
            organization_id=found.organization_id,
            role=UserRole(person.role),
            expires_at=found.expires_at,
            client_id=found.client_id,
            client_pk=found.client_pk,
            granted=frozenset(found.scopes),
            purpose_of_use=purpose_of_use,
        )
    missing = [scope for scope in security_scopes.scopes if scope not in principal.scopes]
    if missing:
        raise InsufficientScope(missing)
    if Scope.directory_write in principal.scopes or Scope.admin in principal.scopes:
        # A caller that may write the directory reads it from the primary: it sees its own
        # changes at once, whatever a replica's lag (docs/scaling.md).
        read_own_writes(request)
        if isinstance(database, Reader):
            await database.to_primary()
    return principal


async def authenticate_if_present(
    request: Request,
    session: SessionDep,
    authorization: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal | None:
    """For routes open to anonymous callers: None without credentials, and 401 (never a silent
    downgrade to anonymous) for credentials that do not hold."""
    if authorization is None:
        return None
    return await _principal(SecurityScopes([]), request, session, authorization)


def charge_anonymous(request: Request) -> None:
    """Count one expensive request of a caller without a token against its address's budget
    (``RELAY_ANONYMOUS_REQUESTS_PER_MINUTE``); 429 with ``Retry-After`` beyond it. So that one
    address cannot take the database from everyone else, while a person clicking through the
    lookup page stays far below it. Partners are counted per client instead."""
    limits: Limits = request.app.state.limits
    client = request.client
    wait = limits.anonymous_requests.hit(anonymous_key(client.host if client else None))
    if wait > 0:
        raise TooManyRequests(
            "Too many searches from your address without a token; wait before asking again "
            "(partners: send your access token, which has its own budget).",
            headers=retry_after_header(wait),
        )


async def metered_if_anonymous(
    request: Request,
    session: SessionDep,
    authorization: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal | None:
    """``authenticate_if_present`` for the expensive anonymous routes: a caller without a token
    is charged to its address's budget first."""
    if authorization is None:
        charge_anonymous(request)
        return None
    return await _principal(SecurityScopes([]), request, session, authorization)


async def principal_if_present(
    request: Request, database: Database, authorization: str | None, *, metered: bool = False
) -> Principal | None:
    """``authenticate_if_present`` called from a handler, for a route that declares
    ``BearerIfPresent`` and reads on a ``Reader`` it opens itself (the search); ``metered``:
    charge a caller without a token as ``metered_if_anonymous`` does."""
    if authorization is None:
        if metered:
            charge_anonymous(request)
        return None
    return await _principal(SecurityScopes([]), request, database, authorization)


def requires(*scopes: Scope) -> object:
    """The dependency a route declares: a valid token with every one of ``scopes``."""
    return Security(authenticate, scopes=[scope.value for scope in scopes])


Authenticated = Annotated[Principal, requires()]
AnonymousOrPrincipal = Annotated[Principal | None, Depends(authenticate_if_present)]
# The same, on the routes that cost the database most (docs/security.md, "Limits"): a caller
# without a token is counted against its address's budget.
MeteredAnonymousOrPrincipal = Annotated[Principal | None, Depends(metered_if_anonymous)]
# The bearer credentials as sent (or None), for ``principal_if_present``.
BearerIfPresent = Annotated[str | None, Depends(oauth2_scheme)]
AdminPrincipal = Annotated[Principal, requires(Scope.admin)]
DirectoryReader = Annotated[Principal, requires(Scope.directory_read)]
DirectoryWriter = Annotated[Principal, requires(Scope.directory_write)]
ReferralsSender = Annotated[Principal, requires(Scope.referrals_send)]
ReferralsReceiver = Annotated[Principal, requires(Scope.referrals_receive)]
WebhooksManager = Annotated[Principal, requires(Scope.webhooks_manage)]
AuditReader = Annotated[Principal, requires(Scope.audit_read)]
StatsReader = Annotated[Principal, requires(Scope.stats_read)]
