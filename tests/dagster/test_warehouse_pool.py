"""One writer at a time: the pool serializes warehouse steps across runs; a held file fails clearly."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from instance_events import materialized
from sim_world import DAYS

import pipelines.sync.orchestrator
from assets.partitions import range_tags
from assets.resources import RetabApiResource, WarehouseResource
from assets.retab import EXPERIMENT_RUNS_KEY, WORKFLOW_RUNS_KEY, retab_experiment_runs, retab_workflow_runs
from pipelines.config import Settings
from pipelines.endpoints import Endpoint
from pipelines.load.connections import open_reader
from pipelines.sync.orchestrator import PartitionResult, ReadyWindow


def step_times(instance: dg.DagsterInstance, run_id: str) -> tuple[float, float]:
    """When the run's (only) step started and finished."""
    logs = instance.all_logs(run_id)
    start = next(e.timestamp for e in logs if e.dagster_event_type == dg.DagsterEventType.STEP_START)
    end = next(e.timestamp for e in logs if e.dagster_event_type == dg.DagsterEventType.STEP_SUCCESS)
    return start, end


def wait_for_step_start(instance: dg.DagsterInstance, timeout: float = 30) -> str:
    """The id of the first run whose step has started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in instance.get_run_records():
            if instance.all_logs(record.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_START):
                return record.dagster_run.run_id
        time.sleep(0.05)
    raise AssertionError("the first run never started its step")


BLOCKED = "blocked by limit for pool retab_warehouse"


def wait_for_a_blocked_run(instance: dg.DagsterInstance, first_id: str, timeout: float) -> bool:
    """Whether a run other than `first_id` logged that its step is blocked by the pool, within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in instance.get_run_records():
            run_id = record.dagster_run.run_id
            if run_id != first_id and any(BLOCKED in (e.message or "") for e in instance.all_logs(run_id)):
                return True
        time.sleep(0.05)
    return False


def test_two_runs_do_not_write_at_once(
    make_sim, tmp_path: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = make_sim()
    resources: dict[str, Any] = {
        "retab_api": RetabApiResource(api_key=sim.key, base_url=sim.base_url, concurrency=1),
        "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
    }
    results: dict[str, dg.ExecuteInProcessResult] = {}
    first_ids: list[str] = []
    first_known = threading.Event()
    gate_timed_out: list[bool] = []
    load_together = pipelines.sync.orchestrator._load_together

    def gated_load_together(
        settings: Settings, endpoint: Endpoint, ready: list[ReadyWindow]
    ) -> list[PartitionResult]:
        """The first run's step writes only once the second run has said it is blocked by the pool."""
        if not gate_timed_out:
            known = first_known.wait(60)
            gate_timed_out.append(not (known and wait_for_a_blocked_run(instance, first_ids[0], timeout=60)))
        return load_together(settings, endpoint, ready)

    monkeypatch.setattr(pipelines.sync.orchestrator, "_load_together", gated_load_together)

    def first_run() -> None:
        results["first"] = dg.materialize(
            [retab_workflow_runs], resources=resources, instance=instance, tags=range_tags(DAYS[0], DAYS[-1])
        )

    thread = threading.Thread(target=first_run)
    thread.start()
    try:
        first_id = wait_for_step_start(instance)
        first_ids.append(first_id)
        first_known.set()
        second = dg.materialize(
            [retab_experiment_runs], resources=resources, instance=instance, partition_key=str(DAYS[-1])
        )
    finally:
        thread.join()

    assert gate_timed_out == [False], "the second run's step was never blocked by the pool"
    assert results["first"].success and second.success
    blocked = [e.message for e in second.all_events if BLOCKED in (e.message or "")]
    assert blocked, "the second run's step waited for the pool"
    first_start, first_end = step_times(instance, first_id)
    second_start, _ = step_times(instance, second.run_id)
    assert first_start < second_start and first_end <= second_start, "the steps did not overlap"
    assert (
        len(materialized(instance, WORKFLOW_RUNS_KEY)) == 5
        and len(materialized(instance, EXPERIMENT_RUNS_KEY)) == 1
    )


def test_a_session_holding_the_file_fails_the_sync_with_the_lock_message(
    sim, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    path = tmp_path / "w.duckdb"
    resources: dict[str, Any] = {
        "retab_api": RetabApiResource(api_key=sim.key, base_url=sim.base_url),
        "warehouse": WarehouseResource(path=str(path), lock_wait=0.5),
    }
    assert dg.materialize(
        [retab_workflow_runs], resources=resources, instance=instance, partition_key="2026-05-08"
    ).success

    with open_reader(path):  # an analyst's read-only session, left open
        result = dg.materialize(
            [retab_workflow_runs],
            resources=resources,
            instance=instance,
            partition_key="2026-05-09",
            raise_on_error=False,
        )

    assert not result.success
    failure = result.failure_data_for_node("retab__workflow_runs")
    assert failure is not None and failure.user_failure_data is not None
    description = failure.user_failure_data.description or ""
    assert f"warehouse file {path} is locked" in description
    assert "close your DuckDB session" in description
    assert list(materialized(instance, WORKFLOW_RUNS_KEY)) == ["2026-05-08"]
