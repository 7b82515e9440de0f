"""Schedule ticks: the partitions the nightly schedule requests given the warehouse; late updates settle."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import handmade_warehouse as hw
import pytest
from sim_world import DAYS, END

from assets.definitions import defs
from assets.partitions import MODE_TAG, RANGE_END_TAG, RANGE_START_TAG, range_tags
from assets.resources import WarehouseResource
from assets.schedules import every_minutes_cron
from pipelines.config import today_every_minutes
from pipelines.endpoints import ENDPOINTS
from pipelines.load.connections import open_reader, open_writer
from pipelines.load.state import day_states
from pipelines.sync.plan import plan_sync
from retab_sim import Simulator

NIGHTLY = defs.resolve_schedule_def("retab_nightly")
RECONCILE = defs.resolve_schedule_def("retab_reconcile")
TODAY = defs.resolve_schedule_def("retab_today")
AT_0215 = datetime(2026, 5, 11, 2, 15, tzinfo=UTC)  # yesterday: 2026-05-10


def tick(schedule: dg.ScheduleDefinition, when: datetime, warehouse: WarehouseResource | None = None):
    context = dg.build_schedule_context(
        scheduled_execution_time=when,
        resources={"warehouse": warehouse or WarehouseResource()},
        repository_def=defs.get_repository_def(),
    )
    return schedule.evaluate_tick(context)


def requested(result) -> dict[str, list[tuple[str, str]]]:
    """asset key -> the (first, last) day ranges its run requests ask for."""
    ranges: dict[str, list[tuple[str, str]]] = {}
    for request in result.run_requests or []:
        (key,) = request.asset_selection
        ranges.setdefault(key.to_user_string(), []).append(
            (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG])
        )
    return {key: sorted(value) for key, value in ranges.items()}


def test_nightly_runs_at_0215_utc_by_default_and_today_s_schedule_is_stopped() -> None:
    assert (NIGHTLY.cron_schedule, NIGHTLY.execution_timezone) == ("15 2 * * *", "UTC")
    assert NIGHTLY.default_status == dg.DefaultScheduleStatus.RUNNING
    assert (TODAY.cron_schedule, TODAY.default_status) == ("*/30 * * * *", dg.DefaultScheduleStatus.STOPPED)


def test_nightly_requests_yesterday_when_the_warehouse_does_not_exist_yet(tmp_path: Path) -> None:
    result = tick(NIGHTLY, AT_0215, WarehouseResource(path=str(tmp_path / "absent.duckdb")))

    assert requested(result) == {
        "retab/workflow_runs": [("2026-05-10", "2026-05-10")],
        "retab/experiment_runs": [("2026-05-10", "2026-05-10")],
    }
    assert not (tmp_path / "absent.duckdb").exists(), "the schedule only reads"


def test_nightly_requests_new_days_open_runs_of_any_age_and_failed_days(tmp_path: Path) -> None:
    path = hw.create(tmp_path / "w.duckdb")
    con = hw.connect(path)
    for day in [date(2026, 4, 20), *(date(2026, 5, 1) + timedelta(days=n) for n in range(10))]:
        hw.add_runs(con, "workflow_runs", day, 5)
        hw.add_runs(con, "experiment_runs", day, 2)
        hw.add_sync(con, "runs", day)
        hw.add_sync(con, "experiment-runs", day)
    hw.add_run(con, "workflow_runs", "old-pending", date(2026, 4, 20), "pending")  # settled at any age
    hw.add_run(con, "workflow_runs", "running-3rd", date(2026, 5, 3), "running")
    hw.add_run(con, "workflow_runs", "review-4th", date(2026, 5, 4), "awaiting_review")
    hw.add_run(con, "workflow_runs", "queued-7th", date(2026, 5, 7), "queued")
    failed_later = datetime(2026, 5, 10, 3, tzinfo=UTC)
    hw.add_sync(con, "experiment-runs", date(2026, 5, 8), "failed", started_at=failed_later)
    during_the_day = datetime(2026, 4, 30, 18, tzinfo=UTC)  # its nightly sync was missed: still partial
    hw.add_runs(con, "experiment_runs", date(2026, 4, 30), 2)
    hw.add_sync(con, "experiment-runs", date(2026, 4, 30), started_at=during_the_day)
    con.close()

    result = tick(NIGHTLY, AT_0215, WarehouseResource(path=str(path)))

    assert requested(result) == {
        "retab/workflow_runs": [
            ("2026-04-20", "2026-04-30"),  # an open run settled at any age; the days no sync reached
            ("2026-05-03", "2026-05-04"),
            ("2026-05-07", "2026-05-07"),
            ("2026-05-10", "2026-05-11"),  # yesterday, and today's first hours
        ],
        "retab/experiment_runs": [
            ("2026-04-21", "2026-04-30"),  # the days no sync reached, then the partial 30th
            ("2026-05-08", "2026-05-08"),
            ("2026-05-10", "2026-05-11"),
        ],
    }
    keys = [request.run_key for request in result.run_requests or []]
    assert len(set(keys)) == len(keys), "distinct run keys: a repeated tick does not launch twice"
    assert all(r.tags[MODE_TAG] == "incremental" for r in result.run_requests or [])

    horizon = tick(NIGHTLY, AT_0215, WarehouseResource(path=str(path), settle_horizon_days=14))
    assert requested(horizon)["retab/workflow_runs"][0] == ("2026-04-21", "2026-04-30")  # 20th: too old


def test_nightly_requests_yesterday_only_when_the_warehouse_stays_locked(tmp_path: Path) -> None:
    path = hw.create(tmp_path / "w.duckdb")
    con = hw.connect(path)
    hw.add_run(con, "workflow_runs", "running-3rd", date(2026, 5, 3), "running")
    con.close()
    holding, release = threading.Event(), threading.Event()
    released_in_time: list[bool] = []  # an assert in the thread would not fail the test

    def writer() -> None:
        with open_writer(path, lock_wait=5):
            holding.set()
            released_in_time.append(release.wait(60))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(60), "the writer never opened the file"
        result = tick(NIGHTLY, AT_0215, WarehouseResource(path=str(path), lock_wait=0.3))
    finally:
        release.set()
        thread.join()

    assert released_in_time == [True], "the writer let the file go before the tick was done"
    assert requested(result)["retab/workflow_runs"] == [("2026-05-10", "2026-05-10")]


def test_nightly_days_stay_between_the_first_partition_and_today() -> None:
    from pipelines.load.state import DayState, OpenRun

    committed = datetime(2026, 1, 10, 3, tzinfo=UTC)
    open_run = OpenRun("r1", committed, "r0", committed - timedelta(seconds=1), 1)
    states = {
        day: DayState(
            day,
            rows=500,
            open_runs=(open_run,),
            last_outcome="ok",
            last_complete=True,
            committed_at=committed,
        )
        for day in (date(2026, 1, 2), date(2026, 1, 5), date(2026, 1, 9))
    }
    runs = ENDPOINTS["runs"]
    tasks = plan_sync(
        [runs],
        {"runs": states},
        None,
        mode="incremental",
        today=date(2026, 1, 8),
        now=committed,
        first_day=date(2026, 1, 3),
        reconcile_days=0,
    )
    # from the first partition (the 2nd is before it) to today (the 9th is after it): the days no sync
    # reached are walked, the 5th's open run settled
    assert [t.day for t in tasks] == [date(2026, 1, n) for n in range(3, 9)]
    assert next(t for t in tasks if t.day == date(2026, 1, 5)).settle_ids == ("r1",)
    assert plan_sync([runs], {}, None, mode="incremental", today=date(2026, 1, 2), now=committed,
                     first_day=date(2026, 1, 3), reconcile_days=0) == []  # fmt: skip


def test_today_s_schedule_requests_the_partial_partition_of_the_tick_s_day() -> None:
    result = tick(TODAY, datetime(2026, 5, 11, 14, 30, tzinfo=UTC))
    (request,) = result.run_requests or []
    assert request.partition_key == "2026-05-11"


def test_today_s_schedule_interval_comes_from_the_environment() -> None:
    assert today_every_minutes({}) == 30
    assert today_every_minutes({"RETAB_TODAY_EVERY_MINUTES": "15"}) == 15
    assert every_minutes_cron(15) == "*/15 * * * *" and every_minutes_cron(60) == "0 * * * *"
    for bad in ("0", "90", "ten"):
        with pytest.raises(ValueError, match="RETAB_TODAY_EVERY_MINUTES"):
            today_every_minutes({"RETAB_TODAY_EVERY_MINUTES": bad})


def test_nightly_ticks_bring_late_status_changes_into_the_warehouse(
    make_sim, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """Sync two days late on the second, let the clock run past the next night, run what the tick asks."""
    sim: Simulator = make_sim(runs_per_day=1500, now=datetime(2026, 5, 10, 23, 55, tzinfo=UTC))
    days = DAYS[-2:]
    path = tmp_path / "w.duckdb"
    monkeypatch.setenv("RETAB_API_KEY", sim.key)
    monkeypatch.setenv("RETAB_API_BASE_URL", sim.base_url)
    monkeypatch.setenv("RETAB_DUCKDB_PATH", str(path))
    job = defs.resolve_job_def("retab_sync")
    assert job.execute_in_process(instance=instance, tags=range_tags(days[0], END)).success
    with open_reader(path) as con:
        assert day_states(con, "runs")[days[0]].open_ids, "some runs were still unfinished at 23:55"
        before = dict(con.execute("SELECT id, status FROM retab.workflow_runs").fetchall())

    sim.advance(minutes=60 * 26 + 5)  # to 2026-05-12 02:00
    result = tick(NIGHTLY, datetime(2026, 5, 12, 2, 15, tzinfo=UTC))
    for request in result.run_requests or []:
        run = job.execute_in_process(
            instance=instance, tags=request.tags, asset_selection=request.asset_selection
        )
        assert run.success

    with open_reader(path) as con:
        for endpoint in ENDPOINTS.values():
            for day in [*days, END + timedelta(days=1)]:
                stored = dict(
                    con.execute(
                        f"SELECT id, status FROM retab.{endpoint.table} WHERE created_date = ?", [day]
                    ).fetchall()
                )
                assert stored == sim.truth_ids(endpoint.name, day), (endpoint.name, day)
        after = dict(con.execute("SELECT id, status FROM retab.workflow_runs").fetchall())
    assert any(after[run_id] != status for run_id, status in before.items()), "late status changes landed"


def test_the_weekly_reconcile_tick_removes_a_deleted_run_and_reports_it(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """Sunday 03:30: one range per endpoint over the last 30 days, walked again; a deleted settled run
    is removed and counted in the day's metadata (the nightly alone never looks at a settled day)."""
    path = tmp_path / "w.duckdb"
    monkeypatch.setenv("RETAB_API_KEY", sim.key)
    monkeypatch.setenv("RETAB_API_BASE_URL", sim.base_url)
    monkeypatch.setenv("RETAB_DUCKDB_PATH", str(path))
    monkeypatch.setenv("RETAB_PARTITIONS_START", DAYS[0].isoformat())
    job = defs.resolve_job_def("retab_sync")
    assert job.execute_in_process(instance=instance, tags=range_tags(DAYS[0], END)).success
    victim = sim.truth("runs", DAYS[1])[0]["id"]
    sim.delete("runs", victim)

    assert RECONCILE.cron_schedule == "30 3 * * 0" and RECONCILE.execution_timezone == "UTC"
    sunday = datetime(2026, 5, 17, 3, 30, tzinfo=UTC)
    result = tick(RECONCILE, sunday)
    assert requested(result) == {
        "retab/workflow_runs": [(DAYS[0].isoformat(), "2026-05-16")],
        "retab/experiment_runs": [(DAYS[0].isoformat(), "2026-05-16")],
    }
    runs_request = next(r for r in result.run_requests or [] if "workflow_runs" in str(r.asset_selection))
    assert runs_request.tags[MODE_TAG] == "reconcile"
    run = job.execute_in_process(
        instance=instance, tags=runs_request.tags, asset_selection=runs_request.asset_selection
    )
    assert run.success
    with open_reader(path) as con:
        query = "SELECT id FROM retab.workflow_runs WHERE created_date = ?"
        stored = {row[0] for row in con.execute(query, [DAYS[1]]).fetchall()}
    assert victim not in stored and stored == set(sim.truth_ids("runs", DAYS[1]))
    removed = [
        e.materialization.metadata["removed"].value
        for e in run.get_asset_materialization_events()
        if e.materialization.partition == DAYS[1].isoformat()
    ]
    assert removed == [1], removed
