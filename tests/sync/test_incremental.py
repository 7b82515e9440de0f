"""Incremental sync against the simulator: checkpoints survive SIGKILL, today is followed from its tail,
open runs are settled at any age, reconciliation finds deletions and re-scores, and any mix of syncs,
clock moves and deletions ends equal to the API after one final nightly.

The tests taking the `warehouse` fixture run on both backends (a DuckDB file, a DuckLake)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warehouses import dicts, env, rows

from pipelines.config import TUNING, Settings, Warehouse
from pipelines.load.checkpoints import checkpoint_folder, checkpoint_root
from pipelines.sync.orchestrator import SyncReport, parse_endpoints, sync
from retab_sim import SimConfig, run_simulator

TABLES = {"runs": "workflow_runs", "experiment-runs": "experiment_runs"}
KILLER = Path(__file__).with_name("killed_sync.py")
DAY = date(2026, 5, 10)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def stored(db: Warehouse, endpoint: str, day: date) -> list[tuple[str, str]]:
    """(id, status) rows of one partition, duplicates kept."""
    sql = f"SELECT id, status FROM retab.{TABLES[endpoint]} WHERE created_date = ?"
    return [(str(i), str(s)) for i, s in rows(db, sql, [day])]


def differences(db: Warehouse, sim, days: list[date], endpoints=TABLES) -> dict[str, int]:
    """Rows missing, extra, duplicated or stale against the API's truth, over the days."""
    out: Counter[str] = Counter()
    for endpoint in endpoints:
        for day in days:
            rows = stored(db, endpoint, day)
            held, truth = dict(rows), sim.truth_ids(endpoint, day)
            out["duplicated"] += len(rows) - len(held)
            out["missing"] += len(truth.keys() - held.keys())
            out["extra"] += len(held.keys() - truth.keys())
            out["stale"] += sum(1 for i in truth.keys() & held.keys() if truth[i] != held[i])
    return {k: v for k, v in out.items() if v}


def requests(sim) -> Counter[str]:
    """Requests served so far, by route (list_runs, get_runs, ...)."""
    return Counter(sim.counters()["requests_by_route"])


def run(sim, db: Warehouse, days=None, *, today: date, endpoints: str = "all", **options) -> SyncReport:
    settings_ = Settings(api_key=sim.key, base_url=sim.base_url, duckdb_path=db)
    report = sync(settings_, parse_endpoints(endpoints), days, today=today, **options)
    assert report.ok, [(p.endpoint, p.day, p.error) for p in report.failed]
    return report


def sync_log(db: Warehouse) -> list[dict]:
    return dicts(db, "SELECT * FROM retab.sync_log ORDER BY started_at")


# --- checkpoints --------------------------------------------------------------------------


def killed(point: str, n: int, db: Warehouse, sim, days: list[date]) -> int:
    """Run a sync in a child process that SIGKILLs itself at the Nth call of `point`."""
    args = [sys.executable, str(KILLER), point, str(n), sim.base_url, sim.key, *map(str, days)]
    child_env = {**os.environ, **env(db)}
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, env=child_env)
    assert done.returncode == -9, f"the child was not killed at {point} #{n}: {done.returncode} {done.stderr}"
    return done.returncode


@pytest.mark.parametrize("point", ["fetch", "checkpoint", "swap", "commit"])
def test_a_sync_killed_in_any_phase_resumes_and_ends_equal_to_the_api(point, warehouse) -> None:
    config = SimConfig(seed=31, end=DAY, days=1, runs_per_day=20_000, experiment_runs_per_day=0)
    with run_simulator(config) as sim:
        db = warehouse
        n = {"fetch": 120, "checkpoint": 7, "swap": 1, "commit": 2}[point]  # commit 1: sync_log's start
        killed(point, n, db, sim, [DAY])
        if point == "swap":  # killed inside its transaction: the day holds nothing, readers see that
            assert stored(db, "runs", DAY) == []
        if point == "commit":  # killed inside (or just after) its commit: the day is empty or whole
            assert differences(db, sim, [DAY], ["runs"]) in ({}, {"missing": 20_000})
        before = requests(sim)["list_runs"]
        report = run(sim, db, [DAY], today=DAY + timedelta(days=1), endpoints="runs")
        refetched = requests(sim)["list_runs"] - before
        assert differences(db, sim, [DAY], ["runs"]) == {}
        (result,) = report.partitions
        total = 200  # pages of the day (20,000 runs, 100 a page)
        interval = TUNING.checkpoint_pages
        if point == "fetch":  # killed at 60 %: at most the rest plus one checkpoint interval (+ a seam)
            assert result.resumed_pages >= 120 - interval - 3
            assert refetched <= total - 120 + interval + 3, refetched
        if point == "checkpoint":  # the 7th save died: the 6th (past the first durable segments) is used
            assert result.resumed_pages >= 5 * interval, result.resumed_pages
            assert refetched <= total - result.resumed_pages + 3, refetched
        log = sync_log(db)
        assert log[0]["outcome"] in (("interrupted", "ok") if point == "commit" else ("interrupted",))
        assert log[-1]["outcome"] == "ok"
        assert log[-1]["mode"] == "resume" or point == "commit"
    assert not checkpoint_folder(checkpoint_root(db), "runs", DAY).exists(), "removed once committed"


