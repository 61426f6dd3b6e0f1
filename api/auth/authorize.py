"""The authorize step of the authorization code grant (RFC 6749 §4.1.1 to 4.1.2), on objects loaded
beforehand, no I/O: Authlib's ``AuthorizationCodeGrant`` with ``S256CodeChallenge`` checks the
request; this module says what to answer.

- ``check(…)``: the request as sent (the query of ``GET /oauth/authorize``, or the same fields
  posted back by the consent form), for the signed-in person when there is one. Its answer is
  ``Valid`` (show the consent screen), ``ErrorPage`` (the client or the redirect URI cannot be
  trusted: the error is shown to the person, **never** sent to a redirect URI, RFC 6749
  §4.1.2.1) or ``Redirect`` (any other error, sent back to the app with ``error`` and the
  app's ``state``).
- ``approve(…)``: the person said yes: a new code (kept by the service as a keyed hash,
  ``IssuedCode``) and the redirect carrying it.
- ``deny(…)``: the person said no: ``access_denied`` to the app.

Every redirect carries ``iss`` (RFC 9207, against mix-up attacks: RFC 9700 §4.4) and the
``state`` the app sent. The scopes a code grants are those asked (each allowed the client, or
``invalid_scope``), narrowed to the person's role's; none left is ``invalid_scope`` too. An app
registered for its own organisation's people only refuses anyone else's (``access_denied``).
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import (
    AccessDeniedError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Request,
    UnsupportedResponseTypeError,
)

from api.auth.server import (
    ClientRecord,
    IssuedCode,
    Person,
    RequestServer,
    granted_scopes,
)

AUTHORIZE_PATH = "/oauth/authorize"
# What the consent form posts back, beside its own fields (the decision, the CSRF token).
REQUEST_FIELDS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)
MAXIMUM_PARAMETER_LENGTH = 2048


class PersonOfOrganization(Person, Protocol):
    """A signed-in person as the authorize step needs them (``SignedInUser``)."""

    @property
    def organization_id(self) -> uuid.UUID: ...


class ErrorReason(StrEnum):
    """Why the authorize page shows an error instead of sending the person back to the app."""

    client = "client"
    """No client_id, or one that is not a client acting for people (unknown, disabled, its
    organisation suspended, or a client acting for itself)."""
    redirect_uri = "redirect_uri"
    """No redirect_uri, or one not registered for the client."""
    request = "request"
    """A parameter repeated or too long: nothing of the request can be trusted."""


@dataclass(frozen=True)
class ErrorPage:
    reason: ErrorReason


@dataclass(frozen=True)
class Redirect:
    location: str


@dataclass(frozen=True)
class Valid:
    """A request to show the consent screen for."""

    client: ClientRecord
    redirect_uri: str
    state: str | None
    asked: tuple[str, ...]
    """The scopes asked (all the client's when it asked none), each one the client's."""
    granted: tuple[str, ...]
    """What the person would grant: ``asked`` narrowed to their role's (all of ``asked``
    before anyone is signed in)."""
    fields: dict[str, str]
    """The request's fields, for the consent form to post back as they came."""


@dataclass(frozen=True)
class Approved:
    redirect: Redirect
    code: IssuedCode
    granted: tuple[str, ...]


Answer = Valid | ErrorPage | Redirect


class _Query(OAuth2Request):  # type: ignore[misc]
    """The authorize request's parameters (query or posted form), every value kept so that a
    repeated one is seen."""

    def __init__(self, uri: str, pairs: list[tuple[str, str]]) -> None:
        super().__init__("GET", uri)
        self.payload = _Payload(pairs)

    @property
    def args(self) -> dict[str, str]:
        data: dict[str, str] = self.payload.data
        return data

    @property
    def form(self) -> dict[str, str]:
        return {}


class _Payload:
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.datalist: dict[str, list[str]] = {}
        for name, value in pairs:
            self.datalist.setdefault(name, []).append(value)
        self.data = {name: values[0] for name, values in self.datalist.items()}

    def _get(self, name: str) -> str | None:
        return self.data.get(name)

    client_id = property(lambda self: self._get("client_id"))
    redirect_uri = property(lambda self: self._get("redirect_uri"))
    scope = property(lambda self: self._get("scope"))
    state = property(lambda self: self._get("state"))

    @property
    def response_type(self) -> str | None:
        value = self._get("response_type")
        return " ".join(sorted(value.split())) if value and " " in value else value


def _redirect(issuer: str, uri: str, params: list[tuple[str, str]]) -> Redirect:
    return Redirect(add_params_to_uri(uri, [*params, ("iss", issuer)]))


def _error(issuer: str, error: OAuth2Error, state: str | None) -> ErrorPage | Redirect:
    if not error.redirect_uri:
        # Whatever Authlib finds before it trusts the redirect URI was refused earlier
        # (``_untrusted``); anything else is shown, not sent.
        return ErrorPage(ErrorReason.request)
    params = [("error", str(error.error))]
    if error.description:
        params.append(("error_description", str(error.description)))
    if state:
        params.append(("state", state))
    return _redirect(issuer, error.redirect_uri, params)


