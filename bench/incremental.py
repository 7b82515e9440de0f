"""Scenario: what incremental syncs cost, in requests and wall time, the product at its defaults.

    crash resume       a sync SIGKILLed at 60 % of a 200-page day, then run again:
                       pages the re-run fetches / pages of the day                   <= 0.5
    today tick         a second sync of today (100,000 runs, a few new since, none open):
                       requests per endpoint                                         <= 5
    nightly            the night after a 7-day backfill (20,000 runs a day, open runs as the
                       simulator makes them): requests spent /
                       (sum over days of min(pages, open runs) + pages of the new days) <= 1.1
    big closed day     10,000 runs at 100 ms a page: wall / (pages x 100 ms)          <= 0.6

Requests are counted by the simulator (every answered request, by route). Each row's sync runs
in a child process with the product's default settings; the simulated clock sets "today".
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb

from bench.job import JobFailed, run_job
from bench.table import Figure, ScenarioResult
from bench.worlds import END, world
from retab_sim import start_simulator_process

CRASH_RUNS, CRASH_AT = 20_000, 0.6
TICK_RUNS = 100_000
NIGHTLY_DAYS, NIGHTLY_RUNS = 7, 20_000
BIG_RUNS, BIG_LATENCY_MS = 10_000, 100
OPEN = "'pending', 'queued', 'running', 'awaiting_review'"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def spec(sim: Any, db: Path, endpoints: list[str], days: list[date] | None, **extra: Any) -> dict[str, Any]:
    """A sync job of the product at its defaults."""
    return {
        "kind": "sync",
        "base_url": sim.base_url,
        "key": sim.key,
        "db": str(db),
        "endpoints": endpoints,
        "days": None if days is None else [d.isoformat() for d in days],
        **extra,
    }


def served(sim: Any) -> dict[str, int]:
    return dict(sim.counters()["requests_by_route"])


def spent(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) - before.get(k, 0)}


def crash_resume(workdir: Path, n: int) -> float:
    """Re-run pages / day pages after a SIGKILL at 60 % of a 200-page day."""
    with start_simulator_process(world(days=1, runs_per_day=CRASH_RUNS)) as sim:
        db = workdir / f"crash-{n}.duckdb"
        pages = math.ceil(CRASH_RUNS / 100)
        job = spec(sim, db, ["runs"], [END], kind="killed_sync", kill_at_request=int(CRASH_AT * pages))
        try:
            run_job(job)
            raise RuntimeError("the sync was not killed")
        except JobFailed as error:
            if "-9" not in str(error):
                raise
        before = served(sim)
        done = run_job(spec(sim, db, ["runs"], [END]))
        if not done["ok"] or done["rows"] != CRASH_RUNS:
            raise RuntimeError(f"the re-run failed or lost rows: {done}")
        return spent(before, served(sim)).get("list_runs", 0) / pages


def today_tick(workdir: Path, n: int) -> float:
    """Requests per endpoint of a second sync of today, a few runs created since the first."""
    config = world(
        days=1, runs_per_day=TICK_RUNS, experiment_runs_per_day=10_000, instant_runs=True, now=at(END, 16)
    )
    with start_simulator_process(config) as sim:
        db = workdir / f"tick-{n}.duckdb"
        both = ["runs", "experiment-runs"]
        first = run_job(spec(sim, db, both, [END], mode="incremental", today=END.isoformat()))
        sim.advance(seconds=3)  # ~3.5 workflow runs at 100,000 a day
        before = served(sim)
        second = run_job(spec(sim, db, both, [END], mode="incremental", today=END.isoformat()))
        if not (first["ok"] and second["ok"]):
            raise RuntimeError(f"a sync failed: {first['errors'] or second['errors']}")
        return max(spent(before, served(sim)).values(), default=0)


def nightly(workdir: Path, n: int) -> tuple[float, dict[str, int]]:
    """Requests of the night after a backfill / the least the API allows for what changed."""
    first = END - timedelta(days=NIGHTLY_DAYS - 1)
    config = world(
        days=NIGHTLY_DAYS,
        runs_per_day=NIGHTLY_RUNS,
        experiment_runs_per_day=2_000,
        now=at(END + timedelta(days=1), 2, 15),
    )
    days = [first + timedelta(days=k) for k in range(NIGHTLY_DAYS)]
    both = ["runs", "experiment-runs"]
    with start_simulator_process(config) as sim:
        db = workdir / f"nightly-{n}.duckdb"
        today = END + timedelta(days=1)
        if not run_job(spec(sim, db, both, days, today=today.isoformat()))["ok"]:
            raise RuntimeError("the backfill failed")
        sim.advance(minutes=24 * 60)  # the next night, 02:15
        today += timedelta(days=1)
        floor = least_requests(db, sim, today)
        before = served(sim)
        done = run_job(spec(sim, db, both, None, today=today.isoformat(), reconcile_days=0))
        if not done["ok"]:
            raise RuntimeError(f"the nightly failed: {done['errors']}")
        requests = spent(before, served(sim))
        return sum(requests.values()) / floor, requests


def least_requests(db: Path, sim: Any, today: date) -> int:
    """Sum over the days held of min(pages, open runs), plus the pages of the days not held yet."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        total = 0
        for table in ("workflow_runs", "experiment_runs"):
            rows = con.execute(
                f"""
                SELECT count(*), count(*) FILTER (WHERE status IN ({OPEN}))
                FROM retab.{table} GROUP BY created_date
                """
            ).fetchall()
            total += sum(min(math.ceil(held / 100), open_) for held, open_ in rows)
            held_days = {
                d for (d,) in con.execute(f"SELECT DISTINCT created_date FROM retab.{table}").fetchall()
            }
            endpoint = "runs" if table == "workflow_runs" else "experiment-runs"
            for day in (today - timedelta(days=1), today):
                if day not in held_days:
                    total += max(1, math.ceil(len(sim.truth_ids(endpoint, day)) / 100))
        return total
    finally:
        con.close()


