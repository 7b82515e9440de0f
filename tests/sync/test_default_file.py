"""The default warehouse file opens plainly in any DuckDB client, and the old default is moved once."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from pipelines.config import DEFAULT_DUCKDB_PATH
from pipelines.load.legacy import OLD_DEFAULT, ambiguous_name, move_old_default
from pipelines.load.views import VIEWS
from retab_sim import SimConfig, run_simulator

from .test_round_trip import DAYS, END


def sync_default(monkeypatch: pytest.MonkeyPatch, sim, folder: Path) -> int:
    """`retab-warehouse sync` from `folder` with RETAB_DUCKDB_PATH unset: the default file."""
    monkeypatch.chdir(folder)
    monkeypatch.delenv("RETAB_DUCKDB_PATH", raising=False)
    monkeypatch.setenv("RETAB_API_BASE_URL", sim.base_url)
    monkeypatch.setenv("RETAB_API_KEY", sim.key)
    return main(["sync", "--start", str(DAYS[0]), "--end", str(DAYS[-1]), "--quiet"])


def test_the_default_file_opened_directly_answers_every_table_and_view(monkeypatch, tmp_path):
    with run_simulator(SimConfig(seed=4, shape="mixed", end=END, days=3, runs_per_day=80)) as sim:
        assert sync_default(monkeypatch, sim, tmp_path) == 0
        truth = sum(len(sim.truth_ids("runs", day)) for day in DAYS)
    assert DEFAULT_DUCKDB_PATH == "warehouse/warehouse.duckdb"
    con = duckdb.connect(str(tmp_path / DEFAULT_DUCKDB_PATH), read_only=True)  # no ATTACH, no USE
    try:
        assert con.execute("SELECT count(*) FROM retab.workflow_runs").fetchone() == (truth,)
        health = con.execute("SELECT * FROM analytics.workflow_daily_health").fetchall()
        assert health
        for view in VIEWS:
            con.execute(f"SELECT count(*) FROM {view.qualified_name}").fetchone()
        for table in ("experiment_runs", "workflow_run_documents", "rejected_records", "sync_log"):
            con.execute(f"SELECT count(*) FROM retab.{table}").fetchone()
    finally:
        con.close()


def test_a_sync_moves_the_old_default_file_and_its_wal_once(monkeypatch, tmp_path, caplog):
    old = tmp_path / OLD_DEFAULT
    old.parent.mkdir()
    seed = duckdb.connect(str(old))
    seed.execute("CREATE TABLE marker AS SELECT 42 AS answer")
    seed.close()
    (old.parent / "retab.duckdb.wal").write_bytes(b"")  # an (empty) WAL travels with the file
    with run_simulator(SimConfig(seed=4, end=END, days=3, runs_per_day=20)) as sim:
        with caplog.at_level(logging.WARNING):
            assert sync_default(monkeypatch, sim, tmp_path) == 0
        moved = [r for r in caplog.records if "moved the warehouse" in r.getMessage()]
        assert len(moved) == 1
        assert not old.exists() and not (old.parent / "retab.duckdb.wal").exists()
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert sync_default(monkeypatch, sim, tmp_path) == 0
        assert not [r for r in caplog.records if "moved the warehouse" in r.getMessage()]
    con = duckdb.connect(str(tmp_path / DEFAULT_DUCKDB_PATH), read_only=True)
    try:  # the old file's content is the new file's: nothing was lost in the move
        assert con.execute("SELECT answer FROM main.marker").fetchone() == (42,)
        assert con.execute("SELECT count(*) > 0 FROM retab.workflow_runs").fetchone() == (True,)
    finally:
        con.close()


def test_nothing_moves_when_the_new_file_exists_or_the_old_is_absent(tmp_path):
    new, old = tmp_path / "warehouse.duckdb", tmp_path / "retab.duckdb"
    assert move_old_default(new, old=old) is None
    old.write_bytes(b"old")
    new.write_bytes(b"new")
    assert move_old_default(new, old=old) is None
    assert old.read_bytes() == b"old" and new.read_bytes() == b"new"
    new.unlink()
    message = move_old_default(new, old=old)
    assert message is not None and str(new) in message
    assert new.read_bytes() == b"old" and not old.exists()


def test_a_warehouse_named_retab_duckdb_is_warned_about(tmp_path):
    warning = ambiguous_name(tmp_path / "retab.duckdb")
    assert warning is not None and "ambiguous" in warning and "Rename it" in warning
    assert ambiguous_name(tmp_path / "warehouse.duckdb") is None


def test_sql_moves_the_old_default_too_and_says_so(monkeypatch, tmp_path, capsys):
    old = tmp_path / OLD_DEFAULT
    old.parent.mkdir()
    duckdb.connect(str(old)).close()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RETAB_DUCKDB_PATH", raising=False)
    assert main(["sql", "SELECT 1 AS one", "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert "moved the warehouse" in captured.err and captured.out == "one\n1\n"
    assert (tmp_path / DEFAULT_DUCKDB_PATH).exists() and not old.exists()
