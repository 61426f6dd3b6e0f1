"""Where Relay may connect on a partner's behalf (webhooks): a defence against server-side
request forgery.

A partner's URL must resolve only to public addresses: private, loopback, link-local (the cloud
metadata service at 169.254.169.254), shared, reserved, multicast and unspecified addresses are
refused unless ``RELAY_WEBHOOK_ALLOWED_NETWORKS`` lists their network. The check runs when a
subscription is saved and again before every delivery, and the delivery connects to the address
that was checked (the name is not looked up a second time), so a name that changes its answer
cannot lead the worker inside.
"""

import asyncio
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from urllib.parse import SplitResult, urlsplit

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address
MAXIMUM_URL_LENGTH = 2048


class UrlRefused(Exception):
    """The URL may not be used; ``code`` says why (for logs and the delivery log)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def allowed(address: Address, networks: list[Network]) -> bool:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in networks):
        return True
    return address.is_global and not address.is_multicast


def parse(url: str, *, https_only: bool) -> SplitResult:
    """The URL's parts, if it is one Relay could post to (scheme, host, no credentials)."""
    if len(url) > MAXIMUM_URL_LENGTH:
        raise UrlRefused("url-too-long", f"The URL is longer than {MAXIMUM_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise UrlRefused("url-invalid", "This is not a valid URL.") from None
    schemes = {"https"} if https_only else {"https", "http"}
    if parts.scheme not in schemes:
        raise UrlRefused(
            "url-scheme", f"The URL must start with {' or '.join(sorted(schemes))}://."
        )
    if not parts.hostname:
        raise UrlRefused("url-invalid", "The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("url-credentials", "The URL must not carry a user name or password.")
    if parts.fragment:
        raise UrlRefused("url-invalid", "The URL must not have a #fragment.")
    return parts


def literal_address(host: str) -> Address | None:
    try:
        return ip_address(host)
    except ValueError:
        return None


async def resolve(parts: SplitResult, networks: list[Network]) -> Address:
    """The first address of the URL's host, when every address it has may be reached."""
    host = parts.hostname
    assert host is not None
    literal = literal_address(host)
    if literal is not None:
        found = [literal]
    else:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        loop = asyncio.get_running_loop()
        try:
            answers = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise UrlRefused("url-unresolvable", "The URL's host name does not resolve.") from None
        found = [ip_address(answer[4][0]) for answer in answers]
        if not found:
            raise UrlRefused("url-unresolvable", "The URL's host name does not resolve.")
    refused = [address for address in found if not allowed(address, networks)]
    if refused:
        raise UrlRefused(
            "address-not-allowed",
            "The URL leads to a private, loopback, link-local or reserved address, which "
            "webhooks may not reach.",
        )
    return found[0]


@dataclass(frozen=True)
class Pinned:
    """A request target bound to a checked address: the URL to connect to, with the Host
    header and TLS server name of the original."""

    url: str
    host_header: str
    server_name: str | None


def pin(parts: SplitResult, address: Address) -> Pinned:
    host = parts.hostname
    assert host is not None
    shown = f"[{address}]" if isinstance(address, IPv6Address) else str(address)
    port = f":{parts.port}" if parts.port else ""
    target = parts._replace(netloc=f"{shown}{port}").geturl()
    original_host = f"[{host}]" if ":" in host else host
    is_name = literal_address(host) is None
    return Pinned(
        url=target,
        host_header=f"{original_host}{port}",
        server_name=host if parts.scheme == "https" and is_name else None,
    )
