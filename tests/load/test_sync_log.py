"""retab.sync_log: attempts, failures, interrupted processes, source checks and days to refresh."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import duckdb
import pytest

from pipelines.errors import SourceMismatch
from pipelines.figures import FIGURE_FIELDS, PartitionFigures
from pipelines.load.connections import open_writer
from pipelines.load.partitions import (
    SyncLogEntry,
    check_source,
    mark_interrupted,
    normalise_source,
    record_sync_failure,
    record_sync_start,
    replace_partition,
)
from pipelines.load.state import day_states

from .loading import load_day, partition_load
from .partition_rows import experiment_runs, run_ids, workflow_runs

D1, D2, D3, D4, D5 = (date(2026, 5, d) for d in range(1, 6))
SIM = "http://127.0.0.1:51234"
API = "https://api.retab.com"


@pytest.fixture
def con(migrated_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with open_writer(migrated_path) as connection:
        yield connection


def entry(day: date = D1, *, endpoint: str = "runs", source: str = API, **changes: object) -> SyncLogEntry:
    start = SyncLogEntry.start(endpoint=endpoint, day=day, source=source)
    return replace(start, **changes)  # type: ignore[arg-type]


def outcomes(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[object, ...]]:
    rows = con.execute("SELECT sync_id, outcome, error, finished_at FROM retab.sync_log").fetchall()
    return {sync_id: rest for sync_id, *rest in rows}


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_record_sync_start_leaves_running_rows(con) -> None:
    entries = [entry(D1), entry(D2, endpoint="experiment-runs")]
    record_sync_start(con, entries)
    rows = con.execute(
        "SELECT endpoint, day, outcome, source, pid, host FROM retab.sync_log ORDER BY day"
    ).fetchall()
    assert rows == [
        ("runs", D1, "running", API, os.getpid(), socket.gethostname()),
        ("experiment-runs", D2, "running", API, os.getpid(), socket.gethostname()),
    ]


class _ImportSpy:
    """A meta-path finder that only counts the imports it is asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        self.asked.append(name)


def test_sync_log_rows_are_not_bound_one_parameter_at_a_time(con, monkeypatch: pytest.MonkeyPatch) -> None:
    # duckdb 1.5 tries `import pandas` for every bound parameter: where pandas is absent, a search of
    # sys.path each time (~6 ms for a sync_log row's ~40 values, ~0.1 s of a 5 s sync of 8 days).
    assert importlib.util.find_spec("pandas") is None, "this test needs an environment without pandas"
    spy = _ImportSpy()
    monkeypatch.setattr(sys, "meta_path", [spy, *sys.meta_path])
    load = partition_load("runs", D1, {"workflow_runs": workflow_runs(D1, run_ids(D1, range(3)))}, source=API)
    record_sync_start(con, [load.log, entry(D2), entry(D3)])
    with load.spool:
        replace_partition(con, load)
    # the 3 start rows and the ok row: ~200 values; the swap's own statements bind a day each
    assert spy.asked.count("pandas") < 40  # 218 when every value was a bound parameter


def test_every_sync_log_value_reads_back_as_written(con) -> None:
    figures = PartitionFigures(**{n: 0 for n in FIGURE_FIELDS})
    figures.rows, figures.seconds, figures.complete, figures.bytes = 7, 1.25, True, 3 << 33
    figures.retries_by_cause = {"429": 2}
    began = datetime(2026, 5, 2, 3, 4, 5, 678901, tzinfo=UTC)
    done = entry(D2, mode="walk").finished(figures, tail_cursor="run_9", source_time=began)
    record_sync_start(con, [done])
    row = con.execute(
        "SELECT day, started_at, rows, seconds, complete, bytes, retries, retries_by_cause::VARCHAR, "
        "mode, tail_cursor, source_time, pid, host, outcome, finished_at, error FROM retab.sync_log"
    ).fetchall()
    assert row == [
        (
            D2,
            done.started_at,
            7,
            1.25,
            True,
            3 << 33,
            2,
            '{"429": 2}',
            "walk",
            "run_9",
            began,
            os.getpid(),
            socket.gethostname(),
            "running",
            None,
            None,
        )
    ]


