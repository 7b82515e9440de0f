"""Scenario 2: 100 ms per page (the simulator's latency_ms) at concurrency 1, 2, 4 and 8.

With N windows at once and 100 records a page, the ideal is N x 100 rows / 0.1 s. Each point
syncs N days of RUNS_PER_DAY workflow runs (one window per day, ~4 s of pages each), timed over
the whole sync() call: setup, the pages, and the loads of the last windows. Efficiency is the
measured rows/s over the ideal.
"""

from __future__ import annotations

from pathlib import Path

from bench.job import run_job
from bench.table import Figure, ScenarioResult
from bench.worlds import last_days, world
from retab_sim import start_simulator_process

LATENCY_MS = 100
CONCURRENCY = (1, 2, 4, 8)
RUNS_PER_DAY = 4_000
TARGET_EFFICIENCY = 80.0  # percent, at the highest concurrency


def ideal_rows_per_second(concurrency: int) -> float:
    """concurrency x 100 rows per page / the page latency."""
    return concurrency * 100 / (LATENCY_MS / 1000)


def run(repetitions: int, workdir: Path) -> ScenarioResult:
    """Each concurrency `repetitions` times, the points interleaved."""
    result = ScenarioResult("latency")
    config = world(days=max(CONCURRENCY), runs_per_day=RUNS_PER_DAY, latency_ms=LATENCY_MS)
    samples: dict[int, list[dict]] = {c: [] for c in CONCURRENCY}
    with start_simulator_process(config) as sim:
        for n in range(repetitions):
            for concurrency in CONCURRENCY:
                done = run_job(
                    {
                        "kind": "sync",
                        "base_url": sim.base_url,
                        "key": sim.key,
                        "db": str(workdir / f"latency-{concurrency}-{n}.duckdb"),
                        "endpoints": ["runs"],
                        "days": [d.isoformat() for d in last_days(concurrency)],
                        "concurrency": concurrency,
                    }
                )
                if not done["ok"]:
                    raise RuntimeError(f"the sync failed: {done['errors']}")
                samples[concurrency].append(done)
    for concurrency, runs in samples.items():
        rates = [r["rows"] / r["seconds"] for r in runs]
        ideal = ideal_rows_per_second(concurrency)
        efficiency = [100 * rate / ideal for rate in rates]
        last = concurrency == max(CONCURRENCY)
        result.figures += [
            Figure("latency", f"concurrency {concurrency}: rows/s (ideal {ideal:,.0f})", "rows/s", rates),
            Figure(
                "latency",
                f"concurrency {concurrency}: efficiency",
                "%",
                efficiency,
                at_least=TARGET_EFFICIENCY if last else None,
            ),
        ]
    result.details = {str(c): d for c, d in samples.items()}
    return result
