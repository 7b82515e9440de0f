"""Faults: named profiles and knobs, decided per request from (seed, path and query, attempt).

A decision depends only on the seed, the request line's target and how many times that same
target was asked before, so it does not depend on concurrency, and a retried request succeeds
once `max_attempts` tries have failed. Kinds:

    429         with Retry-After in seconds or as an HTTP date (at most `retry_after_max_s` away)
    500-504     FastAPI-style error body
    disconnect  headers with the full Content-Length, part of the body, then the connection closes
    truncated   200 whose body (and Content-Length) stops part-way through the JSON
    slow        the response waits `slow_ms` first (only when there is no error)
    stale_after the last page still carries an `after` cursor; the page after it is empty
    head_insert the clock moves `head_insert_seconds` on before the page is served
    unknown_fields / missing_fields  per record: extra keys, or null/default-valued keys left out
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from retab_sim.config import SimConfig


class Draws:
    """Values drawn from one big integer, consumed digit by digit in mixed radix."""

    __slots__ = ("x",)

    def __init__(self, x: int) -> None:
        self.x = x

    def below(self, n: int) -> int:
        """An integer in [0, n)."""
        self.x, r = divmod(self.x, n)
        return r

    def unit(self) -> float:
        """A float in [0, 1)."""
        return self.below(1 << 20) / (1 << 20)


@dataclass(frozen=True)
class FaultPlan:
    """How often each fault happens (rates are probabilities per request or per record)."""

    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_disconnect: float = 0.0
    rate_truncated: float = 0.0
    rate_slow: float = 0.0
    slow_ms: int = 300
    rate_stale_after: float = 0.0
    rate_head_insert: float = 0.0
    head_insert_seconds: float = 90.0
    rate_unknown_fields: float = 0.0
    rate_missing_fields: float = 0.0
    retry_after_max_s: int = 1
    max_attempts: int = 3

    @property
    def error_rate(self) -> float:
        """Probability that a request fails outright."""
        return self.rate_429 + self.rate_5xx + self.rate_disconnect + self.rate_truncated

    @property
    def active(self) -> bool:
        """Whether any fault can happen."""
        return any(
            (
                self.error_rate,
                self.rate_slow,
                self.rate_stale_after,
                self.rate_head_insert,
                self.rate_unknown_fields,
                self.rate_missing_fields,
            )
        )


PROFILES: dict[str, FaultPlan] = {
    "none": FaultPlan(),
    "mild": FaultPlan(
        rate_429=0.02,
        rate_5xx=0.02,
        rate_disconnect=0.005,
        rate_truncated=0.005,
        rate_slow=0.02,
        slow_ms=200,
        rate_stale_after=0.5,
        rate_unknown_fields=0.02,
        rate_missing_fields=0.05,
    ),
    "hostile": FaultPlan(
        rate_429=0.08,
        rate_5xx=0.08,
        rate_disconnect=0.03,
        rate_truncated=0.03,
        rate_slow=0.05,
        slow_ms=400,
        rate_stale_after=1.0,
        rate_head_insert=0.3,
        head_insert_seconds=120.0,
        rate_unknown_fields=0.2,
        rate_missing_fields=0.2,
        max_attempts=4,
    ),
}
ERROR_STATUSES = ("500", "502", "503", "504")
_ERROR_KNOBS = ("rate_429", "rate_5xx", "rate_disconnect", "rate_truncated")


def plan_for(cfg: SimConfig) -> FaultPlan:
    """The profile named by `cfg.faults`, with every `cfg.fault_*` knob that is set applied."""
    plan = PROFILES[cfg.faults]
    overrides = {}
    for f in fields(FaultPlan):
        value = getattr(cfg, f"fault_{f.name}", None)
        if value is not None:
            overrides[f.name] = value
    if plan.error_rate + sum(overrides.get(k, 0.0) - getattr(plan, k) for k in _ERROR_KNOBS) > 1.0:
        raise ValueError("the 429, 5xx, disconnect and truncated rates add up to more than 1")
    return replace(plan, **overrides)


@dataclass(frozen=True)
class Decision:
    """What happens to one request."""

    error: str | None = None  # "429", "500".."504", "disconnect", "truncated"
    retry_after: str | None = None
    slow: bool = False
    stale_after: bool = False
    head_insert: bool = False
    cut: float = 0.5  # where a disconnect or truncation cuts the body, as a fraction
    record_seed: int = 0  # drives per-record perturbations


NO_FAULT = Decision()


def decide(
    plan: FaultPlan, seed: int, target: str, attempt: int, http_date: Callable[[int], str]
) -> Decision:
    """The fault (if any) for the `attempt`-th (0-based) time `target` is requested."""
    digest = hashlib.blake2b(f"{seed}\0{target}\0{attempt}".encode(), digest_size=48).digest()
    d = Draws(int.from_bytes(digest, "little"))
    u = d.unit()
    error = retry_after = None
    if attempt < plan.max_attempts:
        if u < plan.rate_429:
            error = "429"
            wait = d.below(plan.retry_after_max_s + 1)
            retry_after = http_date(wait) if d.below(2) else str(wait)
        elif u < plan.rate_429 + plan.rate_5xx:
            error = ERROR_STATUSES[d.below(4)]
        elif u < plan.rate_429 + plan.rate_5xx + plan.rate_disconnect:
            error = "disconnect"
        elif u < plan.error_rate:
            error = "truncated"
    return Decision(
        error=error,
        retry_after=retry_after,
        slow=d.unit() < plan.rate_slow and error is None and attempt < plan.max_attempts,
        stale_after=d.unit() < plan.rate_stale_after,
        head_insert=d.unit() < plan.rate_head_insert,
        cut=0.1 + 0.8 * d.unit(),
        record_seed=d.x,
    )


_EXTRA_TOP = {
    "x_request_region": "eu-west-1",
    "cost": {"usd": 0.0123, "pages": 3},
    "_links": {"self": "/v1/..."},
}
_KEEP = frozenset({"inputs", "status", "message"})  # absent `inputs` means {} to the SDK, not null


def _droppable(key: str, value: Any) -> bool:
    if key in _KEEP:
        return False
    return value is None or (type(value) is int and value == 0 and key.endswith("_count"))


def _drop_defaults(obj: dict[str, Any]) -> int:
    keys = [k for k, v in obj.items() if _droppable(k, v)]
    for key in keys:
        del obj[key]
    dropped = len(keys)
    for key in ("lifecycle", "timing"):
        sub = obj.get(key)
        if isinstance(sub, dict):
            dropped += _drop_defaults(sub)
    return dropped


def perturb(records: list[dict[str, Any]], plan: FaultPlan, record_seed: int) -> tuple[int, int]:
    """Add unknown fields to, or leave null/default fields out of, some records in place; returns counts."""
    d = Draws(int.from_bytes(hashlib.blake2b(str(record_seed).encode(), digest_size=64).digest(), "little"))
    unknown = missing = 0
    for record in records:
        if d.x < 1 << 40:
            d = Draws(int.from_bytes(hashlib.blake2b(str(d.x).encode(), digest_size=64).digest(), "little"))
        if d.unit() < plan.rate_unknown_fields:
            key = list(_EXTRA_TOP)[d.below(len(_EXTRA_TOP))]
            record[key] = _EXTRA_TOP[key]
            if isinstance(record.get("lifecycle"), dict):
                record["lifecycle"]["attempt"] = 1 + d.below(3)
            if isinstance(record.get("timing"), dict):
                record["timing"]["queued_at"] = record["timing"].get("created_at")
            unknown += 1
        if d.unit() < plan.rate_missing_fields and _drop_defaults(record):
            missing += 1
    return unknown, missing
