"""The web session of Relay's own pages over HTTP: its cookie, the CSRF token of every form,
who is signed in. The rules (steps, ends, rotation) are ``api/services/people/sessions.py``'s.

For pages and endpoints built on it (the OAuth authorization endpoint, the next issues' pages):

- ``await person_or_none(request)``: the ``SignedInUser`` of this request's session, or None;
- ``SignedInPerson`` (a ``SignedInUser``) and ``PersonPrincipal`` (the ``Principal`` the services
  take), dependencies that redirect (303) to ``/app/sign-in?next=<this page>`` when nobody is
  signed in;
- ``csrf_field(request)`` in a template (``{{ csrf() }}`` on the app's pages), and
  ``check_csrf(request, form)`` before acting on a POST (``CsrfRefused``: a 403 page);
- ``safe_next(value)``: a local path to go to after signing in, or None.

**Cookie**: ``__Host-relay_session`` with ``Secure`` outside development (``relay_session`` in
development, served over http on this machine), ``HttpOnly``, ``SameSite=Lax``, ``Path=/``, no
``Domain``, no ``Max-Age`` (it goes with the browser; the server ends it before). Its value is
256 random bits; a value that names no session is replaced, never adopted. ``Path=/`` (and so
the ``__Host-`` prefix, which allows no other and refuses a cookie set by a sibling domain) because
the OAuth authorization endpoint reads it too; the price: a request carrying it is answered
uncompressed (BREACH, ``api/compression.py``), the lookup pages of a person signed in too.
Beside it, a completed sign-in leaves a device token (``__Secure-relay_device``,
``Path=/app/sign-in``: only the sign-in steps get it back; a year, ``SameSite=Strict``), which
opens nothing: the sign-in throttle counts the failures of a browser that brings it on that
browser alone (``api/services/people/throttle.py``). One per browser: the last person signed in
on a shared phone.

**CSRF**: the session's secret (32 random bytes) goes into each form masked by a new random pad
(``pad || pad XOR secret``, base64url), so that the token differs in every response and a
compressed page cannot leak it byte by byte (BREACH); the check unmasks it and compares in
constant time. Besides: a ``Sec-Fetch-Site`` other than ``same-origin`` (or ``none``) and an
``Origin`` other than Relay's are refused. Relay's pages send ``Referrer-Policy: no-referrer``,
under which browsers send ``Origin: null`` with the pages' own form posts (the Fetch standard),
so ``null`` is not refused: the token is what always decides.
"""

import base64
import binascii
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Request
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.responses import Response

from api.auth.dependencies import charge_anonymous
from api.auth.principal import Principal
from api.auth.ratelimit import Limits, anonymous_key
from api.config import Environment, Settings
from api.db import transaction
from api.deps import SessionDep
from api.errors import TooManyRequests
from api.services.people import SignedInUser, sessions
from api.services.people.sessions import Visitor
from api.web.i18n import LANGUAGES

COOKIE_NAME = "relay_session"
SECURE_COOKIE_NAME = "__Host-relay_session"
DEVICE_COOKIE_NAME = "relay_device"
SECURE_DEVICE_COOKIE_NAME = "__Secure-relay_device"
DEVICE_COOKIE_PATH = "/app/sign-in"
"""Only the sign-in steps read it (``/app/sign-in``, ``/code``, ``/recovery``): other requests
do not carry it, so that it keeps no page uncompressed (``api/compression.py``)."""
DEVICE_COOKIE_DAYS = 365
MAXIMUM_DEVICE_TOKEN_LENGTH = 128
CSRF_FIELD = "csrf_token"
SIGN_IN_PATH = "/app/sign-in"
HOME_PATH = "/app"
MAXIMUM_NEXT_LENGTH = 2048
_PAD_BYTES = sessions.CSRF_SECRET_BYTES
_STATE = "relay_web_session"


class SignInRequired(Exception):
    """Nobody is signed in (or the session ended): answered with a redirect to the sign-in
    page, which comes back to ``next``."""

    def __init__(self, next_path: str | None) -> None:
        super().__init__("sign-in required")
        self.next_path = next_path


class CsrfRefused(Exception):
    """A form post without this session's token, or from another site: answered 403."""


class TooManySessions(Exception):
    """An address asking for new sessions faster than its budget: answered 429."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many new sessions")
        self.retry_after = retry_after


@dataclass
class _PerRequest:
    resolved: bool = False
    visitor: Visitor | None = None
    new_value: str | None = None
    """A new session's cookie value, to set on the response."""
    clear: bool = False
    """The cookie named no session that holds: delete it."""
    device: str | None = None
    """A device token to keep in the browser (a sign-in completed)."""


