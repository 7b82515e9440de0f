"""`retab-warehouse migrate --to`: a warehouse file copied into a new (empty) DuckLake, counts checked.

    file ──open_writer (brought to the code's schema)──► closed
    lake ──open_writer (created, migrated)──► ATTACH file READ_ONLY ─► INSERT ... SELECT, every table,
                                              one transaction ─► DETACH ─► analytics views
    counts: file vs lake, per table, on a new reader ─► CopyMismatch if any differs

The file is never written after its migration; a failed copy leaves the lake empty (one transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.config import DuckLake, describe
from pipelines.errors import CopyMismatch
from pipelines.load.connections import open_reader, open_writer, sql_literal
from pipelines.load.memory import with_memory_to_spare
from pipelines.load.partitions import quote_ident, transaction
from pipelines.load.views import create_views

# Every table of schema retab that holds data (schema_version is the lake's own).
COPIED_TABLES = ("workflow_runs", "workflow_run_documents", "experiment_runs", "rejected_records", "sync_log")
_SOURCE = "retab_migrate_source"


@dataclass(frozen=True)
class TableCount:
    """One table's rows in the file and in the lake after the copy."""

    table: str
    file_rows: int
    lake_rows: int


def copy_into_lake(source: Path, lake: DuckLake) -> list[TableCount]:
    """Copy the warehouse file into an empty lake, in one transaction; return the checked counts."""
    source = Path(source).expanduser().absolute()
    with open_writer(source):
        pass  # the file at this code's schema version, so that both sides have the same columns
    with open_reader(source) as con:
        expected = {t: _count(con, f"retab.{t}") for t in COPIED_TABLES}
    with open_writer(lake) as con:
        held = {t: _count(con, f"retab.{t}") for t in COPIED_TABLES}
        if any(held.values()):
            raise CopyMismatch(
                f"lake {describe(lake)} already holds data ({_figures(held)}): migrate into a new, empty "
                f"lake (a new PostgreSQL database and data path), never over one in use"
            )
        con.execute(f"ATTACH {sql_literal(source)} AS {_SOURCE} (TYPE DUCKDB, READ_ONLY)")
        try:
            with_memory_to_spare(con, lambda: _copy_tables(con), what=f"copying {source} into the lake")
        finally:
            con.execute(f"DETACH {_SOURCE}")
        create_views(con)
    with open_reader(lake) as con:
        counts = [TableCount(t, expected[t], _count(con, f"retab.{t}")) for t in COPIED_TABLES]
    wrong = [c for c in counts if c.file_rows != c.lake_rows]
    if wrong:
        raise CopyMismatch(
            f"the copy into lake {describe(lake)} is not trusted: "
            + "; ".join(
                f"{c.table}: {c.file_rows} rows in the file, {c.lake_rows} in the lake" for c in wrong
            )
        )
    return counts


def _copy_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Every table of the attached file into the lake's, in one transaction."""
    with transaction(con):
        for table in COPIED_TABLES:
            columns = [
                name
                for (name,) in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE database_name = ? "
                    "AND schema_name = 'retab' AND table_name = ? ORDER BY column_index",
                    [_SOURCE, table],
                ).fetchall()
            ]
            cols = ", ".join(quote_ident(c) for c in columns)
            con.execute(
                f"INSERT INTO retab.{quote_ident(table)} ({cols}) "
                f"SELECT {cols} FROM {_SOURCE}.retab.{quote_ident(table)}"
            )


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _figures(counts: dict[str, int]) -> str:
    return ", ".join(f"{table} {rows}" for table, rows in counts.items() if rows)