def test_record_sync_failure_keeps_the_error_and_the_time(con) -> None:
    attempt = entry()
    record_sync_start(con, [attempt])
    finished = datetime(2026, 5, 2, 3, 4, tzinfo=UTC)
    record_sync_failure(con, attempt.sync_id, "HTTP 404 for /v1/workflows/runs" + "x" * 10_000, finished)
    outcome, error, finished_at = outcomes(con)[attempt.sync_id]
    assert outcome == "failed" and error.startswith("HTTP 404") and len(error) <= 4000
    assert finished_at == finished


def test_finished_copies_the_figures_of_a_partition() -> None:
    class Figures:
        rows, pages, rejected, open_runs, unknown_fields, duplicates, bytes, seconds, complete = (
            10,
            2,
            1,
            3,
            4,
            5,
            999,
            1.5,
            True,
        )
        gets, resumed_pages, added, changed, removed = 6, 7, 8, 9, 10
        retries_by_cause: ClassVar[dict[str, int]] = {"429": 2, "5xx": 1}

    done = entry().finished(PartitionFigures(**{n: getattr(Figures, n) for n in FIGURE_FIELDS}))
    assert (done.rows, done.pages, done.retries, done.rejected, done.open_runs) == (10, 2, 3, 1, 3)
    assert (done.unknown_fields, done.bytes, done.seconds, done.complete) == (4, 999, 1.5, True)
    assert done.duplicates == 5
    assert (done.gets, done.resumed_pages, done.added, done.changed, done.removed) == (6, 7, 8, 9, 10)
    assert done.retries_by_cause == {"429": 2, "5xx": 1}


def test_mark_interrupted_only_touches_dead_processes_of_this_host(con) -> None:
    dead = entry(D1, pid=dead_pid())
    alive = entry(D2, pid=os.getpid())
    elsewhere = entry(D3, pid=dead_pid(), host="another-host")
    finished = entry(D4, pid=dead_pid())
    record_sync_start(con, [dead, alive, elsewhere, finished])
    record_sync_failure(con, finished.sync_id, "boom", datetime.now(UTC))
    assert mark_interrupted(con) == 1
    states = {k: v[0] for k, v in outcomes(con).items()}
    assert states == {
        dead.sync_id: "interrupted",
        alive.sync_id: "running",
        elsewhere.sync_id: "running",
        finished.sync_id: "failed",
    }
    assert f"process {dead.pid}" in outcomes(con)[dead.sync_id][1]
    assert mark_interrupted(con) == 0


def test_a_zombie_process_counts_as_gone(con) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child never exited"  # exited, but not reaped yet
            time.sleep(0.01)
        record_sync_start(con, [entry(pid=child.pid)])
        assert mark_interrupted(con) == 1
    finally:
        child.wait()


@pytest.mark.parametrize(
    ("held", "syncing"),
    [
        (API, "https://API.retab.com/"),
        (API, "https://api.retab.com/v1"),
        (API, "https://api.retab.com:443"),
        (SIM, "http://127.0.0.1:40000"),
        (SIM, "http://localhost:5000/v1/"),
    ],
    ids=["case-and-slash", "trailing-v1", "default-port", "simulator-new-port", "simulator-localhost"],
)
def test_the_same_source_is_accepted(con, held: str, syncing: str) -> None:
    load_day_from(con, held)
    check_source(con, syncing)


@pytest.mark.parametrize(
    ("held", "syncing"),
    [(SIM, API), (API, SIM), (API, "https://staging.retab.com"), (API, "http://api.retab.com")],
    ids=["simulator-then-api", "api-then-simulator", "another-api", "plain-http"],
)
def test_another_source_is_refused_with_a_clear_message(con, held: str, syncing: str) -> None:
    load_day_from(con, held)
    with pytest.raises(SourceMismatch) as caught:
        check_source(con, syncing)
    message = str(caught.value)
    assert normalise_source(held) in message and normalise_source(syncing) in message
    assert "RETAB_DUCKDB_PATH" in message


