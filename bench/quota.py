"""Scenario: the product at its defaults against an API with 150 ms latency and a request quota.

Each row syncs 7 days x (5,000 runs + 500 experiment runs), about 390 requests, with the
product's default settings (no request-rate setting: the client's rate adapts to the API) against
the simulator's server-side quota (a token bucket; 429 + Retry-After in whole seconds above it):

    quota 30 requests/s            wall / (requests / 30)  <= 1.15, 429s <= 3 % of requests
    quota 5 requests/s             wall / (requests / 5)   <= 1.15, 429s <= 3 %
    quota 30 -> 15 mid-sync        no request fails, 429s <= 5 %
    quota 30, RateLimit headers    the same as the first row, the quota announced (informational)

The ideal is the quota's own bound: requests / quota seconds. Requests are those the server
answered (the 429s included), from the simulator's counters.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from bench.job import run_job
from bench.table import Figure, ScenarioResult
from bench.worlds import last_days, world
from retab_sim import start_simulator_process

LATENCY_MS = 150
DAYS = 7
RUNS_PER_DAY = 5_000
EXPERIMENT_RUNS_PER_DAY = 500
TARGET_RATIO = 1.15
TARGET_429_PERCENT = 3.0
TARGET_429_PERCENT_HALVING = 5.0


def sync_under_quota(
    workdir: Path, name: str, quota: float, *, headers: str = "none", halve_after: float | None = None
) -> dict[str, Any]:
    """One sync at the product's defaults against a fresh simulator with the given quota."""
    config = world(
        days=DAYS,
        runs_per_day=RUNS_PER_DAY,
        experiment_runs_per_day=EXPERIMENT_RUNS_PER_DAY,
        latency_ms=LATENCY_MS,
        quota_rps=quota,
        quota_headers=headers,
    )
    with start_simulator_process(config) as sim:
        timer = None
        if halve_after is not None:
            timer = threading.Timer(halve_after, sim.set_quota, args=(quota / 2,))
            timer.start()
        try:
            done = run_job(
                {
                    "kind": "sync",
                    "base_url": sim.base_url,
                    "key": sim.key,
                    "db": str(workdir / f"{name}.duckdb"),
                    "endpoints": ["runs", "experiment-runs"],
                    "days": [d.isoformat() for d in last_days(DAYS)],
                }
            )
        finally:
            if timer is not None:
                timer.cancel()
        counters = sim.counters()
    requests = int(counters["requests_total"])
    refused = int(counters["requests_by_status"].get("429", 0))
    return {**done, "requests": requests, "refused": refused}


def run(repetitions: int, workdir: Path) -> ScenarioResult:
    """Each row `repetitions` times."""
    result = ScenarioResult("quota")
    rows: dict[str, list[dict[str, Any]]] = {"q30": [], "q5": [], "halving": [], "q30-headers": []}
    for n in range(repetitions):
        rows["q30"].append(sync_under_quota(workdir, f"q30-{n}", 30))
        rows["q5"].append(sync_under_quota(workdir, f"q5-{n}", 5))
        rows["halving"].append(sync_under_quota(workdir, f"halving-{n}", 30, halve_after=5.0))
        rows["q30-headers"].append(sync_under_quota(workdir, f"q30h-{n}", 30, headers="ietf"))
    for key, quota, label in (
        ("q30", 30, "quota 30/s"),
        ("q5", 5, "quota 5/s"),
        ("q30-headers", 30, "quota 30/s, RateLimit headers"),
    ):
        runs = rows[key]
        _check(runs, label)
        ratios = [r["seconds"] / (r["requests"] / quota) for r in runs]
        refused = [100 * r["refused"] / r["requests"] for r in runs]
        informational = key == "q30-headers"
        result.figures += [
            Figure(
                "quota",
                f"{label}: wall / (requests / quota)",
                "ratio",
                ratios,
                at_most=None if informational else TARGET_RATIO,
                note=f"{runs[-1]['requests']} requests, 150 ms latency, defaults",
            ),
            Figure(
                "quota",
                f"{label}: 429s / requests",
                "%",
                refused,
                at_most=None if informational else TARGET_429_PERCENT,
            ),
        ]
    halving = rows["halving"]
    _check(halving, "quota 30/s halving to 15/s")
    result.figures += [
        Figure(
            "quota",
            "quota 30/s halving to 15/s after 5 s: 429s / requests",
            "%",
            [100 * r["refused"] / r["requests"] for r in halving],
            at_most=TARGET_429_PERCENT_HALVING,
            note="no failed request",
        )
    ]
    result.details = rows
    return result


def _check(runs: list[dict[str, Any]], label: str) -> None:
    failed = [r for r in runs if not r["ok"]]
    if failed:
        raise RuntimeError(f"{label}: the sync failed: {failed[0]['errors']}")
