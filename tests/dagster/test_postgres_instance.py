"""Dagster's own storage on PostgreSQL (deploy/dagster.postgres.yaml) against a throwaway cluster.

Each test gets a fresh database on the session's cluster, the DAGSTER_PG_* variables pointing at it and
a DAGSTER_HOME holding the production yaml: a backfill range run, the nightly tick as the scheduler
daemon evaluates it, the warehouse pool across runs, and a password that Dagster never writes down.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg2
import pytest
import yaml
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._scheduler.scheduler import launch_scheduled_runs
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from instance_events import materialized
from postgres_cluster import PostgresCluster
from sim_world import DAYS, PROJECT_ROOT

import pipelines.sync.orchestrator
from assets.partitions import range_tags
from assets.resources import RetabApiResource, WarehouseResource
from assets.retab import (
    EXPERIMENT_RUNS_KEY,
    POOL,
    WORKFLOW_RUNS_KEY,
    retab_experiment_runs,
    retab_workflow_runs,
)
from pipelines.config import Settings
from pipelines.endpoints import Endpoint
from pipelines.load.connections import open_reader
from pipelines.sync.orchestrator import PartitionResult, ReadyWindow
from retab_sim import Simulator

PRODUCTION_YAML = PROJECT_ROOT / "deploy" / "dagster.postgres.yaml"
VARIABLES = (
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_DB",
    "DAGSTER_PG_USERNAME",
    "DAGSTER_PG_PASSWORD",
)
# libpq reads these itself when the URL leaves them out: none may leak in from the shell running the tests
LIBPQ_VARIABLES = ("PGPASSWORD", "PGPASSFILE", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE")
BLOCKED = f"blocked by limit for pool {POOL}"


def point_at(
    monkeypatch: pytest.MonkeyPatch, postgres: PostgresCluster, db: str, user: str, password: str
) -> None:
    """Set the DAGSTER_PG_* variables the production yaml reads."""
    for name in LIBPQ_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    values = (postgres.host, str(postgres.port), db, user, password)
    for name, value in zip(VARIABLES, values, strict=True):
        monkeypatch.setenv(name, value)


@pytest.fixture
def pg_home(tmp_path: Path) -> Path:
    """$DAGSTER_HOME (set by conftest) holding the production yaml as its dagster.yaml."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copyfile(PRODUCTION_YAML, home / "dagster.yaml")
    return home


