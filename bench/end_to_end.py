"""Scenario 1: the real sync of 7 days x (50,000 runs + 5,000 experiment runs), and dlt on a slice.

Each repetition syncs into a fresh DuckDB file from a child process (rows/s over the sync() call,
peak RSS of that process). The simulator keeps rendered records (cache_mb), so the first
repetition meets a cold server and the others a warm one; the median is a warm figure.
dlt 1.31's rest_api source (defaults, DuckDB destination) loads ~1-2k rows/s, so the whole
385,000 rows would take minutes per repetition: it loads the first 100 pages of workflow runs
and the first 10 pages of experiment runs of the last day instead (11,000 rows of the same data;
its rate does not depend on the volume), and the ratio compares rows/s.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from bench.job import run_job
from bench.table import Figure, ScenarioResult
from bench.worlds import END, last_days, world
from retab_sim import start_simulator_process

DAYS = 7
RUNS_PER_DAY = 50_000
EXPERIMENT_RUNS_PER_DAY = 5_000
DLT_PAGES = {"workflow_runs": 100, "experiment_runs": 10}
TARGET_RATIO = 20.0


def run(repetitions: int, workdir: Path) -> ScenarioResult:
    """Sync and dlt, alternating, `repetitions` times each."""
    result = ScenarioResult("end_to_end")
    config = world(days=DAYS, runs_per_day=RUNS_PER_DAY, experiment_runs_per_day=EXPERIMENT_RUNS_PER_DAY)
    ours: list[dict] = []
    theirs: list[dict] = []
    with start_simulator_process(config) as sim:
        for n in range(repetitions):
            ours.append(
                run_job(
                    {
                        "kind": "sync",
                        "base_url": sim.base_url,
                        "key": sim.key,
                        "db": str(workdir / f"e2e-{n}.duckdb"),
                        "endpoints": ["runs", "experiment-runs"],
                        "days": [d.isoformat() for d in last_days(DAYS)],
                    }
                )
            )
            if not ours[-1]["ok"]:
                raise RuntimeError(f"the sync failed: {ours[-1]['errors']}")
            target = workdir / f"dlt-{n}"
            target.mkdir()
            theirs.append(
                run_job(
                    {
                        "kind": "dlt",
                        "base_url": sim.base_url,
                        "key": sim.key,
                        "from_date": END.isoformat(),
                        "to_date": END.isoformat(),
                        "pages": DLT_PAGES,
                        "dir": str(target),
                        "db": str(target / "dlt.duckdb"),
                    }
                )
            )
    rows = ours[0]["rows"]
    expected = DAYS * (RUNS_PER_DAY + EXPERIMENT_RUNS_PER_DAY)
    ours_rate = [r["rows"] / r["seconds"] for r in ours]
    dlt_rate = [r["rows"] / r["seconds"] for r in theirs]
    ratios = [a / b for a, b in zip(ours_rate, dlt_rate, strict=True)]
    ratio_of_medians = statistics.median(ours_rate) / statistics.median(dlt_rate)
    result.figures = [
        Figure(
            "end_to_end",
            f"sync {DAYS} d x ({RUNS_PER_DAY:,} + {EXPERIMENT_RUNS_PER_DAY:,}): rows/s",
            "rows/s",
            ours_rate,
            note="" if rows == expected else f"the sync loaded {rows:,} rows, {expected:,} expected",
        ),
        Figure("end_to_end", "sync: peak RSS", "MB", [r["peak_rss_mb"] for r in ours]),
        Figure(
            "end_to_end",
            f"dlt rest_api -> duckdb: rows/s (slice: {theirs[0]['rows']:,} rows of 1 day)",
            "rows/s",
            dlt_rate,
        ),
        Figure("end_to_end", "dlt: peak RSS", "MB", [r["peak_rss_mb"] for r in theirs]),
        Figure(
            "end_to_end",
            "sync / dlt rows/s",
            "x",
            ratios,
            at_least=TARGET_RATIO,
            note=f"repetition n of each paired; the ratio of the two medians is {ratio_of_medians:.1f}x",
        ),
    ]
    result.details = {"sync": ours, "dlt": theirs, "rows_expected": expected}
    return result
