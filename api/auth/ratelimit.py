"""In-process rate limiting with the generic cell rate algorithm (GCRA).

Each API process keeps its own counters: with N processes a client may reach N times the
configured rate. That bounds abuse without a shared store; docs/security.md explains the choice.
Keys are bounded in number so that an attacker cycling keys cannot exhaust memory.
"""

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from ipaddress import ip_address, ip_network


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
    """Whom an anonymous caller's budget belongs to: its IPv4 address, or its IPv6 /64 (one
    subscriber commonly holds a whole /64, and could otherwise take a new address per request)."""
    if not host:
        return "unknown"
    try:
        address = ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ip_network(f"{address}/64", strict=False))
    return str(address)


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


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
        self._failures_by_client = RateLimiter(
            token_failures_per_window, float(token_failure_window_seconds)
        )
        self._failures_by_address = RateLimiter(
            token_failures_per_ip_per_window, float(token_failure_window_seconds)
        )

    def token_failures(self, key: str) -> RateLimiter:
        """Failed client authentications, by ``address:…`` or ``client:…`` key."""
        return self._failures_by_address if key.startswith("address:") else self._failures_by_client

    def reset_token_failures(self, key: str) -> None:
        self.token_failures(key).reset(key)