def _per_request(request: Request) -> _PerRequest:
    found = getattr(request.state, _STATE, None)
    if found is None:
        found = _PerRequest()
        setattr(request.state, _STATE, found)
    assert isinstance(found, _PerRequest)
    return found


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def secure_cookie(settings: Settings) -> bool:
    return settings.environment is not Environment.development


def cookie_name(settings: Settings) -> str:
    return SECURE_COOKIE_NAME if secure_cookie(settings) else COOKIE_NAME


def device_cookie_name(settings: Settings) -> str:
    return SECURE_DEVICE_COOKIE_NAME if secure_cookie(settings) else DEVICE_COOKIE_NAME


def device_of(request: Request) -> str | None:
    """The device token an earlier sign-in gave this browser (``throttle``), if any: the sign-in
    steps count its failures on that device alone."""
    token = request.cookies.get(device_cookie_name(_settings(request)))
    return token if token and len(token) <= MAXIMUM_DEVICE_TOKEN_LENGTH else None


def remember_device(request: Request, token: str) -> None:
    """Keep a completed sign-in's device token in the browser (set by ``finish``)."""
    if token:
        _per_request(request).device = token


async def current_visitor(request: Request, session: AsyncSession) -> Visitor | None:
    """This request's session, read once per request (and its last use noted)."""
    state = _per_request(request)
    if not state.resolved:
        settings = _settings(request)
        value = request.cookies.get(cookie_name(settings))
        state.visitor = await sessions.open_visitor(session, settings, value)
        state.resolved = True
        state.clear = bool(value) and state.visitor is None
    return state.visitor


async def person_or_none(
    request: Request, session: AsyncSession | None = None
) -> SignedInUser | None:
    """The person signed in through this request's session, or None. Give the request's
    database session when there is one; without it, one of its own is opened."""
    if session is None and not _per_request(request).resolved:
        async with transaction(request.app.state.sessionmaker) as own:
            visitor = await current_visitor(request, own)
    elif session is None:
        visitor = _per_request(request).visitor
    else:
        visitor = await current_visitor(request, session)
    return visitor.person if visitor is not None else None


def here(request: Request) -> str | None:
    """Where to come back to after signing in: this page (the page of a form posted: every
    form's address is its page's too)."""
    if request.method != "GET":
        return safe_next(request.url.path)
    query = request.url.query
    return safe_next(request.url.path + (f"?{query}" if query else ""))


async def _signed_in_visitor(request: Request, session: SessionDep) -> Visitor:
    visitor = await current_visitor(request, session)
    if visitor is None or visitor.person is None:
        raise SignInRequired(here(request))
    return await keep_language(request, session, visitor)


async def keep_language(request: Request, session: AsyncSession, visitor: Visitor) -> Visitor:
    """A language chosen by the switch (``?lang=``) is kept for the session's next pages."""
    requested = request.query_params.get("lang")
    if requested in LANGUAGES and requested != visitor.language:
        visitor = await sessions.choose_language(session, visitor, requested)
        replace_visitor(request, visitor)
    return visitor


async def _signed_in_person(
    visitor: Annotated[Visitor, Depends(_signed_in_visitor)],
) -> SignedInUser:
    assert visitor.person is not None
    return visitor.person


def principal_of(request: Request, visitor: Visitor) -> Principal:
    """Whom a signed-in visitor acts as, for the services (a page that also needs the visitor
    itself takes ``SignedInVisitor`` and asks this)."""
    return visitor.principal(_settings(request))


async def _person_principal(
    request: Request, visitor: Annotated[Visitor, Depends(_signed_in_visitor)]
) -> Principal:
    return principal_of(request, visitor)


SignedInVisitor = Annotated[Visitor, Depends(_signed_in_visitor)]
SignedInPerson = Annotated[SignedInUser, Depends(_signed_in_person)]
PersonPrincipal = Annotated[Principal, Depends(_person_principal)]
SIGNED_IN_DEPENDENCIES = (_signed_in_visitor,)
"""What a page that needs a signed-in person depends on (tests/auth/test_route_protection.py)."""


async def ensure_visitor(request: Request, session: AsyncSession, language: str) -> Visitor:
    """This request's session, or a new anonymous one (for a page showing a form). New
    sessions are rows: an address makes them within the budget of anonymous callers
    (``RELAY_ANONYMOUS_REQUESTS_PER_MINUTE``), so that nobody fills the table."""
    visitor = await current_visitor(request, session)
    if visitor is None:
        try:
            charge_anonymous(request)
        except TooManyRequests:
            limits: Limits = request.app.state.limits
            host = request.client.host if request.client else None
            raise TooManySessions(
                limits.anonymous_requests.blocked_for(anonymous_key(host))
            ) from None
        value, visitor = await sessions.begin(session, _settings(request), language)
        remember(request, value, visitor)
    return visitor


