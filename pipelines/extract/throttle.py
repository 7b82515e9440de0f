"""The client's adaptive request rate: full speed until the API pushes back, then just under its limit.

One `AdaptiveRate` is shared by every window of a client. It starts unbounded (the windows'
concurrency is the only limit). When the API refuses a request (429, or 503 with Retry-After):

    hold      no request of any window starts before Retry-After has passed
    decrease  rate = beta x the rate at the refusal (its measured sending rate, the first time)
    increase  on every success, CUBIC's curve (as in the AWS SDKs' adaptive mode):
                  rate(t) = C (t - K)^3 + W_max,   K = cbrt(W_max (1 - beta) / C)
              t the seconds since the refusal. The curve climbs fast back towards W_max, the rate
              that was refused, flattens out just under it and only then probes above it slowly,
              so the client spends its time near the limit where AIMD's straight line would spend
              it in a saw-tooth below. Never more than twice the measured rate (no runaway while
              windows are idle).

Refusals of requests that were sent before the last decrease belong to the same event (they were
already in flight) and do not decrease again. Where the API announces its quota (the IETF draft's
`RateLimit`/`RateLimit-Policy`, or `X-RateLimit-*`), the client paces itself to it before it is
refused: the policy's limit/window is a ceiling, `remaining` requests are spread over `reset`
seconds, and `remaining=0` holds until `reset`. A user's `max_rps` is a ceiling on top of all this.
The clock and sleep are passed in, so the arithmetic is tested without sleeping.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

BETA = 0.7  # multiplicative decrease (botocore's and CUBIC's)
SCALE = 0.4  # CUBIC's C: how fast the rate climbs back (rate units per second cubed)
MIN_RATE = 0.5  # requests/s: the lowest the rate goes, however often it is refused
MEASURE_SECONDS = 1.0  # the sending rate is measured over this trailing window
_EPOCH_SECONDS = 1e9  # an X-RateLimit-Reset above this is a Unix time, not a delay


@dataclass(frozen=True)
class QuotaHint:
    """What an answer's rate-limit headers say; None where a header was absent."""

    limit: float | None = None  # requests allowed per window
    window: float | None = None  # seconds
    remaining: float | None = None  # requests left in the current window
    reset: float | None = None  # seconds until the window (or the bucket) is full again

    @property
    def ceiling(self) -> float | None:
        """The policy as a rate (requests/s), when both limit and window are known."""
        if self.limit is None or not self.window:
            return None
        return self.limit / self.window


def parse_rate_headers(headers: Mapping[str, str], *, now: float | None = None) -> QuotaHint | None:
    """The quota an answer announces, in any of the common header families; None without one.

    `headers` must be case-insensitive (requests' are). `now` (Unix seconds) turns an epoch reset
    into a delay.
    """
    limit = window = remaining = reset = None
    policy = headers.get("ratelimit-policy")
    if policy:
        limit, window = _parse_policy(policy)
    combined = headers.get("ratelimit")
    if combined:
        params = _params(combined)
        limit = _number(params.get("limit")) if limit is None else limit
        remaining = _number(params.get("remaining", params.get("r")))
        reset = _number(params.get("reset", params.get("t")))
    for prefix in ("ratelimit-", "x-ratelimit-"):
        limit = _number(headers.get(prefix + "limit")) if limit is None else limit
        remaining = _number(headers.get(prefix + "remaining")) if remaining is None else remaining
        reset = _number(headers.get(prefix + "reset")) if reset is None else reset
    if reset is not None and reset > _EPOCH_SECONDS:
        reset = max(0.0, reset - (time.time() if now is None else now))
    if all(v is None for v in (limit, window, remaining, reset)):
        return None
    return QuotaHint(limit, window, remaining, reset)


