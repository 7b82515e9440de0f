"""A server-side request quota: a token bucket of `rps` tokens a second holding `burst` seconds of them.

A request that finds a token takes it; one that finds none is refused with 429 and a Retry-After
in whole seconds (HTTP's delta-seconds), so a client that overruns pays at least a second. With
`headers` the quota announces itself on every answer, in one of two families:

    ietf    RateLimit-Policy: 30;w=1          RateLimit: limit=30, remaining=12, reset=1
    x       X-RateLimit-Limit: 30   X-RateLimit-Remaining: 12   X-RateLimit-Reset: 1

`reset` is the seconds until the bucket is full again, rounded up. The clock is passed in, so the
arithmetic is tested without sleeping.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

HEADER_FAMILIES = ("none", "ietf", "x")


@dataclass(frozen=True)
class Admission:
    """What the quota says of one request: let through, or refused with a Retry-After."""

    allowed: bool
    retry_after: int | None  # whole seconds, on a refusal
    headers: list[tuple[str, str]]


class Quota:
    """A thread-safe token bucket; `set_rate` changes it while serving (a quota that halves mid-sync)."""

    def __init__(
        self, rps: float, *, headers: str = "none", burst: float = 1.0, clock: Callable[[], float]
    ) -> None:
        if headers not in HEADER_FAMILIES:
            raise ValueError(f"quota headers must be one of {HEADER_FAMILIES}, got {headers!r}")
        if not burst > 0:
            raise ValueError(f"quota burst must be > 0 seconds, got {burst!r}")
        if burst < 1 and headers != "none":
            raise ValueError("a quota burst under a second cannot be announced in whole-second windows")
        self.burst = float(burst)
        self._clock = clock
        self._lock = threading.Lock()
        self.headers = headers
        self.rps = 0.0
        self._tokens = 0.0
        self._at = clock()
        self.set_rate(rps)
        self._tokens = self.capacity

    @property
    def capacity(self) -> float:
        """`burst` seconds of requests, at least one."""
        return max(1.0, self.rps * self.burst)

    def set_rate(self, rps: float) -> None:
        """A new rate from now on; the tokens already earned are kept up to the new capacity."""
        if not rps > 0:
            raise ValueError(f"quota must be > 0 requests/s, got {rps!r}")
        with self._lock:
            self._refill()
            self.rps = float(rps)
            self._tokens = min(self._tokens, self.capacity)

    def admit(self) -> Admission:
        """Take a token if there is one."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return Admission(True, None, self._headers())
            retry_after = max(1, math.ceil((1.0 - self._tokens) / self.rps))
            return Admission(False, retry_after, self._headers())

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rps)
        self._at = now

    def _headers(self) -> list[tuple[str, str]]:
        if self.headers == "none":
            return []
        limit = max(1, math.floor(self.capacity))
        remaining = max(0, math.floor(self._tokens))
        reset = max(0, math.ceil((self.capacity - self._tokens) / self.rps))
        if self.headers == "ietf":
            return [
                ("RateLimit-Policy", f"{limit};w={math.ceil(limit / self.rps)}"),
                ("RateLimit", f"limit={limit}, remaining={remaining}, reset={reset}"),
            ]
        return [
            ("X-RateLimit-Limit", str(limit)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Reset", str(reset)),
        ]
