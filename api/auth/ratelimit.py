"""In-process rate limiting with the generic cell rate algorithm (GCRA).

Each API process keeps its own counters: with N processes a client may reach N times the
configured rate. That bounds abuse without a shared store; docs/security.md explains the choice.
Keys are bounded in number so that an attacker cycling keys cannot exhaust memory.
"""

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """Allows ``rate`` events per ``period`` seconds per key, with bursts up to ``burst``."""

    def __init__(
        self,
        rate: int,
        period: float,
        *,
        burst: int | None = None,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate < 1 or period <= 0:
            raise ValueError("rate and period must be positive")
        self.interval = period / rate
        self.tolerance = self.interval * ((burst or rate) - 1)
        self.max_keys = max_keys
        self.clock = clock
        self._theoretical_arrival: OrderedDict[str, float] = OrderedDict()

    def hit(self, key: str) -> float:
        """Record one event; return 0 when allowed, else the seconds to wait before retrying."""
        now = self.clock()
        arrival = max(self._theoretical_arrival.get(key, now), now)
        if arrival - now > self.tolerance:
            return arrival - now - self.tolerance
        self._remember(key, arrival + self.interval)
        return 0.0

    def blocked_for(self, key: str) -> float:
        """Seconds until ``key`` may act again, without recording an event."""
        now = self.clock()
        arrival = self._theoretical_arrival.get(key, now)
        return max(0.0, arrival - now - self.tolerance)

    def reset(self, key: str) -> None:
        self._theoretical_arrival.pop(key, None)

    def _remember(self, key: str, arrival: float) -> None:
        self._theoretical_arrival[key] = arrival
        self._theoretical_arrival.move_to_end(key)
        while len(self._theoretical_arrival) > self.max_keys:
            self._theoretical_arrival.popitem(last=False)


def anonymous_key(host: str | None) -> str:
    """Whom an anonymous caller's budget belongs to: its address as ``address_key`` counts it
    (an IPv6 /64 is one subscriber, who could otherwise take a new address per request)."""
    return address_key(host) if host else "unknown"


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def address_key(address: str) -> str:
    """What failures are counted against for a caller's address: the IPv4 address itself, the
    /64 of an IPv6 address (whoever holds one address of a subnet usually holds all of it)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


class TokenFailures:
    """Failed client authentications at the OAuth endpoints, counted per source: per address
    (``address_key``) and per client id from that address.

    Never per client id alone: client ids are not secret (they appear in audit trails and
    logs of the organisations a client works with), so a lockout per client id let anyone
    keep a partner from getting tokens by sending wrong secrets in its name. Guessing a
    secret needs no such lockout: secrets are 256 random bits and keyed-hashed, and a key
    client's assertion must be signed with its private key, so a guess succeeds with
    probability 2^-256 whatever the rate; the per-address budget only keeps the attempts (and
    the audit events they write) cheap. A caller with the right credentials from another
    address is never refused because of someone else's failures."""

    def __init__(self, *, per_address: int, per_client_and_address: int, window: float) -> None:
        self._by_address = RateLimiter(per_address, window)
        self._by_client_and_address = RateLimiter(per_client_and_address, window)

    @staticmethod
    def _keys(address: str, client_id: str | None) -> tuple[str, str | None]:
        source = address_key(address)
        return source, (f"{client_id} from {source}" if client_id else None)

    def wait(self, address: str, client_id: str | None) -> float:
        """Seconds before this source may try again (0: it may now), recording nothing."""
        source, pair = self._keys(address, client_id)
        wait = self._by_address.blocked_for(source)
        if pair is not None:
            wait = max(wait, self._by_client_and_address.blocked_for(pair))
        return wait

    def failed(self, address: str, client_id: str | None) -> None:
        source, pair = self._keys(address, client_id)
        self._by_address.hit(source)
        if pair is not None:
            self._by_client_and_address.hit(pair)

    def succeeded(self, address: str, client_id: str) -> None:
        """The client authenticated from this address: its own count there starts again (the
        address's count does not: one valid client must not buy guesses at others)."""
        _, pair = self._keys(address, client_id)
        if pair is not None:
            self._by_client_and_address.reset(pair)


class Limits:
    """The limiters one API process keeps."""

    def __init__(
        self,
        *,
        client_requests_per_minute: int,
        token_failures_per_window: int,
        token_failures_per_ip_per_window: int,
        token_failure_window_seconds: int,
        anonymous_requests_per_minute: int = 120,
    ) -> None:
        self.requests_by_client = RateLimiter(client_requests_per_minute, 60.0)
        # Callers without a token on the expensive routes, by address (``anonymous_key``).
        self.anonymous_requests = RateLimiter(anonymous_requests_per_minute, 60.0)
        self.token_failures = TokenFailures(
            per_address=token_failures_per_ip_per_window,
            per_client_and_address=token_failures_per_window,
            window=float(token_failure_window_seconds),
        )
