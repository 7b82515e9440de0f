"""The sync assets, in-process against the simulator: one day, a single-run range, failures, re-execution."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import flaky_proxy
import pytest
from instance_events import materialization_count, materialized
from sim_world import DAYS

from assets.materializations import committed_since, partition_metadata
from assets.partitions import range_tags
from assets.resources import RetabApiResource, WarehouseResource
from assets.retab import EXPERIMENT_RUNS_KEY, WORKFLOW_RUNS_KEY, retab_experiment_runs, retab_workflow_runs
from pipelines.figures import FIGURE_FIELDS, PartitionFigures
from pipelines.load.connections import open_reader, open_writer
from pipelines.load.partitions import SyncLogEntry, record_sync_start
from retab_sim import Simulator

FIRST, LAST = DAYS[0], DAYS[-1]
KEYS = [str(day) for day in DAYS]


def sync_job() -> dg.JobDefinition:
    """The workflow-runs asset as a job that `execute_job` can reconstruct: in-process, resources from env."""
    return dg.Definitions(
        assets=[retab_workflow_runs],
        jobs=[dg.define_asset_job("sync_workflow_runs", executor_def=dg.in_process_executor)],
        resources={
            "retab_api": RetabApiResource(api_key=dg.EnvVar("RETAB_API_KEY"), concurrency=1),
            "warehouse": WarehouseResource(lock_wait=20),
        },
    ).resolve_job_def("sync_workflow_runs")


def rows_per_day(path: Path, table: str) -> dict[str, int]:
    with open_reader(path) as con:
        rows = con.execute(
            f"SELECT created_date, count(*) FROM retab.{table} GROUP BY 1 ORDER BY 1"
        ).fetchall()
    return {str(day): count for day, count in rows}


def synced_ok(path: Path, endpoint: str) -> set[str]:
    """Days whose latest sync_log attempt committed."""
    with open_reader(path) as con:
        rows = con.execute(
            """
            SELECT day FROM (
                SELECT day, outcome, row_number() OVER (PARTITION BY day ORDER BY started_at DESC) AS n
                FROM retab.sync_log WHERE endpoint = ?
            ) WHERE n = 1 AND outcome = 'ok'
            """,
            [endpoint],
        ).fetchall()
    return {str(day) for (day,) in rows}


def test_one_partition_loads_that_day_and_materializes_only_it(
    sim: Simulator, resources: dict[str, Any], instance: dg.DagsterInstance, warehouse_path: Path
) -> None:
    result = dg.materialize(
        [retab_workflow_runs], partition_key="2026-05-08", resources=resources, instance=instance
    )

    assert result.success
    assert rows_per_day(warehouse_path, "workflow_runs") == {
        "2026-05-08": len(sim.truth("runs", "2026-05-08"))
    }
    figures = materialized(instance, WORKFLOW_RUNS_KEY)
    assert list(figures) == ["2026-05-08"]
    assert figures["2026-05-08"]["dagster/row_count"] == len(sim.truth("runs", "2026-05-08"))


def test_a_range_is_one_run_and_each_partition_gets_its_own_figures(
    sim: Simulator, resources: dict[str, Any], instance: dg.DagsterInstance, warehouse_path: Path
) -> None:
    for n, day in enumerate(DAYS):  # make the days differ: delete 0, 3, 6, 9, 12 runs
        for record in sim.truth("runs", day)[: 3 * n]:
            sim.delete("runs", record["id"])

    result = dg.materialize(
        [retab_workflow_runs, retab_experiment_runs],
        resources=resources,
        instance=instance,
        tags=range_tags(FIRST, LAST),
    )

    assert result.success
    assert len(instance.get_run_records()) == 1
    for key, table, endpoint in [
        (WORKFLOW_RUNS_KEY, "workflow_runs", "runs"),
        (EXPERIMENT_RUNS_KEY, "experiment_runs", "experiment-runs"),
    ]:
        in_duckdb = rows_per_day(warehouse_path, table)
        assert in_duckdb == {day: len(sim.truth(endpoint, day)) for day in KEYS}
        assert materialization_count(instance, key, result.run_id) == dict.fromkeys(KEYS, 1)
        figures = materialized(instance, key)
        assert {day: figures[day]["dagster/row_count"] for day in KEYS} == in_duckdb
        for day in KEYS:
            assert isinstance(figures[day]["pages"], int) and figures[day]["pages"] >= 1
            assert isinstance(figures[day]["seconds"], float)
            for name in ("retries", "rejected", "open_runs", "bytes"):
                assert isinstance(figures[day][name], int), name
    runs = [materialized(instance, WORKFLOW_RUNS_KEY)[day]["dagster/row_count"] for day in KEYS]
    assert len(set(runs)) == len(KEYS), "each partition carries its own row count, not a copy"


def test_an_empty_key_fails_the_run_with_the_settings_message_before_any_request(
    sim: Simulator, warehouse_path: Path, instance: dg.DagsterInstance
) -> None:
    resources = {
        "retab_api": RetabApiResource(api_key=" ", base_url=sim.base_url),
        "warehouse": WarehouseResource(path=str(warehouse_path)),
    }
    result = dg.materialize(
        [retab_workflow_runs],
        partition_key="2026-05-08",
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )

    assert not result.success
    failure = result.failure_data_for_node("retab__workflow_runs")
    assert failure is not None and failure.user_failure_data is not None
    assert "RETAB_API_KEY is not set" in (failure.user_failure_data.description or "")
    assert "requests" not in failure.error.to_string()
    assert not warehouse_path.exists(), "nothing was opened or fetched"


def test_an_unset_key_variable_fails_at_run_start_naming_the_variable(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, warehouse_path: Path, instance: dg.DagsterInstance
) -> None:
    monkeypatch.setenv("RETAB_API_BASE_URL", sim.base_url)
    monkeypatch.setenv("RETAB_DUCKDB_PATH", str(warehouse_path))

    with pytest.raises(
        dg.DagsterInvalidConfigError, match='environment variable "RETAB_API_KEY" which is not set'
    ):
        dg.execute_job(dg.reconstructable(sync_job), instance, tags={"dagster/partition": "2026-05-08"})
    assert not warehouse_path.exists()


@pytest.fixture
def proxy(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, warehouse_path: Path
) -> Iterator[flaky_proxy.FlakyProxy]:
    """The simulator behind a proxy that can fail chosen days; the environment points the sync job at it."""
    with flaky_proxy.serve(sim.base_url) as proxy:
        monkeypatch.setenv("RETAB_API_KEY", sim.key)
        monkeypatch.setenv("RETAB_API_BASE_URL", proxy.base_url)
        monkeypatch.setenv("RETAB_DUCKDB_PATH", str(warehouse_path))
        yield proxy


def test_a_failed_day_keeps_the_committed_days_and_a_reexecution_fetches_only_the_rest(
    sim: Simulator, proxy: flaky_proxy.FlakyProxy, instance: dg.DagsterInstance, warehouse_path: Path
) -> None:
    proxy.fail_days = {"2026-05-08"}
    first = dg.execute_job(
        dg.reconstructable(sync_job), instance, tags=range_tags(FIRST, LAST), raise_on_error=False
    )

    assert not first.success
    kept = set(materialized(instance, WORKFLOW_RUNS_KEY))
    assert "2026-05-06" in kept and "2026-05-08" not in kept
    assert kept == synced_ok(warehouse_path, "runs") == set(rows_per_day(warehouse_path, "workflow_runs"))
    failure = next(e for e in first.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    description = failure.step_failure_data.user_failure_data.description  # type: ignore[union-attr]
    assert "2026-05-08: HTTP 404" in description and "stay so" in description
    for day in set(KEYS) - kept - {"2026-05-08"}:  # stopped by the permanent error: named too
        assert f"{day}: " in description

    first_figures = materialized(instance, WORKFLOW_RUNS_KEY)
    proxy.fail_days.clear()
    proxy.days_requested.clear()
    options = dg.ReexecutionOptions.from_failure(first.run_id, instance)
    # the UI's "re-execute from failure" copies the parent's tags; execute_job needs them passed
    second = dg.execute_job(
        dg.reconstructable(sync_job), instance, tags=range_tags(FIRST, LAST), reexecution_options=options
    )

    assert second.success
    assert set(proxy.days_requested) == set(KEYS) - kept, (
        "days committed by the first attempt are not refetched"
    )
    in_duckdb = rows_per_day(warehouse_path, "workflow_runs")
    assert in_duckdb == {day: len(sim.truth("runs", day)) for day in KEYS}
    figures = materialized(instance, WORKFLOW_RUNS_KEY)
    assert {day: figures[day]["dagster/row_count"] for day in KEYS} == in_duckdb
    for day in kept:  # read back from sync_log, every figure as the first attempt reported it
        assert set(FIGURE_FIELDS) - {"rows", "retries_by_cause"} <= set(figures[day])
        assert figures[day] == first_figures[day], day


def test_a_reexecuted_run_reads_every_figure_back_from_sync_log(warehouse_path: Path) -> None:
    stored = PartitionFigures(
        rows=7, pages=2, retries_by_cause={"429": 1}, rejected=1, open_runs=3, unknown_fields=4,
        duplicates=5, bytes=900, seconds=1.25, complete=True,
    )  # fmt: skip
    entry = SyncLogEntry.start(endpoint="runs", day=date(2026, 5, 7), source="http://127.0.0.1:1").finished(
        stored
    )
    with open_writer(warehouse_path) as con:
        record_sync_start(con, [entry])
        con.execute("UPDATE retab.sync_log SET outcome = 'ok'")
        (result,) = committed_since(con, "runs", [date(2026, 5, 7)], entry.started_at)
    assert result.figures() == stored
    metadata = partition_metadata(result, "http://127.0.0.1:1")
    assert metadata["duplicates"].value == 5 and metadata["dagster/row_count"].value == 7
    assert metadata["retries"].value == 1 and metadata["retries_by_cause"].value == {"429": 1}


def test_the_api_key_appears_in_no_event_metadata_log_or_file(
    make_sim,
    monkeypatch: pytest.MonkeyPatch,
    instance: dg.DagsterInstance,
    warehouse_path: Path,
    tmp_path: Path,
) -> None:
    marker = "sk-marker-5c0ffee-never-shown"
    sim = make_sim(key=marker)
    with flaky_proxy.serve(sim.base_url) as proxy:
        monkeypatch.setenv("RETAB_API_KEY", marker)
        monkeypatch.setenv("RETAB_API_BASE_URL", proxy.base_url)
        monkeypatch.setenv("RETAB_DUCKDB_PATH", str(warehouse_path))
        proxy.fail_days = {"2026-05-09"}
        failed = dg.execute_job(
            dg.reconstructable(sync_job), instance, tags=range_tags(FIRST, LAST), raise_on_error=False
        )
        proxy.fail_days.clear()
        passed = dg.execute_job(dg.reconstructable(sync_job), instance, tags=range_tags(FIRST, LAST))

    assert not failed.success and passed.success
    for run_id in (failed.run_id, passed.run_id):
        for entry in instance.all_logs(run_id):
            assert marker not in dg.serialize_value(entry)
    for path in [*(tmp_path / "dagster_home").rglob("*"), warehouse_path]:
        if path.is_file():
            assert marker.encode() not in path.read_bytes(), path
