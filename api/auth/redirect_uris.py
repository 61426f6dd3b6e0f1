"""Where an app acting for a person may be sent back with a code (RFC 6749 §3.1.2, RFC 9700
§2.1 and §4.1, RFC 8252 §7 and §8).

**Registered** (``check``, by the operator): absolute URIs of at most 512 printable ASCII
characters, no fragment, no user information, no ``*`` (no wildcard of any kind), with a path
(at least ``/``), of one of two forms:

- ``https://host[:port]/path[?query]``: a web app, or a mobile app's claimed HTTPS link
  (Android App Links, iOS Universal Links; RFC 8252 §7.2);
- ``http://127.0.0.1[:port]/path`` or ``http://[::1][:port]/path``: a native app on the
  person's computer listening on the loopback interface (RFC 8252 §7.3), for public clients
  only. ``localhost`` is refused (RFC 8252 §8.3: a name can be made to resolve elsewhere).

Refused, besides: plain ``http`` anywhere else, and private-use schemes
(``com.example.app:/cb``, RFC 8252 §7.1), which any app on a phone can claim.

**Matched** (``matches``, at the authorize step): the URI sent must be one registered,
character for character (no normalisation, no prefix, no pattern); the one exception is the
port of a loopback URI, which may be any (RFC 8252 §7.3: the app takes a free port when it
starts), everything else of it still compared exactly. The code is then bound to the URI as
sent, port included, and the token request must send that same URI.
"""

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

MAXIMUM_LENGTH = 512
MAXIMUM_COUNT = 10
_PRINTABLE = re.compile(r"[\x21-\x7e]+")
_LOOPBACK = re.compile(
    r"http://(?P<host>127\.0\.0\.1|\[::1\])(?::(?P<port>[0-9]{1,5}))?(?P<rest>/.*)"
)


class RedirectUriRefused(ValueError):
    """Why a redirect URI cannot be registered (the message never repeats the URI)."""


def check(uri: str, *, public: bool) -> str:
    """The URI, if it may be registered (for a public client when ``public``)."""
    if not 1 <= len(uri) <= MAXIMUM_LENGTH or not _PRINTABLE.fullmatch(uri):
        raise RedirectUriRefused(
            f"A redirect URI is 1 to {MAXIMUM_LENGTH} printable ASCII characters, no spaces."
        )
    if "*" in uri:
        raise RedirectUriRefused("A redirect URI is matched exactly: no wildcards.")
    if "#" in uri:
        raise RedirectUriRefused("A redirect URI has no fragment (RFC 6749 §3.1.2).")
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as error:
        raise RedirectUriRefused("A redirect URI must be an absolute URI.") from error
    if parts.username is not None or "@" in parts.netloc:
        raise RedirectUriRefused("A redirect URI has no user information.")
    if not parts.path.startswith("/"):
        raise RedirectUriRefused("A redirect URI has a path, at least '/'.")
    if port == 0:
        raise RedirectUriRefused("A redirect URI's port is 1 to 65535.")
    loopback = _LOOPBACK.fullmatch(uri)
    if loopback is not None:
        if not public:
            raise RedirectUriRefused(
                "Loopback redirect URIs are for native apps, which are public clients."
            )
        return uri
    if parts.scheme != "https" or not parts.hostname:
        raise RedirectUriRefused(
            "A redirect URI is https://…, or http://127.0.0.1/… or http://[::1]/… for a "
            "native app (not localhost, not a private-use scheme)."
        )
    return uri


def check_all(uris: Iterable[str], *, public: bool) -> list[str]:
    """The URIs to register, each checked, none twice, at most ``MAXIMUM_COUNT``."""
    checked = list(dict.fromkeys(check(uri, public=public) for uri in uris))
    if len(checked) > MAXIMUM_COUNT:
        raise RedirectUriRefused(f"A client has at most {MAXIMUM_COUNT} redirect URIs.")
    return checked


def matches(registered: Iterable[str], sent: str) -> bool:
    """Whether ``sent`` is one of the ``registered`` URIs: the same characters, but for the
    port of a loopback URI."""
    if len(sent) > MAXIMUM_LENGTH + 6:  # a loopback URI's port (":65535") added
        return False
    candidates = list(registered)
    if sent in candidates:
        return True
    loopback = _LOOPBACK.fullmatch(sent)
    if loopback is None or not _port_valid(loopback["port"]):
        return False
    for uri in candidates:
        own = _LOOPBACK.fullmatch(uri)
        if own is not None and (own["host"], own["rest"]) == (loopback["host"], loopback["rest"]):
            return True
    return False


def _port_valid(port: str | None) -> bool:
    return port is None or 1 <= int(port) <= 65535
