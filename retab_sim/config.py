"""The simulator's configuration: one frozen value, validated on creation."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

SHAPES = ("sdk", "docs", "mixed")
FAULT_PROFILES = ("none", "mild", "hostile")


def _today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class SimConfig:
    """What the simulator serves: data volume and shape, clock, faults and the accepted key.

    Data exists from `end - days + 1` onwards, `runs_per_day` workflow runs and
    `experiment_runs_per_day` experiment runs per UTC day, days after `end` included (they
    appear as the clock moves). A `fault_*` knob left at None takes its value from `faults`.
    """

    seed: int = 0
    shape: str = "sdk"
    end: date = field(default_factory=_today)
    days: int = 3
    runs_per_day: int = 200
    experiment_runs_per_day: int = 20
    faults: str = "none"
    latency_ms: int = 0  # response time of each API request, the simulator's own work included
    key: str = "sim-key"
    now: datetime | None = None
    realtime: bool = False  # the clock follows the wall clock from `now` (the CLI's "today" mode)
    host: str = "127.0.0.1"
    port: int = 0
    fault_rate_429: float | None = None
    fault_rate_5xx: float | None = None
    fault_rate_disconnect: float | None = None
    fault_rate_truncated: float | None = None
    fault_rate_slow: float | None = None
    fault_slow_ms: int | None = None
    fault_rate_stale_after: float | None = None
    fault_rate_head_insert: float | None = None
    fault_head_insert_seconds: float | None = None
    fault_rate_unknown_fields: float | None = None
    fault_rate_missing_fields: float | None = None
    fault_retry_after_max_s: int | None = None
    fault_max_attempts: int | None = None
    cache_mb: int = 256  # budget for pre-rendered finished records
    quota_rps: float | None = None  # a server-side quota: 429 + Retry-After above it (retab_sim.quota)
    quota_headers: str = "none"  # announce the quota: "none", "ietf" (RateLimit) or "x" (X-RateLimit-*)
    quota_burst: float = 1.0  # seconds of requests the quota lets through at once
    long_review_rate: float = 0.0  # share of reviewed runs whose review lasts days, not minutes
    long_review_max_days: int = 90  # such a review lasts 1 to this many days
    rescore_rate: float = 0.0  # share of scored experiment runs given a new score after they finished
    rescore_max_days: int = 20  # the new score comes 1 to this many days after completion
    instant_runs: bool = False  # every run is final from its creation (no run is ever open)

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}, got {self.shape!r}")
        if self.faults not in FAULT_PROFILES:
            raise ValueError(f"faults must be one of {FAULT_PROFILES}, got {self.faults!r}")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        if not 0 <= self.runs_per_day <= 50_000_000 or not 0 <= self.experiment_runs_per_day <= 50_000_000:
            raise ValueError("runs per day must be between 0 and 50,000,000")
        if self.quota_rps is not None and not self.quota_rps > 0:
            raise ValueError("quota_rps must be > 0 requests/s")
        if not self.quota_burst > 0:
            raise ValueError("quota_burst must be > 0 seconds")
        if self.quota_burst < 1 and self.quota_headers != "none":
            raise ValueError("a quota_burst under a second cannot be announced: use quota_headers 'none'")
        if self.quota_headers not in ("none", "ietf", "x"):
            raise ValueError("quota_headers must be one of none, ietf, x")
        for name in ("long_review_rate", "rescore_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.long_review_max_days < 1 or self.rescore_max_days < 1:
            raise ValueError("long_review_max_days and rescore_max_days must be >= 1")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if not self.key:
            raise ValueError("key must not be empty")
        if self.now is not None and self.now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("fault_rate_") and value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{f.name} must be between 0 and 1")

    @property
    def start(self) -> date:
        """The first UTC day that has data."""
        return self.end - timedelta(days=self.days - 1)

    @property
    def initial_now(self) -> datetime:
        """The clock's starting point: `now`, or the end of the `end` day (midnight after it, UTC)."""
        if self.now is not None:
            return self.now.astimezone(UTC)
        return datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=UTC)

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly view without the key, for `GET /_sim/config`."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "key":
                continue
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, date | datetime) else value
        return out
