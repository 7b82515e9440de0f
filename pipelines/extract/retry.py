"""The one retry policy of the extract layer: which failures are retried, how long to wait, when to stop.

Only TransientError (and its subclass RateLimited) is retried; the type was decided once, where
the response was classified (pipelines.extract.client). This layer retries single HTTP requests; a
Dagster RetryPolicy on the asset retries whole runs, and the two multiply.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception_type
from tenacity.stop import stop_base
from tenacity.wait import wait_random_exponential

from pipelines.config import DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_RETRY_SECONDS
from pipelines.errors import RetriesExhausted, TransientError

log = logging.getLogger(__name__)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or HTTP-date), None if unparseable.

    An HTTP-date is measured from `now` (the response's own Date header when there is one, which
    avoids clock skew between us and the server). The result may be zero or negative.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) else None
    when = parse_http_date(text)
    if when is None:
        return None
    return (when - (now or datetime.now(UTC))).total_seconds()


def parse_http_date(text: str) -> datetime | None:
    """An RFC 9110 date (as in Date and Retry-After headers) as an aware datetime, None if unparseable."""
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)  # "-0000" parses as naive


class wait_random_exponential_retry_after(wait_random_exponential):
    """Full-jitter exponential backoff, unless the server said how long to wait (capped)."""

    def __init__(self, *, multiplier: float, max_backoff: float, max_retry_after: float) -> None:
        super().__init__(multiplier=multiplier, max=max_backoff)
        self.max_retry_after = max_retry_after

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None and retry_after > 0:
            return float(min(retry_after, self.max_retry_after))
        return float(super().__call__(retry_state))  # 0, negative or absent: back off instead


class stop_after_attempt_or_budget(stop_base):
    """Stop after `max_attempts` attempts, or before a wait would take the total past `max_seconds`.

    Time spent is the larger of the wall time and the sum of the waits, so that a test with a
    recording `sleep` stops exactly where a real run would.
    """

    def __init__(self, max_attempts: int, max_seconds: float) -> None:
        self.max_attempts = max_attempts
        self.max_seconds = max_seconds

    def __call__(self, retry_state: RetryCallState) -> bool:
        if retry_state.attempt_number >= self.max_attempts:
            return True
        spent = max(retry_state.seconds_since_start or 0.0, retry_state.idle_for)
        return spent + retry_state.upcoming_sleep > self.max_seconds


@dataclass(frozen=True)
class RetryPolicy:
    """Limits of the retry policy; see make_retrying."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_seconds: float = DEFAULT_MAX_RETRY_SECONDS
    max_retry_after: float = 60.0
    backoff_initial: float = 0.5  # the first backoff is uniform in [0, backoff_initial]
    backoff_max: float = 30.0  # the backoff window never grows past this


def make_retrying(
    policy: RetryPolicy,
    *,
    label: str,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[TransientError, float], None] | None = None,
) -> Retrying:
    """Build the Retab retry policy for one request; `label` names it in logs and errors.

    `on_retry(error, wait)` is told of each retry before its wait.

    Example: ``make_retrying(RetryPolicy(), label="runs 2026-05-10")(fetch_page)``
    """

    def before_sleep(retry_state: RetryCallState) -> None:
        error = _transient(retry_state)
        log.warning(
            "retrying %s after %s (attempt %d of %d failed), waiting %.2f s",
            label,
            error.cause,
            retry_state.attempt_number,
            policy.max_attempts,
            retry_state.upcoming_sleep,
        )
        if on_retry is not None:
            on_retry(error, retry_state.upcoming_sleep)

    def give_up(retry_state: RetryCallState) -> Any:
        error = _transient(retry_state)
        spent = max(retry_state.seconds_since_start or 0.0, retry_state.idle_for)
        raise RetriesExhausted(
            f"{label}: gave up after {retry_state.attempt_number} attempts over {spent:.1f} s "
            f"(limits: {policy.max_attempts} attempts, {policy.max_seconds:g} s); last failure: {error}",
            attempts=retry_state.attempt_number,
            last=error,
        ) from error

    return Retrying(
        retry=retry_if_exception_type(TransientError),
        wait=wait_random_exponential_retry_after(
            multiplier=policy.backoff_initial,
            max_backoff=policy.backoff_max,
            max_retry_after=policy.max_retry_after,
        ),
        stop=stop_after_attempt_or_budget(policy.max_attempts, policy.max_seconds),
        sleep=sleep,
        before_sleep=before_sleep,
        retry_error_callback=give_up,
    )


def _transient(retry_state: RetryCallState) -> TransientError:
    """The TransientError that ended an attempt (only those are retried)."""
    assert retry_state.outcome is not None
    error = retry_state.outcome.exception()
    assert isinstance(error, TransientError)
    return error