@pytest.fixture
def pg_db(postgres: PostgresCluster, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database, with the DAGSTER_PG_* variables pointing at it (no password: trust)."""
    db = postgres.create_database("dagster")
    point_at(monkeypatch, postgres, db, postgres.user, "")
    return db


@pytest.fixture
def open_instance(pg_home: Path, pg_db: str) -> Iterator[Callable[[], dg.DagsterInstance]]:
    """Open instances from $DAGSTER_HOME/dagster.yaml, as a webserver, daemon or run worker would."""
    opened: list[dg.DagsterInstance] = []

    def open_one() -> dg.DagsterInstance:
        opened.append(dg.DagsterInstance.from_config(str(pg_home)))
        return opened[-1]

    yield open_one
    for instance in opened:
        instance.dispose()


def query(postgres: PostgresCluster, db: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows of `sql`, run as the superuser straight on PostgreSQL, not through Dagster."""
    con = psycopg2.connect(postgres.libpq(db))
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        con.close()


def rows_per_day(path: Path, table: str) -> dict[str, int]:
    with open_reader(path) as con:
        rows = con.execute(f"SELECT created_date, count(*) FROM retab.{table} GROUP BY 1").fetchall()
    return {str(day): count for day, count in rows}


def test_the_production_yaml_is_the_default_one_plus_postgres_storage_from_the_environment() -> None:
    default = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    production = yaml.safe_load(PRODUCTION_YAML.read_text())

    storage = production.pop("storage")
    assert production == default, "run queue, pool, retries and monitoring as in ./dagster.yaml"
    settings = storage["postgres"]["postgres_db"]
    assert settings.pop("scheme") == "postgresql+psycopg2"
    assert settings == {
        "hostname": {"env": "DAGSTER_PG_HOST"},
        "port": {"env": "DAGSTER_PG_PORT"},
        "db_name": {"env": "DAGSTER_PG_DB"},
        "username": {"env": "DAGSTER_PG_USERNAME"},
        "password": {"env": "DAGSTER_PG_PASSWORD"},
    }


def test_the_instance_keeps_runs_events_and_ticks_in_postgres_and_names_a_missing_variable(
    open_instance: Callable[[], dg.DagsterInstance], pg_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = open_instance()

    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert instance.event_log_storage.supports_global_concurrency_limits
    assert instance.run_coordinator.__class__.__name__ == "QueuedRunCoordinator"
    assert not list(pg_home.rglob("*.db")), "no SQLite storage beside PostgreSQL"

    monkeypatch.delenv("DAGSTER_PG_HOST")
    with pytest.raises(dg.DagsterInvalidConfigError, match='"DAGSTER_PG_HOST" which is not set'):
        open_instance()


def test_a_backfill_range_run_is_recorded_in_postgres_and_read_back_by_a_fresh_instance(
    sim: Simulator,
    resources: dict[str, Any],
    warehouse_path: Path,
    open_instance: Callable[[], dg.DagsterInstance],
    postgres: PostgresCluster,
    pg_db: str,
    pg_home: Path,
) -> None:
    tags = {**range_tags(DAYS[0], DAYS[-1]), "dagster/backfill": "pgtest"}  # as the backfill daemon tags it
    result = dg.materialize(
        [retab_workflow_runs, retab_experiment_runs], resources=resources, instance=open_instance(), tags=tags
    )
    assert result.success

    fresh = open_instance()
    (record,) = fresh.get_run_records()
    assert record.dagster_run.run_id == result.run_id
    assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
    assert {k: record.dagster_run.tags[k] for k in tags} == tags
    keys = [str(day) for day in DAYS]
    for key, table, endpoint in [
        (WORKFLOW_RUNS_KEY, "workflow_runs", "runs"),
        (EXPERIMENT_RUNS_KEY, "experiment_runs", "experiment-runs"),
    ]:
        in_duckdb = rows_per_day(warehouse_path, table)
        assert in_duckdb == {day: len(sim.truth(endpoint, day)) for day in keys}
        figures = materialized(fresh, key)
        assert {day: figures[day]["dagster/row_count"] for day in keys} == in_duckdb
    # in PostgreSQL's own tables, read without Dagster
    assert query(postgres, pg_db, "SELECT run_id, status FROM runs") == [(result.run_id, "SUCCESS")]
    materialized_rows = "SELECT count(*) FROM event_logs WHERE dagster_event_type = %s AND run_id = %s"
    counted = query(postgres, pg_db, materialized_rows, "ASSET_MATERIALIZATION", result.run_id)
    assert counted == [(2 * len(DAYS),)], "one materialization event per day and asset"
    assert not list(pg_home.rglob("*.db")), "no SQLite storage beside PostgreSQL"


def test_the_nightly_tick_is_evaluated_by_the_scheduler_and_recorded_in_postgres(
    open_instance: Callable[[], dg.DagsterInstance],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    postgres: PostgresCluster,
    pg_db: str,
) -> None:
    monkeypatch.setenv("RETAB_DUCKDB_PATH", str(tmp_path / "absent.duckdb"))  # no warehouse: yesterday only
    monkeypatch.setenv("RETAB_API_KEY", "sk-the-daemon-s")  # a run's config is resolved when it is queued
    instance = open_instance()
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="assets.definitions", working_directory=str(PROJECT_ROOT)),
        location_name="retab_warehouse",
    )
    logger = logging.getLogger("test_scheduler")
    with create_test_daemon_workspace_context(InProcessWorkspaceLoadTarget(origin), instance) as workspace:
        # the daemon's iterations: the first starts the schedule (running by default), later ones tick
        for minute in (10, 16, 17):
            at = datetime(2026, 5, 11, 2, minute, tzinfo=UTC)
            list(launch_scheduled_runs(workspace, logger, at, iteration_times={}))

    fresh = open_instance()
    states = {
        s.instigator_name: s for s in fresh.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
    }
    assert set(states) == {"retab_nightly", "retab_reconcile"}, "the today schedule is off by default"
    state = states["retab_nightly"]
    (tick,) = fresh.get_ticks(state.instigator_origin_id, state.selector_id)
    assert tick.status == TickStatus.SUCCESS, tick.error
    assert tick.timestamp == datetime(2026, 5, 11, 2, 15, tzinfo=UTC).timestamp()
    assert sorted(tick.run_keys) == [
        "nightly:2026-05-11:retab/experiment_runs:2026-05-10...2026-05-10",
        "nightly:2026-05-11:retab/workflow_runs:2026-05-10...2026-05-10",
    ]
    runs = {r.run_id: r for r in fresh.get_runs()}
    assert set(runs) == set(tick.run_ids) and len(runs) == 2
    for run in runs.values():
        assert run.status == dg.DagsterRunStatus.QUEUED, "queued for the daemon's run coordinator"
        assert run.tags["retab/trigger"] == "nightly" and run.tags["retab/mode"] == "incremental"
        assert run.tags["dagster/asset_partition_range_start"] == "2026-05-10"
    assert query(postgres, pg_db, "SELECT count(*) FROM job_ticks")[0][0] == 1