async def discard_ended(request: Request) -> None:
    """The cookie named a session that has ended: make sure its row is gone, in a transaction of
    its own (the request's, which found it ended, may have been rolled back by then)."""
    state = _per_request(request)
    settings = _settings(request)
    value = request.cookies.get(cookie_name(settings))
    if state.clear and value:
        async with transaction(request.app.state.sessionmaker) as own:
            await sessions.discard(own, settings, value)


def remember(request: Request, value: str, visitor: Visitor) -> None:
    """A new session for this browser: its cookie is set on the response (``finish``)."""
    state = _per_request(request)
    state.resolved, state.visitor, state.new_value, state.clear = True, visitor, value, False


def replace_visitor(request: Request, visitor: Visitor | None) -> None:
    """The same session changed (its language, an invitation held), or ended (None)."""
    state = _per_request(request)
    state.resolved, state.visitor = True, visitor
    if visitor is None:
        state.new_value, state.clear = None, True


def visitor_of(request: Request) -> Visitor | None:
    """The session already read for this request (``current_visitor``), without reading it."""
    return _per_request(request).visitor


def finish(request: Request, response: Response) -> Response:
    """Set (or delete) the session cookie on the response, as this request changed it."""
    state = _per_request(request)
    settings = _settings(request)
    name, secure = cookie_name(settings), secure_cookie(settings)
    if state.new_value is not None:
        response.set_cookie(
            name, state.new_value, path="/", secure=secure, httponly=True, samesite="lax"
        )
    elif state.clear:
        response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")
    if state.device is not None:
        response.set_cookie(
            device_cookie_name(settings),
            state.device,
            max_age=DEVICE_COOKIE_DAYS * 24 * 3600,
            path=DEVICE_COOKIE_PATH,
            secure=secure,
            httponly=True,
            samesite="strict",
        )
    return response


# -- CSRF -----------------------------------------------------------------------------------------


def csrf_token(visitor: Visitor) -> str:
    """The session's CSRF secret, masked by a new random pad."""
    pad = secrets.token_bytes(_PAD_BYTES)
    masked = bytes(a ^ b for a, b in zip(pad, visitor.csrf_secret, strict=True))
    return base64.urlsafe_b64encode(pad + masked).rstrip(b"=").decode()


def _unmasked(token: str) -> bytes | None:
    if not token.isascii() or len(token) > 4 * _PAD_BYTES:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, binascii.Error):
        return None
    if len(raw) != 2 * _PAD_BYTES:
        return None
    pad, masked = raw[:_PAD_BYTES], raw[_PAD_BYTES:]
    return bytes(a ^ b for a, b in zip(pad, masked, strict=True))


def csrf_field(request: Request) -> Markup:
    """The hidden field every form of the app's pages carries."""
    visitor = _per_request(request).visitor
    if visitor is None:
        raise RuntimeError("a form needs a session: call ensure_visitor first")
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, csrf_token(visitor)
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _from_this_site(request: Request) -> bool:
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in {"same-origin", "none"}:
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    host = request.headers.get("host", "")
    allowed = {_origin(_settings(request).public_url), f"{request.url.scheme}://{host}".lower()}
    return origin.lower() in allowed


def check_csrf(request: Request, form: FormData | Mapping[str, str]) -> None:
    """Refuse (``CsrfRefused``) a form post from another site or without this session's token.
    The session must have been read first (``current_visitor``, ``person_or_none`` or a
    ``SignedIn…`` dependency)."""
    state = _per_request(request)
    if not state.resolved:
        raise RuntimeError("check_csrf before the session was read")
    if not _from_this_site(request):
        raise CsrfRefused()
    token = form.get(CSRF_FIELD)
    if state.visitor is None or not isinstance(token, str):
        raise CsrfRefused()
    secret = _unmasked(token)
    if secret is None or not hmac.compare_digest(secret, state.visitor.csrf_secret):
        raise CsrfRefused()


# -- where to go after signing in -----------------------------------------------------------------


def safe_next(value: str | None) -> str | None:
    """``value`` when it is a path of this site (``/…``, not ``//…``, no backslash, no control
    character or space, ASCII only), else None: never a redirect to another site."""
    if not value or len(value) > MAXIMUM_NEXT_LENGTH or not value.isascii():
        return None
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    if any(character <= " " or character == "\x7f" for character in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def with_next(path: str, next_path: str | None) -> str:
    """``path``, carrying where to go once signed in."""
    return path + (f"?{urlencode({'next': next_path})}" if next_path else "")


def sign_in_url(next_path: str | None) -> str:
    return with_next(SIGN_IN_PATH, next_path)
