"""Versioned DDL: each file once, in order, in a transaction; older files migrate, newer ones are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.errors import MigrationError, SchemaTooNew
from pipelines.figures import FIGURE_COLUMNS
from pipelines.load.connections import open_reader, open_writer, sql_literal
from pipelines.load.migrations import WAREHOUSE_SCHEMA_DIR, current_version, list_migrations, migrate

V1 = "CREATE SCHEMA IF NOT EXISTS retab;\nCREATE TABLE retab.things (id VARCHAR NOT NULL, n INTEGER);\n"
V2 = "ALTER TABLE retab.things ADD COLUMN colour VARCHAR DEFAULT 'blue';\n"


def write_schema(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    """A direct connection, attached under another name (a file called retab.duckdb would clash)."""
    con = duckdb.connect()
    con.execute(f"ATTACH {sql_literal(path)} AS w")
    con.execute("USE w")
    return con


def applied(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str]]:
    return con.execute("SELECT version, name FROM retab.schema_version ORDER BY version").fetchall()


def test_a_fresh_file_gets_every_schema_file_once(tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    assert migrate(con) == list_migrations()[-1].version
    assert migrate(con) == list_migrations()[-1].version
    assert applied(con) == [(m.version, m.name) for m in list_migrations()]
    con.close()


def test_an_existing_file_migrates_to_a_new_column_and_keeps_its_rows(tmp_path: Path) -> None:
    schema = write_schema(tmp_path / "schema", {"001_things.sql": V1})
    path = tmp_path / "w.duckdb"
    con = connect(path)
    assert migrate(con, schema) == 1
    con.execute("INSERT INTO retab.things VALUES ('a', 1), ('b', 2)")
    con.close()

    write_schema(schema, {"002_colour.sql": V2})
    con = connect(path)
    assert migrate(con, schema) == 2
    assert con.execute("SELECT * FROM retab.things ORDER BY id").fetchall() == [
        ("a", 1, "blue"),
        ("b", 2, "blue"),
    ]
    assert applied(con) == [(1, "things"), (2, "colour")]
    con.close()


def test_the_real_schema_migrates_forward_with_its_data(tmp_path: Path, warehouse_path: Path) -> None:
    schema = tmp_path / "schema"
    shutil.copytree(WAREHOUSE_SCHEMA_DIR, schema)
    with open_writer(warehouse_path) as con:
        con.execute(
            "INSERT INTO retab.sync_log (sync_id, endpoint, day, started_at, outcome, source) "
            "VALUES ('s1', 'runs', DATE '2026-05-01', now(), 'ok', 'https://api.retab.com')"
        )
    last = list_migrations()[-1].version
    write_schema(
        schema, {f"{last + 1:03d}_add_region.sql": "ALTER TABLE retab.sync_log ADD COLUMN region VARCHAR;"}
    )
    con = connect(warehouse_path)
    assert migrate(con, schema) == last + 1
    assert con.execute("SELECT sync_id, region FROM retab.sync_log").fetchall() == [("s1", None)]
    con.close()


def test_a_file_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    schema = write_schema(tmp_path / "schema", {"001_things.sql": V1, "002_colour.sql": V2})
    path = tmp_path / "w.duckdb"
    con = connect(path)
    migrate(con, schema)
    (schema / "002_colour.sql").unlink()
    with pytest.raises(SchemaTooNew, match=r"schema version 2.*up to 1 only: upgrade retab-warehouse"):
        migrate(con, schema)
    con.close()


def test_open_writer_refuses_a_warehouse_from_a_newer_release(warehouse_path: Path) -> None:
    with open_writer(warehouse_path) as con:
        con.execute("INSERT INTO retab.schema_version VALUES (999, 'from_the_future', now())")
    with pytest.raises(SchemaTooNew, match="999"), open_writer(warehouse_path):
        pass


def test_a_failing_file_applies_nothing(tmp_path: Path) -> None:
    schema = write_schema(tmp_path / "schema", {"001_things.sql": V1})
    path = tmp_path / "w.duckdb"
    con = connect(path)
    migrate(con, schema)
    write_schema(
        schema, {"002_broken.sql": "CREATE TABLE retab.half (x INTEGER);\nSELECT * FROM no_such_table;\n"}
    )
    with pytest.raises(MigrationError, match=r"002_broken\.sql failed, nothing applied"):
        migrate(con, schema)
    assert current_version(con) == 1
    tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'retab'").fetchall()
    assert ("half",) not in tables
    con.close()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"001_a.sql": V1, "1_b.sql": V2}, "must be named NNN_name.sql"),
        ({"001_a.sql": V1, "001_b.sql": V2}, "version 1 also used by"),
        ({}, "no schema files"),
    ],
    ids=["bad-name", "repeated-number", "empty-dir"],
)
def test_a_malformed_schema_directory_is_an_error(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    schema = write_schema(tmp_path / "schema", files)
    with pytest.raises(MigrationError, match=message):
        list_migrations(schema)


def test_a_reader_sees_the_version_without_migrating(migrated_path: Path) -> None:
    with open_reader(migrated_path) as con:
        assert current_version(con) == list_migrations()[-1].version


def test_migration_002_adds_the_duplicates_figure_and_keeps_older_rows(tmp_path: Path) -> None:
    schema = tmp_path / "schema"
    schema.mkdir()
    (schema / "001_initial.sql").write_text((WAREHOUSE_SCHEMA_DIR / "001_initial.sql").read_text())
    con = connect(tmp_path / "w.duckdb")
    assert migrate(con, schema) == 1  # a warehouse written before 002
    con.execute(
        "INSERT INTO retab.sync_log (sync_id, endpoint, day, started_at, outcome, source, rows) "
        "VALUES ('old', 'runs', DATE '2026-05-01', now(), 'ok', 'https://api.retab.com', 12)"
    )
    assert migrate(con) >= 2
    assert con.execute("SELECT sync_id, rows, duplicates FROM retab.sync_log").fetchall() == [
        ("old", 12, None)
    ]
    columns = [r[0] for r in con.execute("DESCRIBE retab.sync_log").fetchall()]
    assert set(FIGURE_COLUMNS) <= set(columns)  # every figure of the one type has its column
    con.close()
