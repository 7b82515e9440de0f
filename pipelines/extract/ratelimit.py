"""A fixed client-side rate shared by every thread of one client (tests inject it; the client adapts
its own rate by default: pipelines.extract.throttle.AdaptiveRate)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """A thread-safe token bucket: `burst` requests at once, then one every 1/`requests_per_second`.

    Each caller reserves the next free slot under a lock and sleeps outside it, so waiting threads
    are spaced evenly instead of waking together. `math.inf` requests per second disables the rate,
    not `hold`.
    """

    def __init__(
        self,
        requests_per_second: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not requests_per_second > 0:
            raise ValueError(f"requests_per_second must be > 0, got {requests_per_second!r}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst!r}")
        self.requests_per_second = requests_per_second
        self.burst = burst
        self._interval = 0.0 if math.isinf(requests_per_second) else 1.0 / requests_per_second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = -math.inf  # theoretical time of the next request if the bucket were empty
        self._held_until = -math.inf  # no request before this time (see hold)

    def acquire(self) -> float:
        """Wait until one more request is allowed; return the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._held_until)
            slot = max(self._next_slot, start)
            wait = max(0.0, self._held_until - now, slot - now - (self.burst - 1) * self._interval)
            self._next_slot = slot + self._interval
        if wait > 0:
            self._sleep(wait)
        return wait

    def hold(self, seconds: float) -> None:
        """Let no request start for `seconds` from now, whoever asks (a 429 speaks for the whole client)."""
        with self._lock:
            self._held_until = max(self._held_until, self._clock() + seconds)

    def on_throttle(self, sent_at: float, retry_after: float | None = None) -> None:
        """A refused request: a fixed rate only holds for Retry-After."""
        if retry_after:
            self.hold(retry_after)

    def on_success(self, hint: object = None) -> None:
        """A fixed rate does not change."""