def _untrusted(pairs: list[tuple[str, str]], client: ClientRecord | None) -> ErrorPage | None:
    """What must be shown to the person rather than sent anywhere (RFC 6749 §4.1.2.1): a
    parameter too long or repeated, no client acting for people by that id, a redirect URI
    missing or not registered for it."""
    names = [name for name, _ in pairs]
    if any(len(value) > MAXIMUM_PARAMETER_LENGTH for _, value in pairs) or any(
        names.count(name) > 1 for name in REQUEST_FIELDS
    ):
        return ErrorPage(ErrorReason.request)
    fields = dict(pairs)
    if client is None or not client.acts_for_people or client.client_id != fields.get("client_id"):
        return ErrorPage(ErrorReason.client)
    redirect_uri = fields.get("redirect_uri")
    if not redirect_uri or not client.check_redirect_uri(redirect_uri):
        return ErrorPage(ErrorReason.redirect_uri)
    return None


@dataclass(frozen=True)
class AuthorizeCall:
    """A request to the authorize endpoint (its fields as pairs, every value kept) with what it
    is checked against: the issuer, the key, the time and the client it names, as loaded
    (None: no such client)."""

    issuer: str
    secret_key: str
    now: datetime
    client: ClientRecord | None
    pairs: list[tuple[str, str]]


def _validated(
    call: AuthorizeCall, person: PersonOfOrganization | None
) -> tuple[Any, Valid] | ErrorPage | Redirect:
    issuer, client = call.issuer, call.client
    untrusted = _untrusted(call.pairs, client)
    if untrusted is not None:
        return untrusted
    assert client is not None
    request = _Query(issuer + AUTHORIZE_PATH, call.pairs)
    state = request.payload.state
    if request.payload.response_type != "code":
        # Answered here: Authlib's own message would repeat what was sent.
        unsupported = UnsupportedResponseTypeError(
            "code",
            description="response_type must be code.",
            redirect_uri=request.payload.redirect_uri,
        )
        return _error(issuer, unsupported, state)
    server = RequestServer(
        issuer=issuer, secret_key=call.secret_key, token_lifetime=60, now=call.now, client=client
    )
    try:
        grant = server.get_consent_grant(request, end_user=person)
    except OAuth2Error as error:
        return _error(issuer, error, state)
    asked = tuple(grant.request.scope.split())
    granted = asked
    if person is not None:
        if not client.any_organization and person.organization_id != client.organization_id:
            refused: OAuth2Error = AccessDeniedError(
                description="This app acts only for the people of its own organisation.",
                redirect_uri=grant.redirect_uri,
            )
            return _error(issuer, refused, state)
        granted = granted_scopes(grant.request.scope, person)
        if not granted:
            refused = InvalidScopeError(
                description="None of the scopes asked is one your role holds.",
                redirect_uri=grant.redirect_uri,
            )
            return _error(issuer, refused, state)
    fields = {name: value for name, value in request.payload.data.items() if name in REQUEST_FIELDS}
    return grant, Valid(client, grant.redirect_uri, state, asked, granted, fields)


def check(call: AuthorizeCall, person: PersonOfOrganization | None = None) -> Answer:
    """The request as sent: the consent screen's ``Valid``, an ``ErrorPage`` or a
    ``Redirect`` with the error (``client``: the client the request names, as loaded)."""
    checked = _validated(call, person)
    return checked[1] if isinstance(checked, tuple) else checked


def approve(call: AuthorizeCall, person: PersonOfOrganization) -> Approved | ErrorPage | Redirect:
    """The person said yes: the request is checked again as posted back, then a new code and
    the redirect carrying it (with ``state`` and ``iss``)."""
    checked = _validated(call, person)
    if not isinstance(checked, tuple):
        return checked
    grant, valid = checked
    grant.request.scope = " ".join(valid.granted)
    _, _, headers = grant.create_authorization_response(valid.redirect_uri, person)
    issued: IssuedCode = grant.server.issued_code
    location = dict(headers)["Location"]
    return Approved(
        redirect=Redirect(add_params_to_uri(location, [("iss", call.issuer)])),
        code=issued,
        granted=valid.granted,
    )


def deny(call: AuthorizeCall, person: PersonOfOrganization | None = None) -> ErrorPage | Redirect:
    """The person said no: ``access_denied`` to the app (or the error page, for a request that
    does not hold)."""
    checked = _validated(call, person)
    if not isinstance(checked, tuple):
        return checked
    _, valid = checked
    refused = AccessDeniedError(
        description="The person did not allow the app.", redirect_uri=valid.redirect_uri
    )
    return _error(call.issuer, refused, valid.state)


def requested_client_id(pairs: list[tuple[str, str]]) -> str | None:
    """The client_id the request names (the first one: a repeated one is refused later)."""
    for name, value in pairs:
        if name == "client_id":
            return value
    return None


def fields_of(form: Mapping[str, str]) -> list[tuple[str, str]]:
    """The request's fields of a posted consent form, as pairs for ``approve`` and ``deny``."""
    return [(name, form[name]) for name in REQUEST_FIELDS if name in form]
