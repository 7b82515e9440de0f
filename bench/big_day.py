"""Scenario 4: one day of 1,000,000 workflow runs, synced by a child process: its peak RSS.

The window's spool spills to disk past 16 MB, so what remains is the interpreter with its
libraries, the pages and batches in flight, the extract's loop guard (a set of the ids seen in
the window) and DuckDB's writer (memory_limit 64 MB, pipelines.load.memory).
"""

from __future__ import annotations

from pathlib import Path

from bench.job import run_job
from bench.table import Figure, ScenarioResult
from bench.worlds import last_days, world
from retab_sim import start_simulator_process

RUNS = 1_000_000
TARGET_MB = 400.0


def run(repetitions: int, workdir: Path) -> ScenarioResult:
    """The same day `repetitions` times, each into a fresh file."""
    result = ScenarioResult("big_day")
    done: list[dict] = []
    with start_simulator_process(world(days=1, runs_per_day=RUNS, cache_mb=1500)) as sim:
        for n in range(repetitions):
            done.append(
                run_job(
                    {
                        "kind": "sync",
                        "base_url": sim.base_url,
                        "key": sim.key,
                        "db": str(workdir / f"big-{n}.duckdb"),
                        "endpoints": ["runs"],
                        "days": [d.isoformat() for d in last_days(1)],
                    }
                )
            )
            if not done[-1]["ok"] or done[-1]["rows"] != RUNS:
                raise RuntimeError(f"the sync failed or lost rows: {done[-1]}")
    peaks = [d["peak_rss_mb"] for d in done]
    result.figures = [
        Figure(
            "big_day",
            f"1 d x {RUNS:,} runs: peak RSS",
            "MB",
            peaks,
            at_most=TARGET_MB,
        ),
        Figure("big_day", "1 d x 1,000,000 runs: rows/s", "rows/s", [d["rows"] / d["seconds"] for d in done]),
        Figure("big_day", "RSS before the sync (imports)", "MB", [d["rss_before_mb"] for d in done]),
    ]
    result.details = {"runs": done}
    return result
