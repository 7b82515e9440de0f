"""The client's adaptive request rate: full speed until the API pushes back, then just under its limit.

One `AdaptiveRate` is shared by every window of a client. It starts unbounded (the windows'
concurrency is the only limit). When the API refuses a request (429, or 503 with Retry-After):

    hold      no request of any window starts before Retry-After has passed (a request already
              waiting for its slot waits for the hold too)
    evidence  the first refusal sets a limit; after it, a refusal tells of a limit when it is not
              alone (DENSE_REFUSALS of the last DENSE_WINDOW requests sent were refused), or when
              the rate had grown past the limit found by the previous decrease; a lone refusal
              below that limit only holds
    decrease  on a dense refusal, rate = 95 % of (requests the API accepted since the previous
              decrease, or since the first request / the seconds since), an estimate of the API's
              limit; the first time at most beta x the rate it was sending at (AIMD's
              multiplicative cut), and only that until 4 requests were accepted (a 429 comes back
              before the pages sent with it: 1 accepted of a burst of 6 is no estimate, and the
              rate grows back slowly). On a lone refusal past the limit found (a probe), 95 % of
              that limit, or of what was accepted since if more: only a dense refusal lowers the limit
    increase  on every success the rate grows by PROBE (0.5 %) a second, never past twice what the
              client really sends (no runaway while windows are idle)

Why a lone refusal below the limit found does not count (the first one does: with nothing found
yet, a quota that refuses one request of a few windows must still slow them all): APIs refuse a
small share of requests whatever the client's rate (a busy shard, a gateway's own throttle; the
simulator's fault profiles do it to 2 % or 8 % of requests). Cutting 5 % on each while growing
0.5 % a second settles at PROBE / (share x 5 %) requests/s whatever the API's real limit:
5 requests/s at 2 %, which made the mild-faults demo 4x slower. A quota the client overruns
refuses in runs instead (the requests in flight once its bucket is empty), and one the client
probes past refuses above the rate it was last refused at. The sending rate is measured over time
not held, so a cut right after a hold does not read the hold as the rate the client sends at.

Why this and not CUBIC (the AWS SDKs' adaptive mode): CUBIC climbs back to the refused rate within
seconds and then probes above it, which suits a network's shifting capacity; an API's quota is a
fixed number, and each probe past it costs a refusal and a whole Retry-After (a second, at least)
for every window. Between two refusals a token bucket or a fixed-window quota accepts about
limit x interval requests, so the count is a good estimate of the limit, and a slow probe above it
costs one refusal every ten seconds or more. Measured in `make bench` (scenario `quota`).

Refusals of requests that were sent before the last decrease belong to the same event (they were
already in flight) and do not decrease again. Where the API announces its quota (the IETF draft's
`RateLimit`/`RateLimit-Policy`, or `X-RateLimit-*`), the client paces itself to it before it is
refused: 95 % of the policy's limit/window is a ceiling (a margin for the jitter of requests in
flight); without a policy, `remaining` requests are spread over `reset` seconds, and `remaining=0`
holds until `reset`. A user's `max_rps` is a ceiling on top of all this. The clock and sleep are
passed in, so the arithmetic is tested without sleeping.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

BETA = 0.7  # the first multiplicative decrease (botocore's)
PROBE = 0.005  # the rate's growth per second of successes, as a fraction of itself
LIMIT_MARGIN = 0.95  # the pace kept under an estimated or announced limit
MIN_INTERVAL = 0.5  # seconds of accepted requests needed to estimate the limit from them
MIN_RATE = 0.5  # requests/s: the lowest the rate goes, however often it is refused
MIN_EVIDENCE = 1  # accepted requests needed before the first refusal says anything of the limit
ESTIMATE_EVIDENCE = 4  # ... and before what was accepted estimates it (a 429 comes back before them)
MEASURE_SECONDS = 1.0  # the sending rate is measured over this much trailing time not held
DENSE_WINDOW = 8  # the last requests sent when a refusal comes (the default concurrency) ...
DENSE_REFUSALS = 3  # ... of which this many refused make it a limit's refusal, not a lone one
FIRST_INTERVAL = 1.0  # seconds: what was accepted before the first decrease came in at least this
_SENDS_KEPT = 4096  # start times kept for the measure (over a second's worth at any real rate)
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


class Pacer(Protocol):
    """What the client asks of its shared rate (AdaptiveRate; RateLimiter is a fixed one)."""

    def acquire(self) -> float: ...
    def hold(self, seconds: float) -> None: ...
    def on_throttle(self, sent_at: float, retry_after: float | None = None) -> None: ...
    def on_success(self, hint: QuotaHint | None = None) -> None: ...


class AdaptiveRate:
    """The request rate shared by the threads of one client (see the module docstring)."""

    def __init__(
        self,
        max_rps: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        beta: float = BETA,
    ) -> None:
        if max_rps is not None and not max_rps > 0:
            raise ValueError(f"max_rps must be > 0, got {max_rps!r}")
        self.max_rps = max_rps
        self._clock = clock
        self._sleep = sleep
        self._beta = beta
        self._lock = threading.Lock()
        self._rate = math.inf  # the controller's rate, before ceilings
        self._decreased_at = -math.inf  # from when the last refusal event's lower rate applies
        self._refused_at = -math.inf  # when that refusal came
        self._accepted = 0  # successes since then
        self._grown_at = -math.inf  # when the rate last grew
        self._next_slot = -math.inf
        self._held_until = -math.inf
        self._policy_ceiling = math.inf  # from RateLimit-Policy / limit+window headers
        self._spread = math.inf  # remaining/reset, valid until _spread_until
        self._spread_until = -math.inf
        self._sent: deque[float] = deque(maxlen=_SENDS_KEPT)
        self._first_sent = math.inf
        self._holds: deque[tuple[float, float]] = deque(maxlen=64)  # (from, until), merged, oldest first
        self._recent: deque[float] = deque(maxlen=DENSE_WINDOW)  # start times of the last requests
        self._refused: deque[float] = deque(maxlen=DENSE_WINDOW)  # ... and of the last refused ones
        self._found = math.inf  # the limit the last decrease estimated (its rate / LIMIT_MARGIN)
        self._revision = 0  # bumped by every hold and decrease: a slot reserved before is taken again
        self.throttles = 0  # refusals counted (every one, also those of one event)
        self.decreases = 0  # refusal events that lowered the rate

    @property
    def rate(self) -> float:
        """The rate in force now (requests/s), every ceiling applied; math.inf when unbounded."""
        with self._lock:
            return self._effective(self._clock())

    def acquire(self) -> float:
        """Wait until one more request may start; return the time (clock) at which it starts.

        The slot is reserved under the lock and waited for outside it; a hold or a decrease that
        comes during the wait (another window's refusal) sends the waiter to reserve again, so
        that no request starts inside a hold, or at a rate already cut.
        """
        while True:
            with self._lock:
                now = self._clock()
                rate = self._effective(now)
                interval = 0.0 if math.isinf(rate) else 1.0 / rate
                slot = max(now, self._held_until, self._next_slot)
                self._next_slot = slot + interval
                revision = self._revision
                if slot <= now:
                    self._record_send(slot)
                    return slot
            self._sleep(slot - now)
            with self._lock:
                if self._revision == revision:
                    self._record_send(slot)
                    return slot

    def hold(self, seconds: float) -> None:
        """Let no request start for `seconds` from now, whoever asks."""
        with self._lock:
            self._hold(self._clock(), seconds)

    def on_throttle(self, sent_at: float, retry_after: float | None = None) -> None:
        """The request started at `sent_at` (acquire's value) was refused: hold, and lower the rate
        once per event when the refusal tells of a limit (see the module docstring)."""
        with self._lock:
            now = self._clock()
            self.throttles += 1
            if retry_after:
                self._hold(now, retry_after)
            if sent_at < self._decreased_at:
                return  # in flight before the last decrease: the same event
            self._refused.append(sent_at)
            dense = self._is_dense(sent_at)
            first = math.isinf(self._refused_at)
            if not (first or dense) and self._rate <= self._found:
                return  # a lone refusal below the limit found: the API's noise, held only
            if first and self._accepted < MIN_EVIDENCE:
                return  # a refusal of the very first requests says nothing of the limit: hold only
            since = min(self._first_sent, now) if first else self._refused_at
            interval = now - since  # the hold included: the quota refilled during it
            floor = FIRST_INTERVAL if first else MIN_INTERVAL  # first: a bucket's burst, ~1 s of it
            accepted = LIMIT_MARGIN * self._accepted / max(interval, floor)
            if first:  # the rate it was sent at was the windows' concurrency, not a limit found
                target = self._beta * min(self._rate, self._measured(now))
                if self._accepted >= ESTIMATE_EVIDENCE:  # fewer: the burst's others are still in flight
                    target = min(target, accepted)
            elif not dense:  # a probe past the limit found: back under it (or under what was accepted)
                target = LIMIT_MARGIN * max(self._found, accepted / LIMIT_MARGIN)
            else:
                target = accepted if interval >= MIN_INTERVAL else self._beta * self._rate
            self._rate = max(min(target, self._rate), MIN_RATE)
            self._found = self._rate / LIMIT_MARGIN
            self._decreased_at = max(now, self._held_until)
            self._refused_at = now
            self._grown_at = self._decreased_at
            self._accepted = 0
            self._revision += 1
            self.decreases += 1

    def on_success(self, hint: QuotaHint | None = None) -> None:
        """A request succeeded: probe a little higher, and take in the quota the answer announced."""
        with self._lock:
            now = self._clock()
            self._accepted += 1
            if hint is not None:
                self._observe(hint, now)
            if math.isinf(self._rate) or now <= self._grown_at:
                return
            grown = self._rate * (1 + PROBE * (now - self._grown_at))
            self._grown_at = now
            # grows only while the client uses it: never past twice what it sends, never cut by it
            self._rate = min(grown, max(self._rate, 2 * self._measured(now)))

    def _observe(self, hint: QuotaHint, now: float) -> None:
        ceiling = hint.ceiling
        if ceiling is not None and ceiling > 0:
            self._policy_ceiling = LIMIT_MARGIN * ceiling
        if hint.remaining is None or hint.reset is None or hint.reset <= 0:
            return
        if hint.remaining <= 0:  # with a policy, the next request is due one pace later, at most
            wait = (
                hint.reset if math.isinf(self._policy_ceiling) else min(hint.reset, 1 / self._policy_ceiling)
            )
            self._held_until = max(self._held_until, now + wait)
        elif math.isinf(self._policy_ceiling):
            # No policy, only what remains until the reset: spread it over the time left. (With a
            # policy its rate is the pace: a bucket refills continuously, a window at its reset.)
            self._spread = hint.remaining / hint.reset
            self._spread_until = now + hint.reset

    def _effective(self, now: float) -> float:
        spread = self._spread if now < self._spread_until else math.inf
        ceiling = math.inf if self.max_rps is None else self.max_rps
        return min(self._rate, self._policy_ceiling, spread, ceiling)

    def _is_dense(self, sent_at: float) -> bool:
        """Whether a refusal (already in `_refused`) came with others among the last requests sent
        (since the client last resumed from a hold: those before it were told already)."""
        oldest = self._recent[0] if len(self._recent) == DENSE_WINDOW else -math.inf
        resumed = next((until for _, until in reversed(self._holds) if until <= sent_at), -math.inf)
        since = max(min(sent_at, oldest), resumed, self._decreased_at)  # those of an earlier hold told
        return sum(1 for at in self._refused if at >= since) >= DENSE_REFUSALS

    def _hold(self, now: float, seconds: float) -> None:
        until = now + seconds
        if until <= self._held_until:
            return
        if self._holds and now <= self._holds[-1][1]:
            self._holds[-1] = (self._holds[-1][0], until)
        else:
            self._holds.append((now, until))
        self._held_until = until
        self._revision += 1

    def _record_send(self, at: float) -> None:
        self._sent.append(at)
        self._recent.append(at)
        self._first_sent = min(self._first_sent, at)

    def _measured(self, now: float) -> float:
        """Requests started per second over the last MEASURE_SECONDS not held (a young client:
        since its first), so that a hold is not read as the rate the client sends at."""
        start, remaining = now, MEASURE_SECONDS
        for held_from, held_until in reversed(self._holds):
            if held_from >= start:
                continue
            free = start - min(held_until, start)  # time not held between this hold and `start`
            if free >= remaining:
                break
            remaining -= free
            start = held_from
        start -= remaining
        while self._sent and self._sent[0] < start:
            self._sent.popleft()
        span = MEASURE_SECONDS - max(0.0, self._first_sent - start)  # a young client: since its first
        return len(self._sent) / max(span, MEASURE_SECONDS / 4)


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
