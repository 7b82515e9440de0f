"""Each asset check passes on a sound warehouse and fails on the defect it is there to catch."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from pathlib import Path

import dagster as dg
import duckdb
import handmade_warehouse as hw
import pytest
from instance_events import materialized

from assets.checks import (
    CHECKS,
    Scope,
    created_date_in_partition,
    no_stale_open_runs,
    partitions_complete,
    rejected_share,
    unique_ids,
    workflow_runs_checks,
)
from assets.partitions import DAILY
from assets.retab import WORKFLOW_RUNS_KEY, retab_workflow_runs
from pipelines.config import rejected_share_max
from pipelines.endpoints import ENDPOINTS
from pipelines.load.connections import open_reader

RUNS = ENDPOINTS["runs"]
EXPERIMENTS = ENDPOINTS["experiment-runs"]
DAYS = [date(2026, 5, 8), date(2026, 5, 9), date(2026, 5, 10)]
TODAY = date(2026, 5, 11)
SCOPE = Scope(days=DAYS, today=TODAY, settle_horizon_days=14, rejected_share_max=0.01)


@pytest.fixture(scope="module")
def sound_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse where every check passes: 100 finished runs a day, all synced ok and complete."""
    path = hw.create(tmp_path_factory.mktemp("template") / "w.duckdb")
    con = hw.connect(path)
    for day in DAYS:
        hw.add_runs(con, RUNS.table, day, 100)
        hw.add_runs(con, EXPERIMENTS.table, day, 10)
        hw.add_sync(con, RUNS.name, day)
        hw.add_sync(con, EXPERIMENTS.name, day)
    con.close()
    return path


@pytest.fixture
def sound(sound_template: Path, tmp_path: Path) -> Path:
    """A copy of the sound warehouse for one test to damage."""
    return Path(shutil.copyfile(sound_template, tmp_path / "w.duckdb"))


@pytest.fixture
def evaluate(sound: Path) -> Iterator[Callable[..., bool]]:
    """Run one check on the warehouse after an optional hand-made defect; True when it passes."""

    def run(check: Callable, defect: Callable[[duckdb.DuckDBPyConnection], None] | None = None, **kw) -> bool:
        if defect is not None:
            con = hw.connect(sound)
            defect(con)
            con.close()
        with open_reader(sound) as con:
            outcome = check(con, kw.get("endpoint", RUNS), kw.get("scope", SCOPE))
        assert outcome.description
        return outcome.passed

    yield run


@pytest.mark.parametrize("name", list(CHECKS), ids=list(CHECKS))
@pytest.mark.parametrize("endpoint", [RUNS, EXPERIMENTS], ids=["runs", "experiment-runs"])
def test_every_check_passes_on_a_sound_warehouse(evaluate, name, endpoint) -> None:
    assert evaluate(CHECKS[name][0], endpoint=endpoint)


def test_unique_ids_fails_on_a_duplicate_inserted_by_hand(evaluate) -> None:
    assert not evaluate(
        unique_ids, lambda con: hw.add_run(con, RUNS.table, "workflow_runs-2026-05-09-7", DAYS[0])
    )


def test_unique_ids_covers_the_whole_table_not_only_the_run_s_days(evaluate) -> None:
    outside = Scope(days=[DAYS[2]], today=TODAY, settle_horizon_days=14, rejected_share_max=0.01)
    defect = partial(hw.add_run, table=RUNS.table, run_id="workflow_runs-2026-05-08-1", day=DAYS[0])
    assert not evaluate(unique_ids, defect, scope=outside)


def test_unique_ids_fails_on_a_duplicate_document_key(evaluate) -> None:
    def defect(con: duckdb.DuckDBPyConnection) -> None:
        for _ in range(2):
            con.execute(
                "INSERT INTO retab.workflow_run_documents (run_id, start_block_id, created_date) "
                "VALUES ('workflow_runs-2026-05-08-0', 'start', DATE '2026-05-08')"
            )

    assert not evaluate(unique_ids, defect)


def test_created_date_check_fails_on_a_row_in_the_wrong_partition(evaluate) -> None:
    defect = partial(hw.add_run, table=RUNS.table, run_id="moved", day=DAYS[0], created_date=DAYS[1])
    assert not evaluate(created_date_in_partition, defect)


def test_created_date_check_uses_the_utc_day_of_created_at(evaluate) -> None:
    # 23:30 UTC on May 8 is May 9 in Paris: its partition is still the UTC day, May 8.
    defect = partial(hw.add_run, table=RUNS.table, run_id="late-evening", day=DAYS[0], hour=23)
    assert evaluate(created_date_in_partition, defect)


def test_created_date_check_looks_only_at_the_run_s_days(evaluate) -> None:
    defect = partial(hw.add_run, table=RUNS.table, run_id="moved", day=DAYS[0], created_date=DAYS[1])
    other_day = Scope(days=[DAYS[2]], today=TODAY, settle_horizon_days=14, rejected_share_max=0.01)
    assert evaluate(created_date_in_partition, defect, scope=other_day)


@pytest.mark.parametrize(("rejected", "passes"), [(1, True), (2, False)], ids=["1-of-101", "2-of-102"])
def test_rejected_share_fails_above_the_threshold(evaluate, rejected, passes) -> None:
    assert evaluate(rejected_share, lambda con: hw.add_rejected(con, RUNS.name, DAYS[1], rejected)) is passes


def test_rejected_share_fails_on_a_day_with_only_rejected_records(evaluate) -> None:
    every_day = Scope(days=None, today=TODAY, settle_horizon_days=14, rejected_share_max=0.01)
    no_runs_day = DAYS[-1] + timedelta(days=1)
    assert not evaluate(
        rejected_share, lambda con: hw.add_rejected(con, RUNS.name, no_runs_day, 1), scope=every_day
    )