class AdaptiveRate:
    """The request rate shared by the threads of one client (see the module docstring)."""

    def __init__(
        self,
        max_rps: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        beta: float = BETA,
        scale: float = SCALE,
    ) -> None:
        if max_rps is not None and not max_rps > 0:
            raise ValueError(f"max_rps must be > 0, got {max_rps!r}")
        self.max_rps = max_rps
        self._clock = clock
        self._sleep = sleep
        self._beta = beta
        self._scale = scale
        self._lock = threading.Lock()
        self._rate = math.inf  # the controller's rate, before ceilings
        self._w_max = math.inf
        self._k = 0.0
        self._decreased_at = -math.inf
        self._next_slot = -math.inf
        self._held_until = -math.inf
        self._policy_ceiling = math.inf  # from RateLimit-Policy / limit+window headers
        self._spread = math.inf  # remaining/reset, valid until _spread_until
        self._spread_until = -math.inf
        self._sent: deque[float] = deque()
        self._first_sent = math.inf
        self.throttles = 0  # refusals counted (every one, also those of one event)
        self.decreases = 0  # refusal events that lowered the rate

    @property
    def rate(self) -> float:
        """The rate in force now (requests/s), every ceiling applied; math.inf when unbounded."""
        with self._lock:
            return self._effective(self._clock())

    def acquire(self) -> float:
        """Wait until one more request may start; return the time (clock) at which it starts."""
        with self._lock:
            now = self._clock()
            rate = self._effective(now)
            interval = 0.0 if math.isinf(rate) else 1.0 / rate
            slot = max(now, self._held_until, self._next_slot)
            self._next_slot = slot + interval
            self._record_send(slot)
        if slot > now:
            self._sleep(slot - now)
        return slot

    def hold(self, seconds: float) -> None:
        """Let no request start for `seconds` from now, whoever asks."""
        with self._lock:
            self._held_until = max(self._held_until, self._clock() + seconds)

    def on_throttle(self, sent_at: float, retry_after: float | None = None) -> None:
        """The request started at `sent_at` (acquire's value) was refused: hold, and lower the rate
        once per event."""
        with self._lock:
            now = self._clock()
            self.throttles += 1
            if retry_after:
                self._held_until = max(self._held_until, now + retry_after)
            if sent_at < self._decreased_at:
                return  # in flight before the last decrease: the same event
            refused = min(self._rate, self._measured(now))
            # CUBIC's fast convergence: refused below the last target, the limit fell; give way sooner
            fell = refused < self._w_max < math.inf
            refused_max = refused * (1 + self._beta) / 2 if fell else refused
            self._w_max = max(refused_max, MIN_RATE)
            self._rate = max(refused * self._beta, MIN_RATE)
            self._k = ((self._w_max - self._rate) / self._scale) ** (1 / 3)
            self._decreased_at = max(now, self._held_until)
            self.decreases += 1

    def on_success(self, hint: QuotaHint | None = None) -> None:
        """A request succeeded: climb the curve, and take in the quota the answer announced."""
        with self._lock:
            now = self._clock()
            if hint is not None:
                self._observe(hint, now)
            if math.isinf(self._rate):
                return
            t = max(0.0, now - self._decreased_at)
            cubic = self._scale * (t - self._k) ** 3 + self._w_max
            self._rate = max(MIN_RATE, min(cubic, 2 * max(self._measured(now), MIN_RATE)))

    def _observe(self, hint: QuotaHint, now: float) -> None:
        ceiling = hint.ceiling
        if ceiling is not None and ceiling > 0:
            self._policy_ceiling = ceiling
        if hint.remaining is not None and hint.reset is not None and hint.reset > 0:
            if hint.remaining <= 0:
                self._held_until = max(self._held_until, now + hint.reset)
            self._spread = max(hint.remaining, 1.0) / hint.reset
            self._spread_until = now + hint.reset

    def _effective(self, now: float) -> float:
        spread = self._spread if now < self._spread_until else math.inf
        ceiling = math.inf if self.max_rps is None else self.max_rps
        return min(self._rate, self._policy_ceiling, spread, ceiling)

    def _record_send(self, at: float) -> None:
        self._sent.append(at)
        self._first_sent = min(self._first_sent, at)
        while self._sent and self._sent[0] < at - MEASURE_SECONDS:
            self._sent.popleft()

    def _measured(self, now: float) -> float:
        """Requests started per second over the trailing window (a young client: since its first)."""
        while self._sent and self._sent[0] < now - MEASURE_SECONDS:
            self._sent.popleft()
        span = min(MEASURE_SECONDS, max(now - self._first_sent, MEASURE_SECONDS / 4))
        return len(self._sent) / span


_POLICY_ITEM = re.compile(r'^\s*(?:"[^"]*"\s*;\s*)?(?P<body>.*)$')


def _parse_policy(text: str) -> tuple[float | None, float | None]:
    """The item with the shortest window of `30;w=1, 1000;w=3600` or `"default";q=30;w=1`, as
    (limit, window): it governs the pace; a longer window is paced by its remaining/reset."""
    best: tuple[float | None, float | None] = (None, None)
    best_window = math.inf
    for item in text.split(","):
        match = _POLICY_ITEM.match(item)
        body = match["body"] if match else item
        parts = [p.strip() for p in body.split(";") if p.strip()]
        limit = window = None
        for part in parts:
            key, eq, value = part.partition("=")
            if not eq:
                limit = _number(key)
            elif key.strip() == "q":
                limit = _number(value)
            elif key.strip() == "w":
                window = _number(value)
        if limit is None:
            continue
        window = window or 1.0
        if window < best_window:
            best, best_window = (limit, window), window
    return best


def _params(text: str) -> dict[str, str]:
    """`limit=30, remaining=12, reset=1` or `"default";r=12;t=1` as a dict."""
    out: dict[str, str] = {}
    for part in re.split(r"[;,]", text):
        key, eq, value = part.partition("=")
        if eq:
            out[key.strip().lower()] = value.strip().strip('"')
    return out


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip().strip('"'))
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None
