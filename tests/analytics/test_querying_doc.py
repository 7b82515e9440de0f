"""README.md's querying section: its table contract matches the warehouse, and its examples run."""

from __future__ import annotations

import os
import re
import shlex
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.load.contract import documented_columns as contract_columns
from pipelines.load.contract import readme_with_contract
from pipelines.load.reads import fetch
from pipelines.load.views import VIEWS

from .dataset import build_warehouse, connect, query

DOC = Path(__file__).resolve().parents[2] / "README.md"
FIXTURE_LAST_DAY = date(2026, 5, 2)


def section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"### {title}")
    end = text.find("\n### ", start + 1)
    return text[start : end if end > 0 else len(text)]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)


def documented_columns() -> dict[str, list[str]]:
    return {table: [c.name for c in columns] for table, columns in contract_columns().items()}


@pytest.fixture
def recent_warehouse(tmp_path: Path) -> Path:
    """The hand-built warehouse moved in time so that its last day is yesterday (UTC)."""
    path = build_warehouse(tmp_path / "warehouse" / "warehouse.duckdb")
    shift = (datetime.now(UTC).date() - timedelta(days=1) - FIXTURE_LAST_DAY).days
    con = connect(path)
    for table, columns in {
        "workflow_runs": ("created_at", "started_at", "completed_at", "created_date"),
        "experiment_runs": ("created_at", "started_at", "completed_at", "created_date"),
        "workflow_run_documents": ("created_date",),
        "sync_log": ("day", "started_at", "finished_at"),
    }.items():
        assignments = ", ".join(f"{c} = {c} + to_days({shift})" for c in columns)
        con.execute(f"UPDATE retab.{table} SET {assignments}")
    con.close()
    return path


def test_the_contract_lists_every_column_of_every_table_and_view(warehouse: Path) -> None:
    actual: dict[str, list[str]] = {}
    for row in query(
        warehouse,
        "SELECT table_schema || '.' || table_name AS name, "
        "list(column_name ORDER BY ordinal_position) AS columns FROM information_schema.columns "
        "WHERE table_schema IN ('retab', 'analytics') GROUP BY 1",
    ):
        actual[row["name"]] = row["columns"]
    assert documented_columns() == actual
    assert {f"analytics.{v.name}" for v in VIEWS} <= set(actual)


def test_the_readme_shows_the_contract_the_package_ships() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert readme_with_contract(text) == text, "run `make contract` to regenerate README.md's section"
    readme_tables = re.findall(r"^#### (\w+\.\w+)$", section("Table contract"), re.MULTILINE)
    assert readme_tables == list(contract_columns())


def test_there_are_ten_example_questions() -> None:
    examples = section("Ten example questions")
    assert len(re.findall(r"^\d+\. ", examples, re.MULTILINE)) == 10
    assert len(blocks(examples, "sql")) == 10


@pytest.mark.parametrize("number", range(1, 11), ids=lambda n: f"example-{n}")
def test_example_query_runs_and_answers(recent_warehouse: Path, number: int) -> None:
    sql = blocks(section("Ten example questions"), "sql")[number - 1]
    result = fetch(recent_warehouse, sql)
    assert result.rows, f"example {number} returned no rows"


def test_python_snippets_run(recent_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(recent_warehouse.parent.parent)  # the snippets use warehouse/warehouse.duckdb
    snippets = blocks(section("Connecting without blocking the nightly sync"), "python")
    assert len(snippets) == 3
    for snippet in snippets:
        namespace: dict[str, Any] = {}
        exec(compile(snippet, str(DOC), "exec"), namespace)
        if "con" in namespace:  # the notebook snippet keeps its snapshot open, as a notebook would
            namespace["con"].close()
    assert Path("snapshot.duckdb").exists()
    with duckdb.connect("snapshot.duckdb", read_only=True) as snapshot:
        assert snapshot.execute("SELECT count(*) FROM analytics.workflow_daily_health").fetchone() == (5,)
    from pipelines.load.connections import open_writer

    with open_writer(recent_warehouse, lock_wait=0.0):  # every snippet let go of the file
        pass


def test_cli_commands_use_sql_that_runs(recent_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(recent_warehouse.parent.parent)
    commands = [line for block in blocks(section("Connecting"), "sh") for line in block.splitlines()]
    duckdb_commands = [shlex.split(line) for line in commands if line.startswith("duckdb ")]
    assert len(duckdb_commands) == 2
    for words in duckdb_commands:  # duckdb -readonly FILE -cmd|-c SQL: the file opened directly
        assert words[1] == "-readonly" and words[3] in ("-cmd", "-c")
        con = duckdb.connect(words[2], read_only=True)
        con.execute(words[4])
        con.close()
    assert any("retab-warehouse sql" in line for line in commands)
    assert os.path.exists("warehouse/warehouse.duckdb")