def test_a_checkpoint_of_another_source_or_too_old_is_discarded(tmp_path) -> None:
    config = SimConfig(seed=32, end=DAY, days=1, runs_per_day=12_000, experiment_runs_per_day=0)
    with run_simulator(config) as sim:
        db = tmp_path / "w.duckdb"
        killed("fetch", 90, db, sim, [DAY])
        folder = checkpoint_folder(checkpoint_root(db), "runs", DAY)
        manifest = folder / "manifest.json"
        text = manifest.read_text()
        manifest.write_text(text.replace('"started_at": "2', '"started_at": "1'))  # a year 1xxx checkpoint
        report = run(sim, db, [DAY], today=DAY + timedelta(days=1), endpoints="runs")
        assert report.partitions[0].resumed_pages == 0, "a stale checkpoint must not be trusted"
        assert differences(db, sim, [DAY], ["runs"]) == {}


# --- tail-follow and settling -------------------------------------------------------------


def test_a_second_sync_of_today_fetches_only_the_new_runs(warehouse) -> None:
    config = SimConfig(seed=33, end=DAY, days=1, runs_per_day=20_000, experiment_runs_per_day=2_000,
                       instant_runs=True, now=at(DAY, 15))  # fmt: skip
    with run_simulator(config) as sim:
        db = warehouse
        run(sim, db, [DAY], today=DAY, mode="incremental")
        first = requests(sim)
        sim.advance(seconds=20)  # a few runs created since
        report = run(sim, db, [DAY], today=DAY, mode="incremental")
        spent = requests(sim) - first
        assert differences(db, sim, [DAY]) == {}
        assert 0 < sum(p.added for p in report.partitions) < 100
        assert spent["list_runs"] <= 2 and spent["list_experiment-runs"] <= 2, spent
        assert {row["mode"] for row in sync_log(db)[-2:]} == {"update"}


def test_open_runs_of_today_cost_at_most_min_of_pages_and_open_runs(tmp_path) -> None:
    config = SimConfig(seed=33, end=DAY, days=1, runs_per_day=20_000, experiment_runs_per_day=2_000,
                       now=at(DAY, 23, 50))  # fmt: skip
    with run_simulator(config) as sim:
        db = tmp_path / "w.duckdb"
        run(sim, db, [DAY], today=DAY, mode="incremental")
        open_before = sum(
            1 for _, s in stored(db, "runs", DAY) if s in ("pending", "running", "awaiting_review")
        )
        sim.advance(minutes=8)
        report = run(sim, db, [DAY], today=DAY, mode="incremental")
        assert differences(db, sim, [DAY]) == {}
        runs = next(p for p in report.partitions if p.endpoint == "runs")
        assert runs.pages + runs.gets <= min(201, open_before + 2) + 1, (runs.pages, runs.gets, open_before)
        assert runs.changed > 0 and runs.added > 0  # runs finished, and new ones came


