"""A Dagster backfill while the nightly schedule fires: both finish, no partition is lost.

The backfill is `dagster asset materialize --partition-range` in its own process (as a run worker
would be); the nightly schedule's tick is evaluated and its run requests executed in this process
while the backfill's step holds the warehouse pool. Both share one DAGSTER_HOME (with the project's
dagster.yaml, whose pool lets one warehouse step run at a time) and one DuckDB file. The simulator
(in this process) answers no API request until a nightly step has logged that the pool blocks it,
so the overlap does not depend on how fast either side starts.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import dagster as dg
import pytest

from reliability.summary import Tally
from reliability.world import REPO, compare, days_from
from retab_sim import Simulator
from retab_sim.app import Reply, Simulation

FIRST = date(2026, 5, 4)
DAYS = days_from(FIRST, 5)


def materialized_days(instance: dg.DagsterInstance, key: dg.AssetKey) -> set[str]:
    """Partition keys with at least one materialization event."""
    records = instance.fetch_materializations(key, limit=1000).records
    return {
        partition
        for record in records
        if record.asset_materialization and (partition := record.asset_materialization.partition)
    }


BLOCKED = "blocked by limit for pool retab_warehouse"


def wait_for_a_started_step(
    instance: dg.DagsterInstance, child: subprocess.Popen[str], timeout: float
) -> str:
    """The id of the (backfill's) run whose step has started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in instance.get_run_records():
            if instance.all_logs(record.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_START):
                return record.dagster_run.run_id
        if child.poll() is not None:
            raise AssertionError(f"the backfill ended before its step started: {child.communicate()}")
        time.sleep(0.1)
    raise AssertionError("the backfill's step never started")


def wait_for_another_blocked_run(
    instance: dg.DagsterInstance, backfill_id: str, timeout: float, stop: threading.Event
) -> bool:
    """Whether a run other than the backfill logged that a step of it is blocked by the pool (before
    `stop` is set and within timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        for record in instance.get_run_records():
            run_id = record.dagster_run.run_id
            if run_id != backfill_id and any(BLOCKED in (e.message or "") for e in instance.all_logs(run_id)):
                return True
        time.sleep(0.05)
    return False


def test_a_backfill_while_the_nightly_schedule_fires(
    make_simulator: Callable[..., Simulator],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dagster_instance: dg.DagsterInstance,
    tally: Tally,
) -> None:
    from assets.definitions import defs
    from assets.resources import WarehouseResource
    from assets.retab import EXPERIMENT_RUNS_KEY, WORKFLOW_RUNS_KEY

    sim = make_simulator(
        seed=12,
        shape="docs",
        end=DAYS[-1],
        days=5,
        runs_per_day=600,
        experiment_runs_per_day=60,
    )  # no latency needed: the held API keeps the backfill's step in the pool
    path = tmp_path / "retab.duckdb"
    api_open = threading.Event()
    handle = Simulation.handle

    def held_handle(
        self: Simulation, method: str, target: str, headers: Mapping[str, str], body: bytes = b""
    ) -> Reply:
        """API requests wait for api_open: the backfill's step holds the pool while they do. 45 s at
        most, under the client's 60 s read timeout."""
        if not target.startswith("/_sim/"):
            api_open.wait(45)
        return handle(self, method, target, headers, body)

    monkeypatch.setattr(Simulation, "handle", held_handle)
    for name, value in (
        ("RETAB_API_KEY", sim.key),
        ("RETAB_API_BASE_URL", sim.base_url),
        ("RETAB_DUCKDB_PATH", str(path)),
    ):
        monkeypatch.setenv(name, value)
    import os

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    instance = dagster_instance
    with tally.case("dagster") as counted:
        backfill = subprocess.Popen(
            [
                sys.executable, "-m", "dagster", "asset", "materialize", "-m", "assets.definitions",
                "--select", "retab/workflow_runs,retab/experiment_runs",
                "--partition-range", f"{DAYS[0]}...{DAYS[-1]}",
            ],
            env=env,
            cwd=str(REPO),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        nightly_waited: list[bool] = []

        def open_the_api_once_the_nightly_waits(backfill_id: str) -> None:
            nightly_waited.append(wait_for_another_blocked_run(instance, backfill_id, 45, stop=api_open))
            api_open.set()

        watcher: threading.Thread | None = None
        try:
            backfill_id = wait_for_a_started_step(instance, backfill, timeout=90)
            watcher = threading.Thread(target=open_the_api_once_the_nightly_waits, args=(backfill_id,))
            watcher.start()
            nightly = defs.resolve_schedule_def("retab_nightly")
            when = datetime.combine(DAYS[-1] + timedelta(days=1), clock(2, 15), tzinfo=UTC)
            context = dg.build_schedule_context(
                scheduled_execution_time=when,
                resources={"warehouse": WarehouseResource()},
                repository_def=defs.get_repository_def(),
                instance=instance,
            )
            requests = nightly.evaluate_tick(context).run_requests or []
            assert requests, "the nightly tick requested nothing"
            job = defs.resolve_job_def("retab_sync")
            runs = [
                job.execute_in_process(
                    instance=instance, tags=r.tags, asset_selection=r.asset_selection, raise_on_error=False
                )
                for r in requests
            ]
        finally:
            api_open.set()  # already, unless this test failed before the nightly's runs
            if watcher is not None:
                watcher.join()
            out, err = backfill.communicate(timeout=180)
        diff = compare(path, sim, DAYS)
        counted.lose(diff.lost)
        assert backfill.returncode == 0, out[-3000:] + err[-3000:]
        assert all(run.success for run in runs), [run.run_id for run in runs if not run.success]
        assert diff.lost == 0, str(diff)
        expected = {day.isoformat() for day in DAYS}
        for key in (WORKFLOW_RUNS_KEY, EXPERIMENT_RUNS_KEY):
            assert materialized_days(instance, key) >= expected, (
                f"{key.to_user_string()}: a partition was lost"
            )
        assert nightly_waited == [True], "no nightly step was blocked while the backfill's step held the pool"
        waited = [
            event.message for run in runs for event in run.all_events if BLOCKED in (event.message or "")
        ]
        assert waited, "the nightly's steps did not wait for the backfill's (pool retab_warehouse)"