def test_rejected_share_threshold_comes_from_the_environment() -> None:
    assert rejected_share_max({}) == 0.01
    assert rejected_share_max({"RETAB_REJECTED_SHARE_MAX": "0.05"}) == 0.05
    with pytest.raises(ValueError, match="RETAB_REJECTED_SHARE_MAX"):
        rejected_share_max({"RETAB_REJECTED_SHARE_MAX": "5%"})
    with pytest.raises(ValueError, match="between 0 and 1"):
        rejected_share_max({"RETAB_REJECTED_SHARE_MAX": "5"})


@pytest.mark.parametrize(
    ("outcome", "complete"),
    [("failed", False), ("interrupted", False), ("running", False), ("ok", False)],
    ids=["failed", "interrupted", "still-running", "walk-incomplete"],
)
def test_completeness_fails_when_the_latest_attempt_did_not_commit_a_full_walk(
    evaluate, outcome, complete
) -> None:
    started = _after_first_sync(DAYS[1])
    defect = partial(
        hw.add_sync, endpoint=RUNS.name, day=DAYS[1], outcome=outcome, complete=complete, started_at=started
    )
    assert not evaluate(partitions_complete, defect)


def test_completeness_passes_when_a_failed_attempt_was_followed_by_a_good_one(evaluate) -> None:
    def defect(con: duckdb.DuckDBPyConnection) -> None:
        hw.add_sync(con, RUNS.name, DAYS[1], "failed", complete=False, started_at=_after_first_sync(DAYS[1]))
        hw.add_sync(con, RUNS.name, DAYS[1], "ok", started_at=_after_first_sync(DAYS[1], hours=2))

    assert evaluate(partitions_complete, defect)


def test_completeness_fails_for_a_run_day_never_synced(evaluate) -> None:
    never = Scope(
        days=[*DAYS, DAYS[-1] + timedelta(1)], today=TODAY, settle_horizon_days=14, rejected_share_max=0.01
    )
    assert not evaluate(partitions_complete, scope=never)


def test_stale_open_runs_warns_about_open_runs_older_than_the_lookback(evaluate) -> None:
    old = TODAY - timedelta(days=20)
    assert not evaluate(no_stale_open_runs, lambda con: hw.add_run(con, RUNS.table, "stuck", old, "running"))


def test_stale_open_runs_ignores_open_runs_within_the_lookback(evaluate) -> None:
    recent = TODAY - timedelta(days=3)
    assert evaluate(no_stale_open_runs, lambda con: hw.add_run(con, RUNS.table, "busy", recent, "running"))


def test_without_a_horizon_an_open_run_of_any_age_is_fine_while_the_nightly_looks_at_it(evaluate) -> None:
    unlimited = Scope(days=DAYS, today=TODAY, settle_horizon_days=None, rejected_share_max=0.01)
    old = TODAY - timedelta(days=60)
    seen_today = datetime.combine(TODAY, time(2, 30), tzinfo=UTC)

    def looked_at_today(con: duckdb.DuckDBPyConnection) -> None:
        hw.add_run(con, RUNS.table, "in-review", old, "awaiting_review", synced_at=seen_today)

    def forgotten(con: duckdb.DuckDBPyConnection) -> None:
        hw.add_run(
            con, RUNS.table, "forgotten", old, "awaiting_review", synced_at=seen_today - timedelta(days=3)
        )

    assert evaluate(no_stale_open_runs, looked_at_today, scope=unlimited)
    assert not evaluate(no_stale_open_runs, forgotten, scope=unlimited)


def test_only_stale_open_runs_is_a_warning_the_rest_block() -> None:
    assert {name for name, (_, blocking, _) in CHECKS.items() if not blocking} == {"no_stale_open_runs"}


def _after_first_sync(day: date, hours: int = 1) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(2 + hours, 15), tzinfo=UTC)


def test_checks_run_after_a_sync_and_a_failing_blocking_check_holds_back_downstream(
    resources, instance: dg.DagsterInstance, warehouse_path: Path
) -> None:
    # the raw assets' backfill policy: assets run together share one (else Dagster warns of varying ones)
    @dg.asset(deps=[WORKFLOW_RUNS_KEY], partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run())
    def downstream_report() -> None:
        """Stands for the analytics assets that read retab.workflow_runs."""

    assets = [retab_workflow_runs, workflow_runs_checks, downstream_report]
    clean = dg.materialize(assets, resources=resources, instance=instance, partition_key="2026-05-08")
    assert clean.success
    results = {e.check_name: e for e in clean.get_asset_check_evaluations()}
    assert set(results) == set(CHECKS)
    assert all(results[name].passed for name, (_, blocking, _) in CHECKS.items() if blocking)

    con = hw.connect(warehouse_path)  # a duplicate of a synced run, on a day this run will not touch
    con.execute(
        "INSERT INTO retab.workflow_runs SELECT * REPLACE (DATE '2026-05-07' AS created_date) "
        "FROM retab.workflow_runs WHERE created_date = DATE '2026-05-08' LIMIT 1"
    )
    con.close()
    dirty = dg.materialize(
        assets, resources=resources, instance=instance, partition_key="2026-05-09", raise_on_error=False
    )

    assert not dirty.success
    results = {e.check_name: e for e in dirty.get_asset_check_evaluations()}
    assert not results["unique_ids"].passed and results["unique_ids"].severity == dg.AssetCheckSeverity.ERROR
    assert "2026-05-09" in materialized(instance, WORKFLOW_RUNS_KEY), "the sync itself committed"
    runs = {
        record.run_id for record in instance.fetch_materializations(downstream_report.key, limit=10).records
    }
    assert runs == {clean.run_id}, "the downstream asset did not run on data the blocking check rejected"
