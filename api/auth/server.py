"""The OAuth 2.0 authorization server, on Authlib's server classes.

Authlib's server core is synchronous, so each request is handled in three steps: the service
loads the client (and, for introspection and revocation, the token) from the database
asynchronously; an ``AuthorizationServer`` built for that one request runs Authlib's grant or
endpoint on those in-memory objects in a worker thread; the service then persists what Authlib
decided (the issued token, the used assertion ``jti``, the revocation). Nothing here does I/O.

Client authentication: ``client_secret_basic`` and ``client_secret_post`` (Authlib's), and
``private_key_jwt`` (RFC 7523, verified with joserfc: only the algorithms in
``SIGNING_ALGORITHMS``, the key chosen by ``kid`` from the client's registered JWKS, ``aud`` the
token endpoint or issuer, ``exp`` at most five minutes ahead, ``jti`` required); ``none`` for a
public client (a partner's mobile app), which only ever exchanges a code or a refresh token.

Grants: ``client_credentials`` for a client acting for itself; for an app acting for a person
(a client with redirect URIs), ``authorization_code`` with PKCE (S256 only, always) and
``refresh_token``, rotated on every use. A client has one kind or the other, never both.
"""

import base64
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol
from urllib.parse import unquote

from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    AuthorizationServer,
    ClientMixin,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Request,
    TokenMixin,
)
from authlib.oauth2.rfc6749.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from api.auth import redirect_uris
from api.auth.principal import person_pseudonym
from api.auth.scopes import Scope, parse_scopes, unknown_scopes
from api.auth.tokens import (
    keyed_hash,
    matches,
    new_access_token,
    new_authorization_code,
    new_refresh_token,
)
from api.models.oauth import ClientAuthMethod

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SIGNING_ALGORITHMS = ("RS256", "RS384", "PS256", "ES256", "ES384")
MAXIMUM_ASSERTION_LIFETIME = timedelta(minutes=5)
CLOCK_LEEWAY = timedelta(seconds=30)
MAXIMUM_ASSERTION_LENGTH = 8192
AUTH_METHODS = [method.value for method in ClientAuthMethod]
"""Every client authentication method: the code and refresh grants take them all."""
CONFIDENTIAL_AUTH_METHODS = [m for m in AUTH_METHODS if m != ClientAuthMethod.none.value]
"""The methods of clients that hold a credential: client credentials and introspection."""
PERSON_GRANT_TYPES = ("authorization_code", "refresh_token")
CODE_CHALLENGE_METHOD = "S256"
AUTHORIZATION_CODE_LIFETIME = timedelta(seconds=60)
NO_STORE_HEADERS = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
]


