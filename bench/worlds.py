"""The simulated worlds the scenarios run against: fixed seed and end day, volumes per scenario."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from retab_sim import SimConfig

END = date(2026, 5, 10)
BASE = SimConfig(seed=7, end=END, days=1, runs_per_day=0, experiment_runs_per_day=0, cache_mb=1024)


def world(**overrides: Any) -> SimConfig:
    """The base world with some knobs changed (days, runs_per_day, latency_ms, ...)."""
    return replace(BASE, **overrides)


def last_days(n: int) -> list[date]:
    """The n days up to END, oldest first."""
    return [END - timedelta(days=k) for k in reversed(range(n))]
