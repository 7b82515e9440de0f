"""Windows that finish together are loaded in one writer session, each day still its own transaction."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ALL_COMPLETED, wait
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.config import Settings
from pipelines.endpoints import WORKFLOW_RUNS
from pipelines.extract import windows as extract
from pipelines.load import partitions as load_module
from pipelines.load.connections import sql_literal
from pipelines.load.partitions import SyncLogEntry
from pipelines.sync import orchestrator as sync_module
from pipelines.sync.orchestrator import sync
from retab_sim import SimConfig, run_simulator

END = date(2026, 5, 10)
DAYS = [END - timedelta(days=n) for n in (3, 2, 1, 0)]
FAILING = DAYS[-1]  # the last day still holds runs in flight, which settle when the clock moves


def rows(db: Path, day: date) -> dict[str, str]:
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH {sql_literal(db)} AS w (READ_ONLY)")
        found = con.execute("SELECT id, status FROM w.retab.workflow_runs WHERE created_date = ?", [day])
        return dict(found.fetchall())
    finally:
        con.close()


def sync_log(db: Path) -> list[tuple[date, str]]:
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH {sql_literal(db)} AS w (READ_ONLY)")
        return con.execute("SELECT day, outcome FROM w.retab.sync_log ORDER BY started_at, day").fetchall()
    finally:
        con.close()


@pytest.fixture
def all_windows_finish_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sync asks for finished windows only once every running one has finished."""
    monkeypatch.setattr(extract, "wait", lambda fs, return_when: wait(fs, return_when=ALL_COMPLETED))


@pytest.fixture
def writer_sessions(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every writer session the sync opens, in order."""
    opened: list[Path] = []
    real = sync_module.open_writer

    @contextlib.contextmanager
    def counting(path: Path, **kwargs: object) -> Iterator[duckdb.DuckDBPyConnection]:
        opened.append(path)
        with real(path, **kwargs) as con:  # type: ignore[arg-type]
            yield con

    monkeypatch.setattr(sync_module, "open_writer", counting)
    return opened


def test_windows_that_finish_together_share_one_writer_session(
    tmp_path: Path, all_windows_finish_together: None, writer_sessions: list[Path]
) -> None:
    db = tmp_path / "retab.duckdb"
    with run_simulator(SimConfig(seed=9, end=END, days=4, runs_per_day=400)) as sim:
        settings = Settings(api_key=sim.key, base_url=sim.base_url, duckdb_path=db, concurrency=4)
        report = sync(settings, [WORKFLOW_RUNS], DAYS)
        assert report.ok
        assert len(writer_sessions) == 2  # the plan (migrate, sync_log 'running' rows), then the four loads
        for day in DAYS:
            assert rows(db, day) == sim.truth_ids("runs", day)
    assert sorted(sync_log(db)) == [(day, "ok") for day in DAYS]


def test_a_failed_transaction_fails_only_its_own_day_of_the_session(
    tmp_path: Path, all_windows_finish_together: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "retab.duckdb"
    with run_simulator(SimConfig(seed=9, end=END, days=4, runs_per_day=400)) as sim:
        settings = Settings(api_key=sim.key, base_url=sim.base_url, duckdb_path=db, concurrency=4)
        assert sync(settings, [WORKFLOW_RUNS], DAYS).ok
        before = rows(db, FAILING)
        sim.advance(minutes=24 * 60)  # runs settle: a re-sync changes statuses
        assert sim.truth_ids("runs", FAILING) != before

        real = load_module._write_sync_ok  # the last statement of a partition's transaction

        def fails_on_one_day(con: duckdb.DuckDBPyConnection, entry: SyncLogEntry, **kwargs: Any) -> None:
            if entry.day == FAILING:
                raise duckdb.ConstraintException("injected failure")  # the day's rows are written by now
            real(con, entry, **kwargs)

        monkeypatch.setattr(load_module, "_write_sync_ok", fails_on_one_day)
        report = sync(settings, [WORKFLOW_RUNS], DAYS)
        assert [p.day for p in report.failed] == [FAILING]
        assert "injected failure" in (report.failed[0].error or "")
        assert rows(db, FAILING) == before
        for day in DAYS:
            if day != FAILING:
                assert rows(db, day) == sim.truth_ids("runs", day)
    second_attempt = sync_log(db)[len(DAYS) :]
    assert sorted(second_attempt) == sorted((day, "failed" if day == FAILING else "ok") for day in DAYS)