def test_an_open_run_sixty_days_old_is_settled_by_the_nightly(tmp_path) -> None:
    first = date(2026, 3, 1)
    config = SimConfig(seed=34, end=first + timedelta(days=2), days=3, runs_per_day=150,
                       experiment_runs_per_day=20, long_review_rate=1.0, long_review_max_days=75,
                       now=at(first + timedelta(days=3), 1))  # fmt: skip
    days = [first + timedelta(days=n) for n in range(3)]
    with run_simulator(config) as sim:
        db = tmp_path / "w.duckdb"
        run(sim, db, days, today=days[-1] + timedelta(days=1))
        open_before = sum(1 for d in days for _, s in stored(db, "runs", d) if s == "awaiting_review")
        assert open_before >= 10, "the world must hold long reviews"
        now = days[-1] + timedelta(days=1)
        settled_late = 0  # runs open at a nightly when their day was 60+ days old, final at the next
        for _ in range(8):  # nightly every ~9 days: each night settles what finished meanwhile
            was_open = {i for d in days[:1] for i, s in stored(db, "runs", d) if s == "awaiting_review"}
            sim.advance(minutes=9 * 24 * 60)
            now += timedelta(days=9)
            before = requests(sim)
            report = run(sim, db, None, today=now, reconcile_days=0)
            spent = requests(sim) - before
            old = [p for p in report.partitions if p.day in days]
            # settling costs about min(pages, open runs) per day, plus one probe per endpoint
            for p in old:
                assert p.gets + p.pages <= max(1, -(-p.rows // 100)) + 2 or p.gets <= p.open_runs + 1
            assert spent["get_runs"] <= open_before + 2
            if now - timedelta(days=9) - days[0] >= timedelta(days=60):
                final = {i for i, s in stored(db, "runs", days[0]) if s != "awaiting_review"}
                settled_late += len(was_open & final)
        assert differences(db, sim, days) == {}
        assert settled_late >= 1, "no review open at 60+ days was brought to its final status"


def test_a_run_deleted_while_open_is_removed_when_it_is_settled(warehouse) -> None:
    config = SimConfig(seed=35, end=DAY, days=1, runs_per_day=300, experiment_runs_per_day=0,
                       now=at(DAY, 23, 59))  # fmt: skip
    with run_simulator(config) as sim:
        db = warehouse
        run(sim, db, [DAY], today=DAY, endpoints="runs")
        open_ids = [i for i, s in stored(db, "runs", DAY) if s in ("running", "pending", "awaiting_review")]
        assert open_ids
        sim.delete("runs", open_ids[0])
        sim.advance(minutes=30)
        report = run(sim, db, None, today=DAY + timedelta(days=1), endpoints="runs", reconcile_days=0)
        assert differences(db, sim, [DAY], ["runs"]) == {}
        assert sum(p.removed for p in report.partitions) == 1


# --- reconciliation -----------------------------------------------------------------------


def test_reconciliation_removes_deleted_runs_and_takes_in_new_scores(warehouse) -> None:
    config = SimConfig(seed=36, end=DAY, days=3, runs_per_day=500, experiment_runs_per_day=300,
                       rescore_rate=0.5, rescore_max_days=3, instant_runs=True,
                       now=at(DAY + timedelta(days=1), 2))  # fmt: skip
    days = [DAY - timedelta(days=n) for n in (2, 1, 0)]
    with run_simulator(config) as sim:
        db = warehouse
        run(sim, db, days, today=DAY + timedelta(days=1))
        sim.advance(minutes=5 * 24 * 60)  # scores revised 1-3 days after completion
        today = DAY + timedelta(days=6)
        settled = [i for i, s in stored(db, "runs", days[0]) if s == "completed"]
        sim.delete("runs", settled[0])
        nightly = run(sim, db, None, today=today, reconcile_days=0)
        assert sum(p.removed for p in nightly.partitions) == 0, "the nightly alone does not see a deletion"
        reconciled = run(sim, db, None, today=today, reconcile_days=10)
        assert differences(db, sim, days) == {}
        by_endpoint = Counter()
        for p in reconciled.partitions:
            by_endpoint[(p.endpoint, "removed")] += p.removed
            by_endpoint[(p.endpoint, "changed")] += p.changed
        assert by_endpoint[("runs", "removed")] == 1
        assert by_endpoint[("experiment-runs", "changed")] >= 10, "re-scored runs were picked up"
        modes = {row["mode"] for row in sync_log(db)}
        assert "reconcile" in modes
        scores = dict(
            rows(
                db,
                "SELECT id, score FROM retab.experiment_runs WHERE created_date BETWEEN ? AND ?",
                [days[0], days[-1]],
            )
        )
        truth = {r["id"]: r["score"] for d in days for r in sim.truth("experiment-runs", d)}
        assert scores == truth


# --- the property -------------------------------------------------------------------------

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.integers(1, 36 * 60)),  # minutes
        st.tuples(st.just("nightly"), st.just(0)),
        st.tuples(st.just("today"), st.just(0)),
        st.tuples(st.just("delete"), st.integers(0, 10_000)),
    ),
    min_size=1,
    max_size=7,
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(steps=STEPS, seed=st.integers(0, 1000))
def test_any_interleaving_ends_equal_to_the_api_after_one_final_nightly(
    tmp_path_factory, steps, seed
) -> None:
    first = date(2026, 4, 1)
    config = SimConfig(seed=seed, shape="mixed", end=first + timedelta(days=3), days=4,
                       runs_per_day=120, experiment_runs_per_day=30, long_review_rate=0.3,
                       long_review_max_days=3, rescore_rate=0.3, rescore_max_days=2,
                       now=at(first + timedelta(days=1), 9))  # fmt: skip
    db = tmp_path_factory.mktemp("prop") / "w.duckdb"
    with run_simulator(config) as sim:
        run(
            sim, db, [first, first + timedelta(days=1)], today=first + timedelta(days=1)
        )  # the first backfill
        for kind, value in steps:
            today = sim.now.date()
            if kind == "advance":
                sim.advance(minutes=value)
            elif kind == "nightly":
                run(sim, db, None, today=today)
            elif kind == "today":
                run(sim, db, [today], today=today, mode="incremental")
            else:
                day = first + timedelta(days=value % 2)
                ids = sorted(sim.truth_ids("runs", day))
                if ids:
                    sim.delete("runs", ids[value % len(ids)])
        sim.advance(minutes=(24 - sim.now.hour) * 60 + 180)  # to 03:00 the next night
        today = sim.now.date()
        run(sim, db, None, today=today, reconcile_days=(today - first).days)
        days = [first + timedelta(days=n) for n in range((today - first).days + 1)]
        assert differences(db, sim, days) == {}
