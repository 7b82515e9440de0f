"""The simulated world of the Dagster tests: 5 UTC days to 2026-05-10, small volumes, mixed shape."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from retab_sim import SimConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]
END = date(2026, 5, 10)
DAYS = [END - timedelta(days=n) for n in range(4, -1, -1)]  # 2026-05-06 .. 2026-05-10
WORLD = SimConfig(seed=11, shape="mixed", end=END, days=5, runs_per_day=120, experiment_runs_per_day=12)