def big_day(workdir: Path, n: int) -> tuple[float, int]:
    """Wall time of a closed day's sync / (its pages x the latency)."""
    with start_simulator_process(world(days=1, runs_per_day=BIG_RUNS, latency_ms=BIG_LATENCY_MS)) as sim:
        done = run_job(spec(sim, workdir / f"big-{n}.duckdb", ["runs"], [END]))
        if not done["ok"] or done["rows"] != BIG_RUNS:
            raise RuntimeError(f"the sync failed or lost rows: {done}")
        pages = math.ceil(BIG_RUNS / 100)
        return done["seconds"] / (pages * BIG_LATENCY_MS / 1000), done["pages"]


def run(repetitions: int, workdir: Path) -> ScenarioResult:
    """Each row `repetitions` times."""
    result = ScenarioResult("incremental")
    crash = [crash_resume(workdir, n) for n in range(repetitions)]
    tick = [today_tick(workdir, n) for n in range(repetitions)]
    nights = [nightly(workdir, n) for n in range(repetitions)]
    big = [big_day(workdir, n) for n in range(repetitions)]
    result.figures += [
        Figure(
            "incremental",
            "crash resume: re-run pages / day pages (killed at 60 %)",
            "ratio",
            crash,
            at_most=0.5,
            note="200-page day, defaults",
        ),
        Figure(
            "incremental",
            "today tick: requests per endpoint of a second sync",
            "count",
            tick,
            at_most=5,
            note="100,000 runs today, a few new, none open",
        ),
        Figure(
            "incremental",
            "nightly: requests / (sum min(pages, open) + new pages)",
            "ratio",
            [r for r, _ in nights],
            at_most=1.1,
            note=f"after a 7-day backfill; last night's requests {nights[-1][1]}",
        ),
        Figure(
            "incremental",
            "big closed day: wall / (pages x 100 ms)",
            "ratio",
            [r for r, _ in big],
            at_most=0.6,
            note=f"10,000 runs, {big[-1][1]} pages fetched",
        ),
    ]
    result.details = {"crash": crash, "tick": tick, "nightly": nights, "big_day": big}
    return result
