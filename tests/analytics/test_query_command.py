"""`retab-warehouse sql`: read-only, table/CSV/JSON output, one clear message on errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from pipelines.cli import sql_command

from .dataset import query


def run_sql(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    sql_command.add_arguments(parser)
    return sql_command.run(parser.parse_args(list(argv)))


TRIGGERS = (
    "SELECT trigger_type, sum(runs) AS runs FROM analytics.trigger_mix GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3"
)


def test_csv_output(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_sql(TRIGGERS, "--db", str(warehouse), "--format", "csv") == 0
    assert capsys.readouterr().out == "trigger_type,runs\nschedule,13\napi,11\nemail,2\n"


def test_csv_is_the_default_off_a_terminal(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_sql(TRIGGERS, "--db", str(warehouse)) == 0
    assert capsys.readouterr().out.startswith("trigger_type,runs\n")


def test_json_output_keeps_types(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = (
        "SELECT run_id, score, score_change, created_at, day, is_latest FROM analytics.experiment_scores "
        "WHERE run_id IN ('e1', 'e4') ORDER BY run_id"
    )
    assert run_sql(sql, "--db", str(warehouse), "--format", "json") == 0
    records = json.loads(capsys.readouterr().out)
    assert records[0] == {
        "run_id": "e1",
        "score": 0.8,
        "score_change": None,
        "created_at": "2026-05-01T10:00:00+00:00",
        "day": "2026-05-01",
        "is_latest": False,
    }
    assert records[1]["score_change"] == pytest.approx(-0.05)
    assert records[1]["is_latest"] is True


def test_json_of_no_rows_is_an_empty_array(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_sql("SELECT 1 AS x WHERE false", "--db", str(warehouse), "--format", "json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_table_output(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_sql(TRIGGERS, "--db", str(warehouse), "--format", "table", "--max-rows", "2") == 0
    out = capsys.readouterr().out
    assert "trigger_type" in out and "schedule" in out and "api" in out
    assert "email" not in out
    assert "3 rows, 2 shown" in out


def test_query_from_a_sql_file(warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "q.sql"
    path.write_text("-- errors per day\nSELECT day, sum(errors) AS errors\nFROM analytics.workflow_errors\n"
                    "GROUP BY day ORDER BY day;\n")  # fmt: skip
    assert run_sql(str(path), "--db", str(warehouse), "--format", "csv") == 0
    assert capsys.readouterr().out == "day,errors\n2026-05-01,3\n2026-05-02,1\n"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELEC 1", "Parser Error"),
        ("SELECT * FROM analytics.nope", "Catalog Error"),
        ("DELETE FROM retab.workflow_runs", "read-only"),
        ("CREATE TABLE retab.x (a INTEGER)", "read-only"),
        ("   -- nothing\n ;", "the query is empty"),
        ("missing.sql", "cannot read SQL file"),
    ],
    ids=["syntax", "unknown-view", "delete", "create", "empty", "missing-file"],
)
def test_errors_are_one_message_without_traceback(
    warehouse: Path, capsys: pytest.CaptureFixture[str], sql: str, message: str
) -> None:
    assert run_sql(sql, "--db", str(warehouse)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ")
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert query(warehouse, "SELECT count(*) AS n FROM retab.workflow_runs") == [{"n": 29}]


def test_missing_warehouse_is_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_sql("SELECT 1", "--db", str(tmp_path / "nope.duckdb")) == 1
    err = capsys.readouterr().err
    assert "does not exist yet" in err and "retab-warehouse sync" in err


def test_db_defaults_to_the_environment(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RETAB_DUCKDB_PATH", str(warehouse))
    assert run_sql("SELECT count(*) AS n FROM retab.workflow_runs", "--format", "csv") == 0
    assert capsys.readouterr().out == "n\n29\n"


def test_the_file_is_released_after_the_query(warehouse: Path) -> None:
    from pipelines.load.connections import open_writer

    assert run_sql("SELECT 1", "--db", str(warehouse), "--format", "csv") == 0
    with open_writer(warehouse, lock_wait=0.0) as con:  # fails at once if a reader still held it
        assert con.execute("SELECT count(*) FROM retab.experiment_runs").fetchone() == (7,)


def test_csv_floats_carry_no_binary_noise(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run_sql(
            "SELECT 89192.8::DOUBLE + 1e-11 AS x, 0.1 + 0.2 AS y", "--format", "csv", "--db", str(warehouse)
        )
        == 0
    )
    assert capsys.readouterr().out == "x,y\n89192.8,0.3\n"


def test_a_closed_pipe_ends_quietly(warehouse: Path) -> None:
    import subprocess
    import sys

    command = [sys.executable, "-m", "pipelines.cli", "sql", "SELECT * FROM range(300000)", "--format", "csv"]
    done = subprocess.run(
        f"{' '.join(repr(c) for c in command)} --db {str(warehouse)!r} | head -n 1",
        shell=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.stdout == "range\n"
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
