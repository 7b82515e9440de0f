"""Late updates: as the clock moves on, the nightly path brings every run of the lookback to its status.

A first sync catches the last day at 08:00, with many runs pending, running or awaiting review.
Then the simulator's clock moves on in steps (11:00, 16:00, 23:30, and 02:15 the next night) and
at each the nightly path runs: the CLI's `sync --start yesterday --end yesterday --refresh-open`,
or the Dagster nightly schedule's own tick, whose run requests are executed. After each step
every day before the simulated today equals the truth (ids and statuses), and so does today when
it held unfinished runs (the reason to refresh it); some rows must have needed the refresh.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import pytest

from pipelines.config import Settings
from pipelines.endpoints import ENDPOINTS
from pipelines.load.connections import open_writer
from pipelines.sync.orchestrator import parse_endpoints, plan_tasks, sync
from reliability.summary import Tally
from reliability.world import (
    ENDPOINT_NAMES,
    Diff,
    cli_env,
    compare,
    days_from,
    run_cli,
    stored_rows,
    sync_args,
    sync_log,
)
from retab_sim import Simulator

# (days after the last synced day, hour, minute). The CLI may run at any time; the schedule fires at 02:15.
CLI_STEPS = ((0, 11, 0), (0, 16, 0), (0, 23, 30), (1, 2, 15))
NIGHTS = ((2, 2, 15), (3, 2, 15))  # the first night after 08:00 was missed: the partial day must settle


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def has_open_runs(path: Path, endpoint: str, day: date) -> bool:
    """The warehouse holds unfinished runs of `endpoint` on `day` (so the nightly path must refresh it)."""
    terminal = ENDPOINTS[endpoint].terminal_statuses
    return any(status not in terminal for _, status in stored_rows(path, endpoint, [day])[day])


def compare_lookback(path: Path, sim: Simulator, plan: dict[str, list[date]]) -> Diff:
    """compare() per endpoint over its own days, summed."""
    total = Diff()
    for endpoint, days in plan.items():
        diff = compare(path, sim, days, endpoints=[endpoint])
        total.missing += diff.missing
        total.duplicated += diff.duplicated
        total.extra += diff.extra
        total.stale += diff.stale
        total.checked += diff.checked
    return total


def world(make_simulator: Callable[..., Simulator], last: date, seed: int) -> Simulator:
    """Four days of data to `last`; the clock stands at 08:00 on `last`."""
    return make_simulator(
        seed=seed,
        shape="mixed",
        end=last,
        days=4,
        runs_per_day=1000,
        experiment_runs_per_day=60,
        now=at(last, 8),
    )


def settle_in_steps(
    sim: Simulator,
    path: Path,
    first: date,
    nightly: Callable[[date, datetime], None],
    tally: Tally,
    *,
    label: str,
    steps: tuple[tuple[int, int, int], ...],
    refreshes_today: bool,
) -> int:
    """Move the clock step by step, run `nightly(yesterday, now)` each time, compare with the truth.

    The days a step must leave equal to the truth: every day up to yesterday, and (CLI) today
    when it holds unfinished runs, except a day last synced part-way through (simulated time)
    that holds no unfinished run: nothing tells the sync to refresh it (the check for partial
    days uses the wall clock, which a simulated world does not share). Returns the rows a step
    put right in days other than yesterday: the refresh proper.
    """
    last = first + timedelta(days=3)
    partial = {endpoint: {last} for endpoint in ENDPOINT_NAMES}  # the first sync stopped at 08:00
    refreshed = older = 0
    for offset, hour, minute in steps:
        now = at(last + timedelta(days=offset), hour, minute)
        sim.advance(seconds=(now - sim.now).total_seconds())
        today, yesterday = now.date(), now.date() - timedelta(days=1)
        plan = {
            endpoint: [
                day
                for day in days_from(first, (today - first).days)
                if day == yesterday or day not in partial[endpoint] or has_open_runs(path, endpoint, day)
            ]
            + ([today] if refreshes_today and has_open_runs(path, endpoint, today) else [])
            for endpoint in ENDPOINT_NAMES
        }
        refreshed += compare_lookback(path, sim, plan).lost  # what this step must put right
        older += compare_lookback(
            path, sim, {e: [d for d in ds if d != yesterday] for e, ds in plan.items()}
        ).lost
        nightly(yesterday, now)
        with tally.case("late updates") as counted:
            diff = compare_lookback(path, sim, plan)
            counted.lose(diff.lost)
            assert diff.lost == 0, (
                f"{label} at {now:%Y-%m-%d %H:%M}: the nightly path left runs behind: {diff}"
            )
        for endpoint in ENDPOINT_NAMES:
            partial[endpoint].discard(yesterday)
            if refreshes_today and today in plan[endpoint]:
                partial[endpoint].add(today)
    assert refreshed >= 20, f"{label}: only {refreshed} rows needed a refresh; the test exercised too little"
    return older


def test_cli_nightly_refresh_open_settles_every_run_of_the_lookback(
    make_simulator: Callable[..., Simulator], tmp_path: Path, tally: Tally
) -> None:
    first = datetime.now(UTC).date() - timedelta(days=4)  # the CLI refuses days after today
    sim = world(make_simulator, first + timedelta(days=3), seed=5)
    path = tmp_path / "retab.duckdb"
    env = cli_env(tmp_path, key=sim.key, base_url=sim.base_url, db=path)
    initial = run_cli(sync_args(first, first + timedelta(days=3)), env)
    assert initial.returncode == 0, initial.stderr

    def nightly(yesterday: date, now: datetime) -> None:
        done = run_cli(sync_args(yesterday, yesterday, "--refresh-open"), env)
        assert done.returncode == 0, done.stdout + done.stderr

    older = settle_in_steps(
        sim, path, first, nightly, tally, label="CLI --refresh-open", steps=CLI_STEPS, refreshes_today=True
    )
    assert older > 0, "no day besides yesterday needed the refresh"
    assert all(row["outcome"] == "ok" for row in sync_log(path))


def test_dagster_nightly_schedule_settles_every_run_of_the_lookback(
    make_simulator: Callable[..., Simulator],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dagster_instance: dg.DagsterInstance,
    tally: Tally,
) -> None:
    from assets.definitions import defs
    from assets.partitions import range_tags
    from assets.resources import WarehouseResource

    first = date(2026, 5, 6)
    sim = world(make_simulator, first + timedelta(days=3), seed=6)
    path = tmp_path / "retab.duckdb"
    monkeypatch.setenv("RETAB_API_KEY", sim.key)
    monkeypatch.setenv("RETAB_API_BASE_URL", sim.base_url)
    monkeypatch.setenv("RETAB_DUCKDB_PATH", str(path))
    job = defs.resolve_job_def("retab_sync")
    schedule = defs.resolve_schedule_def("retab_nightly")

    instance = dagster_instance
    if True:
        assert job.execute_in_process(
            instance=instance, tags=range_tags(first, first + timedelta(days=3))
        ).success

        def nightly(yesterday: date, now: datetime) -> None:
            context = dg.build_schedule_context(
                scheduled_execution_time=now,
                resources={"warehouse": WarehouseResource()},
                repository_def=defs.get_repository_def(),
                instance=instance,
            )
            result = schedule.evaluate_tick(context)
            assert result.run_requests, f"{now}: the schedule requested nothing"
            for request in result.run_requests:
                run = job.execute_in_process(
                    instance=instance, tags=request.tags, asset_selection=request.asset_selection
                )
                assert run.success, f"{now}: {request.tags}"

        older = settle_in_steps(
            sim, path, first, nightly, tally, label="Dagster nightly", steps=NIGHTS, refreshes_today=False
        )
        assert older > 0, "no day besides yesterday needed the refresh"


def test_cli_refresh_open_and_the_nightly_schedule_pick_the_same_days(
    make_simulator: Callable[..., Simulator], tmp_path: Path, tally: Tally
) -> None:
    """A day synced part-way through whose nightly sync was missed must be refreshed by both paths.

    The sync_log says when each attempt started (wall clock); here one day's last attempt is moved
    into the day itself, as when `sync --end today` ran at 18:00 and the next night's sync never
    happened. Runs created after 18:00 exist only if some nightly path syncs the day again.
    """
    from assets.resources import WarehouseResource
    from assets.schedules import read_unsettled_days

    last = date(2026, 5, 9)
    sim = make_simulator(seed=9, end=last, days=4, runs_per_day=60, experiment_runs_per_day=6)
    path = tmp_path / "retab.duckdb"
    settings = Settings(api_key=sim.key, base_url=sim.base_url, duckdb_path=path)
    days = days_from(last - timedelta(days=3), 4)
    assert sync(settings, parse_endpoints("all"), days).ok
    partial_day = days[1]
    with open_writer(path) as con:  # the day's last sync started at 18:00 on that day
        con.execute(
            "UPDATE retab.sync_log SET started_at = ?, source_time = ? WHERE day = ?",
            [at(partial_day, 18), at(partial_day, 18), partial_day],
        )
    today = last + timedelta(days=5)

    with tally.case("late updates"):
        with open_writer(path) as con:  # `sync` with no dates, reconciliation aside
            tasks = plan_tasks(con, parse_endpoints("all"), None, mode="incremental", today=today,
                               reconcile_days=0)  # fmt: skip
        cli = {e: [t.day for t in tasks if t.endpoint.name == e] for e in ENDPOINT_NAMES}
        schedule = read_unsettled_days(WarehouseResource(path=str(path)), today)
        assert {e: sorted(d) for e, d in cli.items()} == {e: sorted(schedule[e]) for e in cli}, (
            "the CLI's --refresh-open and the nightly schedule disagree on which days still need a sync"
        )
        assert all(partial_day in cli[endpoint] for endpoint in ENDPOINT_NAMES)
