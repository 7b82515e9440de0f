"""`retab-warehouse sync` against the simulator: the warehouse equals the API's truth, per day.

The tests taking the `warehouse` fixture run on both backends (a DuckDB file, a DuckLake)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import duckdb
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from warehouses import env, rows

from pipelines.cli import main
from pipelines.config import Warehouse
from pipelines.load.connections import sql_literal
from retab_sim import SimConfig, run_simulator

END = date(2026, 5, 10)
DAYS = [END - timedelta(days=n) for n in (2, 1, 0)]
TABLES = {"runs": "workflow_runs", "experiment-runs": "experiment_runs"}
OPEN = {"pending", "queued", "running", "awaiting_review"}


def sync_cli(monkeypatch: pytest.MonkeyPatch, sim, db: Warehouse, *extra: str) -> int:
    """Run the real command line against the simulator."""
    monkeypatch.setenv("RETAB_API_BASE_URL", sim.base_url)
    monkeypatch.setenv("RETAB_API_KEY", sim.key)
    for name, value in env(db).items():
        monkeypatch.setenv(name, value)
    return main(["sync", "--start", str(DAYS[0]), "--end", str(DAYS[-1]), "--quiet", *extra])


def stored(db: Warehouse, endpoint: str, day: date) -> list[tuple[str, str]]:
    """(id, status) rows of one partition, duplicates kept."""
    sql = f"SELECT id, status FROM retab.{TABLES[endpoint]} WHERE created_date = ?"
    return [(str(i), str(s)) for i, s in rows(db, sql, [day])]


def assert_equals_truth(db: Warehouse, sim) -> None:
    """No missing, extra, duplicated or stale row in any synced partition."""
    for endpoint in TABLES:
        for day in DAYS:
            rows = stored(db, endpoint, day)
            ids = Counter(run_id for run_id, _ in rows)
            assert not [i for i, n in ids.items() if n > 1], f"duplicates in {endpoint} {day}"
            assert dict(rows) == sim.truth_ids(endpoint, day), f"{endpoint} {day} differs from the API"


@pytest.mark.parametrize("shape", ["sdk", "docs", "mixed"], ids=["sdk-shape", "docs-shape", "mixed-shape"])
def test_a_sync_equals_the_api_in_every_record_shape(shape, monkeypatch, warehouse):
    with run_simulator(SimConfig(seed=11, shape=shape, end=END, days=3, runs_per_day=300)) as sim:
        assert sync_cli(monkeypatch, sim, warehouse) == 0
        assert_equals_truth(warehouse, sim)


def test_documents_and_columns_survive_the_round_trip(monkeypatch, tmp_path):
    db = tmp_path / "retab.duckdb"
    with run_simulator(SimConfig(seed=5, shape="mixed", end=END, days=3, runs_per_day=150)) as sim:
        assert sync_cli(monkeypatch, sim, db) == 0
        truth = {r["id"]: r for r in sim.truth("runs", DAYS[1])}
    con = duckdb.connect(":memory:")
    con.execute(f"ATTACH {sql_literal(db)} AS w (READ_ONLY)")
    docs = dict(
        con.execute(
            "SELECT run_id, count(*) FROM w.retab.workflow_run_documents WHERE created_date = ? GROUP BY 1",
            [DAYS[1]],
        ).fetchall()
    )
    expected = {i: len((r.get("inputs") or {}).get("documents") or {}) for i, r in truth.items()}
    assert docs == {i: n for i, n in expected.items() if n}
    counts = dict(
        con.execute(
            "SELECT id, document_count FROM w.retab.workflow_runs WHERE created_date = ?", [DAYS[1]]
        ).fetchall()
    )
    assert counts == expected


def test_re_syncing_is_idempotent_and_drops_deleted_runs(monkeypatch, warehouse):
    db = warehouse
    with run_simulator(SimConfig(seed=3, end=END, days=3, runs_per_day=120)) as sim:
        assert sync_cli(monkeypatch, sim, db) == 0
        assert sync_cli(monkeypatch, sim, db) == 0
        assert_equals_truth(db, sim)
        gone = next(iter(sim.truth_ids("runs", DAYS[0])))
        sim.delete("runs", gone)
        assert sync_cli(monkeypatch, sim, db) == 0
        assert gone not in dict(stored(db, "runs", DAYS[0]))
        assert_equals_truth(db, sim)
    outcomes = rows(db, "SELECT outcome, count(*) FROM retab.sync_log GROUP BY 1")
    assert outcomes == [("ok", 3 * len(DAYS) * len(TABLES))]


def test_refresh_open_brings_late_updates_in(monkeypatch, warehouse):
    db = warehouse
    with run_simulator(SimConfig(seed=9, end=END, days=3, runs_per_day=400)) as sim:
        assert sync_cli(monkeypatch, sim, db) == 0
        open_before = [s for _, s in stored(db, "runs", DAYS[-1]) if s in OPEN]
        assert open_before, "the simulator's last day should still hold in-flight runs"
        sim.advance(minutes=24 * 60)
        # Sync only the first day, with --refresh-open: the open last day must be picked up too.
        monkeypatch.setenv("RETAB_API_BASE_URL", sim.base_url)
        code = main(["sync", "--start", str(DAYS[0]), "--end", str(DAYS[0]), "--quiet", "--refresh-open",
                     "--lookback-days", "3650"])  # fmt: skip
        assert code == 0
        assert dict(stored(db, "runs", DAYS[-1])) == sim.truth_ids("runs", DAYS[-1])
        assert not [s for _, s in stored(db, "runs", DAYS[-1]) if s in OPEN]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(min_value=0, max_value=10_000),
    runs_per_day=st.integers(min_value=0, max_value=350),
    shape=st.sampled_from(["sdk", "docs", "mixed"]),
    faults=st.sampled_from(["none", "mild", "hostile"]),
)
@example(seed=7234, runs_per_day=149, shape="sdk", faults="hostile")  # once found stale by head_insert
def test_property_the_warehouse_equals_the_source(
    seed, runs_per_day, shape, faults, monkeypatch, tmp_path_factory
):
    db = tmp_path_factory.mktemp("property") / "retab.duckdb"
    # A source that does not change during the sync: no head_insert fault, which moves the clock
    # mid-walk so that a run fetched as pending may have completed by the end (then the warehouse is
    # right as of its fetch, and the next --refresh-open settles it: tests/reliability/test_late_updates).
    config = SimConfig(
        seed=seed,
        shape=shape,
        faults=faults,
        end=END,
        days=3,
        runs_per_day=runs_per_day,
        fault_rate_head_insert=0.0,
    )
    with run_simulator(config) as sim:
        assert sync_cli(monkeypatch, sim, db) == 0
        assert_equals_truth(db, sim)