@dataclass(frozen=True)
class ClientRecord(ClientMixin):  # type: ignore[misc]
    """An OAuth client as Authlib sees it, loaded before the request is handled."""

    pk: uuid.UUID
    client_id: str
    organization_id: uuid.UUID
    scopes: tuple[str, ...]
    auth_method: str
    secret_hash: str | None
    jwks: Mapping[str, Any] | None
    secret_key: str = field(repr=False)
    name: str = ""
    redirect_uris: tuple[str, ...] = ()
    any_organization: bool = False

    @property
    def acts_for_people(self) -> bool:
        """A client with redirect URIs acts for people (the authorization code grant), one
        without for itself (client credentials)."""
        return bool(self.redirect_uris)

    @property
    def public(self) -> bool:
        return self.auth_method == ClientAuthMethod.none.value

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        # Always sent, always matched (OAuth 2.1): never implied by a single registered one.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        # The grant refused anything outside self.scopes already: never narrowed silently here.
        return scope or " ".join(self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uris.matches(self.redirect_uris, redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        return matches(self.secret_key, client_secret, self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and self.acts_for_people

    def check_grant_type(self, grant_type: str) -> bool:
        if self.acts_for_people:
            return grant_type in PERSON_GRANT_TYPES
        return grant_type == "client_credentials" and not self.public


class _ClientsToken(TokenMixin):  # type: ignore[misc]
    """What Authlib asks alike of an access token and a refresh token: the client it was
    issued to, its scopes, and whether it is past its end at ``now``."""

    client_pk: uuid.UUID
    scopes: tuple[str, ...]
    expires_at: datetime
    now: datetime

    def check_client(self, client: ClientRecord) -> bool:
        return client.pk == self.client_pk

    def get_scope(self) -> str:
        return " ".join(self.scopes)

    def is_expired(self) -> bool:
        return self.expires_at <= self.now


@dataclass(frozen=True)
class TokenRecord(_ClientsToken):
    """An issued access token as Authlib sees it, loaded by its hash."""

    token_hash: str
    client_pk: uuid.UUID
    client_id: str
    organization_id: uuid.UUID
    scopes: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    now: datetime
    user_id: uuid.UUID | None = None
    """The person an app's token acts for; None for a client's own."""

    def get_expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class CodeRecord(AuthorizationCodeMixin):  # type: ignore[misc]
    """A stored authorization code as Authlib sees it, loaded by its hash."""

    code_hash: str
    client_pk: uuid.UUID
    user_id: uuid.UUID
    user_generation: int
    redirect_uri: str
    scopes: tuple[str, ...]
    code_challenge: str
    expires_at: datetime
    used: bool
    code_challenge_method: str = CODE_CHALLENGE_METHOD

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return " ".join(self.scopes)


@dataclass(frozen=True)
class RefreshRecord(_ClientsToken):
    """A stored refresh token with its family, as Authlib sees it, loaded by its hash."""

    token_hash: str
    family_id: uuid.UUID
    client_pk: uuid.UUID
    user_id: uuid.UUID
    user_generation: int
    scopes: tuple[str, ...]
    expires_at: datetime
    """The refresh token's own end (idle), never past the family's."""
    family_expires_at: datetime
    used: bool
    family_revoked: bool
    now: datetime

    def get_expires_in(self) -> int:
        return int((self.expires_at - self.now).total_seconds())

    def is_expired(self) -> bool:
        return super().is_expired() or self.family_expires_at <= self.now

    def is_revoked(self) -> bool:
        return self.used or self.family_revoked


@dataclass(frozen=True)
class IssuedCode:
    """A code the authorize step issued: what the service stores (by hash)."""

    code: str
    redirect_uri: str
    scopes: tuple[str, ...]
    code_challenge: str


@dataclass(frozen=True)
class UsedAssertion:
    jti: str
    expires_at: datetime


class FormRequest(OAuth2Request):  # type: ignore[misc]
    """An OAuth request whose form the router has already read."""

    def __init__(self, uri: str, headers: Mapping[str, str], form: dict[str, str]) -> None:
        # Authlib reads headers with .get("Authorization"): keep the case-insensitive mapping.
        super().__init__("POST", uri, headers=headers)
        self._form = form
        self.payload = BasicOAuth2Payload(form)
        self.assertion: UsedAssertion | None = None

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


def basic_credentials(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """The client id and secret of an ``Authorization: Basic`` header (RFC 6749 §2.3.1: each
    form-urlencoded, then ``id:secret`` in UTF-8 as base64), None without one.

    Read strictly, before Authlib reads it again: credentials that are not base64, not UTF-8
    (which Authlib lets through as an exception, a 500) or have no colon are a failed client
    authentication, ``invalid_client``, like wrong ones."""
    authorization = headers.get("Authorization")
    if authorization is None:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    refused = InvalidClientError(status_code=401, description="Malformed Basic credentials.")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except ValueError as error:  # not base64 (binascii.Error), not ASCII, not UTF-8
        raise refused from error
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise refused
    return unquote(client_id), unquote(secret)


def peek_assertion_subject(assertion: str) -> str | None:
    """The ``sub`` of an unverified assertion: only to know which client's keys to load."""
    if len(assertion) > MAXIMUM_ASSERTION_LENGTH:
        return None
    try:
        claims = json.loads(jws.extract_compact(assertion.encode()).payload)
    except (JoseError, ValueError, UnicodeDecodeError):
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return subject if isinstance(subject, str) else None


class PrivateKeyJwt:
    """``private_key_jwt`` client authentication (RFC 7523 §2.2, OpenID Connect Core §9)."""

    def __init__(self, audiences: set[str], now: datetime) -> None:
        self.audiences = audiences
        self.now = now

    def __call__(
        self, query_client: Callable[[str], ClientRecord | None], request: FormRequest
    ) -> ClientRecord | None:
        form = request.form
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return None
        assertion = form.get("client_assertion") or ""
        subject = peek_assertion_subject(assertion)
        if subject is None:
            raise InvalidClientError(status_code=401, description="Malformed client assertion.")
        if form.get("client_id") not in (None, subject):
            raise InvalidClientError(status_code=401, description="client_id does not match.")
        client = query_client(subject)
        if client is None or client.auth_method != ClientAuthMethod.private_key_jwt:
            raise InvalidClientError(status_code=401, description="Unknown client.")
        try:
            keys = KeySet.import_key_set(dict(client.jwks or {}))  # type: ignore[arg-type]
            token = jwt.decode(assertion, keys, algorithms=list(SIGNING_ALGORITHMS))
        except (JoseError, ValueError) as error:
            raise InvalidClientError(
                status_code=401, description="The client assertion signature is not valid."
            ) from error
        request.assertion = self._validate(token.claims, client.client_id)
        return client

    def _validate(self, claims: Mapping[str, Any], client_id: str) -> UsedAssertion:
        def refuse(description: str) -> InvalidClientError:
            return InvalidClientError(status_code=401, description=description)

        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise refuse("The assertion's iss and sub must both be the client_id.")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if not any(isinstance(item, str) and item in self.audiences for item in audiences):
            raise refuse("The assertion's aud must be the token endpoint or the issuer.")
        expires = _instant(claims.get("exp"))
        if expires is None:
            raise refuse("The assertion needs a numeric exp.")
        if expires <= self.now - CLOCK_LEEWAY:
            raise refuse("The assertion has expired.")
        if expires > self.now + MAXIMUM_ASSERTION_LIFETIME + CLOCK_LEEWAY:
            raise refuse("The assertion's exp is more than five minutes ahead.")
        for name in ("nbf", "iat"):
            if name in claims:
                moment = _instant(claims[name])
                if moment is None or moment > self.now + CLOCK_LEEWAY:
                    raise refuse(f"The assertion's {name} is in the future or not a number.")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 1 <= len(jti) <= 256:
            raise refuse("The assertion needs a jti.")
        return UsedAssertion(jti=jti, expires_at=expires + CLOCK_LEEWAY)


def _instant(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def check_requested_scopes(request: OAuth2Request) -> None:
    """The scopes asked: known ones the client is allowed, each once (``invalid_scope``
    otherwise, never narrowed silently)."""
    requested = parse_scopes(request.payload.scope)
    if unknown_scopes(requested):
        raise InvalidScopeError(description="A requested scope does not exist.")
    allowed = set(request.client.scopes)
    refused = sorted(scope for scope in requested if scope not in allowed)
    if refused:
        # Only known scope names reach this message: nothing the caller typed is echoed.
        raise InvalidScopeError(
            description="The client is not allowed the scope " + " ".join(refused) + "."
        )
    # A repeated scope is normalised so the issued token lists each once.
    if requested:
        request.payload.data["scope"] = " ".join(requested)


class RelayClientCredentialsGrant(ClientCredentialsGrant):  # type: ignore[misc]
    # Every method, "none" included: a public client is then told unauthorized_client (its
    # check_grant_type), rather than counted as a failed authentication.
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_requested_scope(self) -> None:
        check_requested_scopes(self.request)


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE (RFC 7636) as RFC 9700 §2.1.1 wants it: of every client, public or confidential,
    on every authorization request, S256 only (``plain`` would show the verifier to whoever
    sees the request); a code always has a challenge, so its exchange always needs the
    verifier."""

    DEFAULT_CODE_CHALLENGE_METHOD = CODE_CHALLENGE_METHOD
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = [CODE_CHALLENGE_METHOD]
    CODE_CHALLENGE_METHODS: ClassVar[dict[str, Callable[[str, str], bool]]] = {
        CODE_CHALLENGE_METHOD: compare_s256_code_challenge
    }

    def validate_code_challenge(self, grant: Any, redirect_uri: str | None) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError(
                description="PKCE is required: send code_challenge and code_challenge_method=S256."
            )
        if data.get("code_challenge_method") != CODE_CHALLENGE_METHOD:
            raise InvalidRequestError(description="code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class Person(Protocol):
    """A signed-in person as the grants need them (``SignedInUser``)."""

    @property
    def user_id(self) -> uuid.UUID: ...

    @property
    def scopes(self) -> frozenset[str]: ...


def granted_scopes(asked: str, person: Person) -> tuple[str, ...]:
    """What a person lets an app do: the scopes asked (already within the client's), narrowed
    to the person's role's (``api/auth/roles.py``), in the order asked."""
    return tuple(scope for scope in parse_scopes(asked) if scope in person.scopes)


class RelayAuthorizationCodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    """RFC 6749 §4.1 on objects loaded beforehand: the code (``RequestServer.code``) and the
    person it was issued for, if their account still holds (``RequestServer.person``)."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    server: "RequestServer"

    def validate_requested_scope(self) -> None:
        check_requested_scopes(self.request)

    def generate_authorization_code(self) -> str:
        return new_authorization_code()

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        self.server.issued_code = IssuedCode(
            code=code,
            redirect_uri=request.payload.redirect_uri,
            scopes=granted_scopes(request.scope, request.user),
            code_challenge=request.payload.data["code_challenge"],
        )

    def query_authorization_code(self, code: str, client: ClientRecord) -> "CodeRecord | None":
        return self.server.find_code(code, client)

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        self.server.used_code = authorization_code

    def authenticate_user(self, authorization_code: CodeRecord) -> Person | None:
        return self.server.person


class RelayRefreshTokenGrant(RefreshTokenGrant):  # type: ignore[misc]
    """RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every use gives a new refresh token of
    the same family and uses this one up; the refresh token and the person were loaded
    beforehand (``RequestServer.refresh``, ``RequestServer.person``)."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: "RequestServer"

    def validate_token_request(self) -> None:
        super().validate_token_request()
        if self.server.person is None:
            raise InvalidGrantError(description="The refresh token is not valid.")

    def _validate_token_scope(self, token: "RefreshRecord") -> None:
        """A refresh may ask fewer scopes than were granted, never more: what it asks beyond
        the grant is left out (the answer's ``scope`` says what was given; an app asking the
        same wide scope for every person, as Authlib's client does again at each refresh, is
        narrowed here as it was at the code), none of the grant's left is ``invalid_scope``."""
        asked = parse_scopes(self.request.payload.scope)
        if not asked:
            return
        if unknown_scopes(asked):
            raise InvalidScopeError(description="A requested scope does not exist.")
        kept = [scope for scope in asked if scope in token.scopes]
        if not kept:
            raise InvalidScopeError(description="None of the scopes asked was granted.")
        self.request.payload.data["scope"] = " ".join(kept)

    def authenticate_refresh_token(self, refresh_token: str) -> "RefreshRecord | None":
        return self.server.find_refresh(refresh_token)

    def authenticate_user(self, refresh_token: RefreshRecord) -> Person | None:
        return self.server.person

    def revoke_old_credential(self, refresh_token: RefreshRecord) -> None:
        self.server.rotated = refresh_token


class PreloadedToken:
    """For the token endpoints (introspection, revocation): the token was loaded beforehand."""

    CLIENT_AUTH_METHODS = AUTH_METHODS
    SUPPORTED_TOKEN_TYPES: tuple[str, ...] = ("access_token",)

    def __init__(self, server: "RequestServer") -> None:
        super().__init__(server)  # type: ignore[call-arg]
        self.relay = server

    def query_token(
        self, token_string: str, token_type_hint: str | None
    ) -> "TokenRecord | RefreshRecord | None":
        found = self.relay.find_token(token_string)
        if found is None and "refresh_token" in self.SUPPORTED_TOKEN_TYPES:
            return self.relay.find_refresh(token_string, usable_only=False)
        return found


class RelayIntrospection(PreloadedToken, IntrospectionEndpoint):  # type: ignore[misc]
    """Access tokens only, by confidential clients (a resource server holds a credential); a
    refresh token answers ``{"active": false}``."""

    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def check_permission(
        self, token: TokenRecord, client: ClientRecord, request: FormRequest
    ) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: TokenRecord) -> dict[str, Any]:
        subject = token.client_id if token.user_id is None else person_pseudonym(token.user_id)
        return {
            "active": True,
            "token_type": "Bearer",
            "client_id": token.client_id,
            "sub": subject,
            "scope": token.get_scope(),
            "iss": self.relay.issuer,
            "iat": int(token.issued_at.timestamp()),
            "exp": int(token.expires_at.timestamp()),
            "organization_id": str(token.organization_id),
        }


class RelayRevocation(PreloadedToken, RevocationEndpoint):  # type: ignore[misc]
    """Access tokens and refresh tokens (RFC 7009 §2: a refresh token's revocation ends its
    whole family, the access tokens it gave included)."""

    SUPPORTED_TOKEN_TYPES = ("access_token", "refresh_token")

    def authenticate_token(
        self, request: FormRequest, client: ClientRecord
    ) -> "TokenRecord | RefreshRecord | None":
        """Another client's token is answered like an unknown one (RFC 7009 §2.2: 200, nothing
        revoked), never with an error: the answer must not tell a client that a token it holds
        is valid for someone else (Authlib answers ``invalid_grant``)."""
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        return token if token is not None and token.check_client(client) else None

    def revoke_token(self, token: "TokenRecord | RefreshRecord", request: FormRequest) -> None:
        self.relay.revoked = token


class RequestServer(AuthorizationServer):  # type: ignore[misc]
    """An authorization server for one request, over objects loaded before it runs."""

    def __init__(
        self,
        *,
        issuer: str,
        secret_key: str,
        token_lifetime: int,
        now: datetime,
        client: ClientRecord | None,
        token: TokenRecord | None = None,
        code: CodeRecord | None = None,
        refresh: RefreshRecord | None = None,
        person: Person | None = None,
        family_ends_at: datetime | None = None,
    ) -> None:
        """``code``, ``refresh``: the code or refresh token the request names, loaded by its
        hash; ``person``: the one they were issued for, if their account still holds;
        ``family_ends_at``: when the family of refresh tokens the request would add to ends
        (no access token outlives it)."""
        super().__init__(scopes_supported=[scope.value for scope in Scope])
        self.issuer = issuer
        self.secret_key = secret_key
        self.token_lifetime = token_lifetime
        self.now = now
        self._client = client
        self._token = token
        self._code = code
        self._refresh = refresh
        self.person = person
        self.family_ends_at = family_ends_at
        self.issued: dict[str, Any] | None = None
        self.revoked: TokenRecord | RefreshRecord | None = None
        self.issued_code: IssuedCode | None = None
        self.used_code: CodeRecord | None = None
        self.rotated: RefreshRecord | None = None
        self.register_grant(RelayClientCredentialsGrant)
        self.register_grant(RelayAuthorizationCodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(RelayRefreshTokenGrant)
        self.register_client_auth_method(
            ClientAuthMethod.private_key_jwt.value,
            PrivateKeyJwt({issuer, issuer + "/oauth/token"}, now),
        )
        self.register_token_generator("default", self._generate_token)
        self.register_endpoint(RelayIntrospection(self))
        self.register_endpoint(RelayRevocation(self))

    def query_client(self, client_id: str) -> ClientRecord | None:
        client = self._client
        return client if client is not None and client.client_id == client_id else None

    def _matches(self, value: str, stored_hash: str) -> bool:
        return len(value) <= 512 and keyed_hash(self.secret_key, value) == stored_hash

    def find_token(self, token_string: str) -> TokenRecord | None:
        token = self._token
        if token is None or not self._matches(token_string, token.token_hash):
            return None
        return token

    def find_code(self, code: str, client: ClientRecord) -> CodeRecord | None:
        """The code, if it is this client's, not used and not expired (a used one is
        answered here as an unknown one; the service revokes what it gave)."""
        found = self._code
        if found is None or not self._matches(code, found.code_hash):
            return None
        if found.client_pk != client.pk or found.used or found.expires_at <= self.now:
            return None
        return found

    def find_refresh(self, value: str, *, usable_only: bool = True) -> RefreshRecord | None:
        """The refresh token, if it may still be used (or, for revocation, whatever its
        state)."""
        found = self._refresh
        if found is None or not self._matches(value, found.token_hash):
            return None
        if usable_only and (found.is_revoked() or found.is_expired()):
            return None
        return found

    def save_token(self, token: dict[str, Any], request: FormRequest) -> None:
        self.issued = token

    def create_oauth2_request(self, request: FormRequest) -> FormRequest:
        return request

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def _generate_token(
        self,
        grant_type: str,
        client: ClientRecord,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = False,
    ) -> dict[str, Any]:
        lifetime = self.token_lifetime
        if self.family_ends_at is not None:
            left = int((self.family_ends_at - self.now).total_seconds())
            lifetime = max(1, min(lifetime, left))
        token = {
            "token_type": "Bearer",
            "access_token": new_access_token(),
            "expires_in": lifetime,
            "scope": client.get_allowed_scope(scope),
        }
        if include_refresh_token and grant_type in PERSON_GRANT_TYPES:
            token["refresh_token"] = new_refresh_token()
        return token


def refuse_repeated_parameters(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """RFC 6749 §3.1/§3.2: request parameters must not be included more than once."""
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequestError(description="A request parameter is repeated.")
        form[name] = value
    return form