def wait_until(what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
    """Poll `probe` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_the_warehouse_pool_admits_one_step_at_a_time_across_runs(
    make_sim, tmp_path: Path, open_instance: Callable[[], dg.DagsterInstance], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three runs at once; the first step holds the pool's one slot (its load waits) while the others wait.

    The runs start one after another, each once the previous one is quiet (holding the slot, or blocked):
    Dagster configures logging when a run starts, which can deadlock with another thread's logging.
    """
    sim = make_sim()
    instance = open_instance()
    resources: dict[str, Any] = {
        "retab_api": RetabApiResource(api_key=sim.key, base_url=sim.base_url, concurrency=1),
        "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
    }
    holding, release = threading.Event(), threading.Event()
    released_in_time: list[bool] = []  # an assert in a run's thread would not fail the test
    load_together = pipelines.sync.orchestrator._load_together

    def held_load_together(
        settings: Settings, endpoint: Endpoint, ready: list[ReadyWindow]
    ) -> list[PartitionResult]:
        if not holding.is_set():
            holding.set()
            released_in_time.append(release.wait(120))
        return load_together(settings, endpoint, ready)

    monkeypatch.setattr(pipelines.sync.orchestrator, "_load_together", held_load_together)
    results: list[dg.ExecuteInProcessResult] = []
    launches = [
        ([retab_workflow_runs], range_tags(DAYS[0], DAYS[2])),
        ([retab_experiment_runs], range_tags(DAYS[3], DAYS[3])),
        ([retab_workflow_runs], range_tags(DAYS[4], DAYS[4])),
    ]

    def launch(assets: list[dg.AssetsDefinition], tags: dict[str, str]) -> None:
        results.append(dg.materialize(assets, resources=resources, instance=instance, tags=tags))

    def blocked() -> list[str]:
        return [
            r.dagster_run.run_id
            for r in instance.get_run_records()
            if any(BLOCKED in (e.message or "") for e in instance.all_logs(r.dagster_run.run_id))
        ]

    threads = [threading.Thread(target=launch, args=launch_args) for launch_args in launches]
    try:
        threads[0].start()
        assert holding.wait(60), "the first run's step never reached its load"
        for n, thread in enumerate(threads[1:], start=1):
            thread.start()
            wait_until(f"{n} run(s) to wait for the pool", lambda n=n: len(blocked()) == n)
        waiting = blocked()
        held = instance.event_log_storage.get_concurrency_info(POOL)
        started = [
            r.dagster_run.run_id
            for r in instance.get_run_records()
            if instance.all_logs(r.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_START)
        ]
    finally:
        release.set()
        for thread in threads:
            thread.join(timeout=120)

    assert released_in_time == [True] and len(results) == 3 and all(r.success for r in results)
    assert len(started) == 1 and started[0] not in waiting, "one step ran; the other two waited"
    assert (held.slot_count, [slot.run_id for slot in held.claimed_slots]) == (1, started)
    assert held.pending_run_ids == set(waiting)
    fresh = open_instance()
    spans = []
    for result in results:
        logs = fresh.all_logs(result.run_id)
        start = next(e.timestamp for e in logs if e.dagster_event_type == dg.DagsterEventType.STEP_START)
        end = next(e.timestamp for e in logs if e.dagster_event_type == dg.DagsterEventType.STEP_SUCCESS)
        spans.append((start, end))
    spans.sort()
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans)), spans
    assert not fresh.event_log_storage.get_concurrency_info(POOL).claimed_slots, "every slot was freed"
    assert len(materialized(fresh, WORKFLOW_RUNS_KEY)) == 4
    assert len(materialized(fresh, EXPERIMENT_RUNS_KEY)) == 1