def test_failed_attempts_from_another_source_do_not_count(con) -> None:
    wrong = entry(source="https://wrong.example.com")
    record_sync_start(con, [wrong])
    record_sync_failure(con, wrong.sync_id, "404", datetime.now(UTC))
    check_source(con, API)
    check_source(con, SIM)


def test_an_empty_warehouse_accepts_any_source(con) -> None:
    check_source(con, SIM)
    check_source(con, API)


def test_credentials_in_the_url_never_reach_the_warehouse(con) -> None:
    record_sync_start(con, [entry(source="https://user:sk-secret@api.retab.com/v1?api_key=sk-secret")])
    assert con.execute("SELECT source FROM retab.sync_log").fetchall() == [(API,)]


def load_day_from(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """A successful runs sync of D1 from `source`."""
    load = partition_load(
        "runs", D1, {"workflow_runs": workflow_runs(D1, run_ids(D1, range(2)))}, source=source
    )
    with load.spool:
        replace_partition(con, load)


def sync_day(
    con, day: date, status: str, outcome: str = "ok", *, complete: bool = True, age: int = 0
) -> None:
    """Load runs of `day` with `status`, then let the last attempt end with `outcome`."""
    load_day(con, "runs", day, {"workflow_runs": workflow_runs(day, run_ids(day, range(3)), status=status)})
    attempt = entry(day, complete=complete, started_at=datetime.now(UTC) + timedelta(minutes=age))
    record_sync_start(con, [attempt])
    if outcome == "failed":
        record_sync_failure(con, attempt.sync_id, "boom", datetime.now(UTC))
    elif outcome == "ok":
        con.execute(
            "UPDATE retab.sync_log SET outcome = 'ok', complete = ? WHERE sync_id = ?",
            [complete, attempt.sync_id],
        )


def open_run_days(con, endpoint: str, since: date) -> list[date]:
    """Days >= since holding open runs, or whose last attempt did not end ok and complete (day_states)."""
    return sorted(
        day
        for day, s in day_states(con, endpoint).items()
        if day >= since and (s.open_ids or s.last_outcome != "ok" or not s.last_complete)
    )


def test_open_run_days_lists_open_runs_and_unfinished_syncs(con) -> None:
    sync_day(con, date(2026, 4, 20), "running")  # before `since`
    sync_day(con, D1, "completed")
    sync_day(con, D2, "running")
    sync_day(con, D3, "completed", outcome="failed", age=1)
    sync_day(con, D4, "awaiting_review")
    sync_day(con, D5, "completed", outcome="running", age=1)
    # D1's last attempt is ok even though an earlier one failed
    earlier = entry(D1, started_at=datetime.now(UTC) - timedelta(days=1))
    record_sync_start(con, [earlier])
    record_sync_failure(con, earlier.sync_id, "boom", datetime.now(UTC))
    assert open_run_days(con, "runs", date(2026, 4, 25)) == [D2, D3, D4, D5]
    assert open_run_days(con, "experiment-runs", date(2026, 4, 25)) == []


def test_open_run_days_counts_unknown_statuses_as_open_and_per_endpoint(con) -> None:
    load_day(con, "runs", D1, {"workflow_runs": workflow_runs(D1, run_ids(D1, range(2)), status="paused")})
    load_day(con, "runs", D2, {"workflow_runs": workflow_runs(D2, run_ids(D2, range(2)), status="cancelled")})
    load_day(con, "experiment-runs", D3, {"experiment_runs": experiment_runs(D3, ["e1"], status="queued")})
    load_day(con, "experiment-runs", D4, {"experiment_runs": experiment_runs(D4, ["e2"], status="error")})
    assert open_run_days(con, "runs", D1) == [D1]
    assert open_run_days(con, "experiment-runs", D1) == [D3]