def require_password(postgres: PostgresCluster, role: str, password: str) -> None:
    """Create a login role that must give its password (scram) over TCP; the rest of the cluster trusts."""
    ((hba_file,),) = query(postgres, "postgres", "SHOW hba_file")
    query(postgres, "postgres", f'CREATE ROLE "{role}" LOGIN PASSWORD %s', password)
    hba = Path(hba_file)
    hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    query(postgres, "postgres", "SELECT pg_reload_conf()")
    psql = [str(postgres.bin_dir / "psql"), "-w", "-h", postgres.host, "-p", str(postgres.port), "-U", role]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the reload is asynchronous
        refused = subprocess.run([*psql, "-d", "postgres", "-c", "SELECT 1"], capture_output=True, text=True)
        if refused.returncode != 0 and "no password supplied" in refused.stderr:
            return
        time.sleep(0.1)
    raise AssertionError("the cluster still lets the role in without a password")


def test_a_password_in_the_environment_is_used_but_never_stored_or_logged(
    sim: Simulator,
    resources: dict[str, Any],
    postgres: PostgresCluster,
    pg_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    marker = "pw-5eCr3t@:/%?#-marker"  # characters that must be quoted in a URL
    role = f"dagster_{tmp_path.name[-12:].lower().replace('-', '_')}"
    require_password(postgres, role, marker)
    db = postgres.create_database("dagster_pw")
    query(postgres, db, f'ALTER DATABASE "{db}" OWNER TO "{role}"')
    point_at(monkeypatch, postgres, db, role, marker)
    caplog.set_level(logging.DEBUG)

    with dg.DagsterInstance.from_config(str(pg_home)) as instance:
        result = dg.materialize(
            [retab_workflow_runs], resources=resources, instance=instance, partition_key=str(DAYS[-1])
        )
        assert result.success
        stored = [
            instance.info_str(),
            dg.serialize_value(instance.get_ref()),
            *(dg.serialize_value(entry) for entry in instance.all_logs(result.run_id)),
            *(dg.serialize_value(record.dagster_run) for record in instance.get_run_records()),
        ]
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "")  # the documented alternative: libpq reads PGPASSWORD
    monkeypatch.setenv("PGPASSWORD", marker)
    with dg.DagsterInstance.from_config(str(pg_home)) as instance:
        assert [r.dagster_run.run_id for r in instance.get_run_records()] == [result.run_id]
        stored.append(dg.serialize_value(instance.get_ref()))
    owners = "SELECT DISTINCT tableowner FROM pg_tables WHERE tablename IN ('runs', 'event_logs', 'jobs')"
    assert query(postgres, db, owners) == [(role,)], "Dagster logged in as the role, with its password"
    assert query(postgres, db, "SELECT run_id FROM runs") == [(result.run_id,)]
    pg_dump = [str(postgres.bin_dir / "pg_dump"), "-a", "-h", postgres.host, "-p", str(postgres.port)]
    dump = subprocess.run(
        [*pg_dump, "-U", postgres.user, db],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "ASSET_MATERIALIZATION" in dump
    printed = capfd.readouterr()
    assert result.run_id in printed.err, "the run's events were printed"
    for text in [*stored, dump, caplog.text, printed.out, printed.err]:
        assert marker not in text
    for path in pg_home.rglob("*"):
        if path.is_file():
            assert marker.encode() not in path.read_bytes(), path
