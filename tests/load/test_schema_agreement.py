"""The DDL under pipelines/load/sql/schema and the Arrow schemas in pipelines/schemas.py agree."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipelines.load.migrations import migrate
from pipelines.schemas import TABLE_SCHEMAS, UTC_TIMESTAMP

from .partition_rows import experiment_runs, rejected, run_documents, run_ids, workflow_runs

DAY = date(2026, 5, 1)

# The DuckDB type an Arrow type must have in the DDL (strings may be VARCHAR or JSON).
DUCKDB_TYPES: list[tuple[pa.DataType, set[str]]] = [
    (pa.string(), {"VARCHAR", "JSON"}),
    (pa.list_(pa.string()), {"VARCHAR[]"}),
    (UTC_TIMESTAMP, {"TIMESTAMP WITH TIME ZONE"}),
    (pa.date32(), {"DATE"}),
    (pa.int64(), {"BIGINT"}),
    (pa.int32(), {"INTEGER"}),
    (pa.float64(), {"DOUBLE"}),
    (pa.bool_(), {"BOOLEAN"}),
]


def duckdb_types_for(arrow_type: pa.DataType) -> set[str]:
    for known, names in DUCKDB_TYPES:
        if arrow_type.equals(known):
            return names
    raise AssertionError(f"no DuckDB type mapped for Arrow type {arrow_type}")


@pytest.fixture(scope="module")
def ddl_columns(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, str, bool]]]:
    """(name, type, nullable) of every retab table, as the DDL creates them."""
    path = Path(tmp_path_factory.mktemp("ddl")) / "ddl.duckdb"
    con = duckdb.connect(str(path))
    try:
        migrate(con)
        rows = con.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM duckdb_columns() "
            "WHERE schema_name = 'retab' ORDER BY table_name, column_index"
        ).fetchall()
    finally:
        con.close()
    tables: dict[str, list[tuple[str, str, bool]]] = {}
    for table, column, data_type, nullable in rows:
        tables.setdefault(table, []).append((column, data_type, nullable))
    return tables


@pytest.mark.parametrize("table", sorted(TABLE_SCHEMAS), ids=sorted(TABLE_SCHEMAS))
def test_ddl_columns_match_the_arrow_schema(ddl_columns, table: str) -> None:
    schema = TABLE_SCHEMAS[table]
    ddl = ddl_columns[table]
    assert [c for c, _, _ in ddl] == schema.names, "same columns in the same order"
    for (column, data_type, nullable), field in zip(ddl, schema, strict=True):
        assert data_type in duckdb_types_for(field.type), f"{table}.{column}: {data_type} vs {field.type}"
        assert nullable == field.nullable, f"{table}.{column}: NOT NULL in one and not the other"


def test_every_ddl_table_has_an_arrow_schema_or_is_bookkeeping(ddl_columns) -> None:
    assert set(ddl_columns) - set(TABLE_SCHEMAS) == {"sync_log", "schema_version"}


SAMPLES = {
    "workflow_runs": lambda: workflow_runs(DAY, run_ids(DAY, range(3)), status="awaiting_review"),
    "workflow_run_documents": lambda: run_documents(DAY, run_ids(DAY, range(3))),
    "experiment_runs": lambda: experiment_runs(DAY, ["exprun_1", "exprun_2"]),
    "rejected_records": lambda: rejected("runs", DAY, ["no id", "bad timestamp"]),
}


@pytest.mark.parametrize("table", sorted(SAMPLES), ids=sorted(SAMPLES))
def test_arrow_rows_round_trip_through_the_ddl_unchanged(tmp_path: Path, table: str) -> None:
    rows = SAMPLES[table]()
    con = duckdb.connect(str(tmp_path / "rt.duckdb"))
    try:
        migrate(con)
        con.register("src", rows)
        con.execute(f'INSERT INTO retab."{table}" SELECT * FROM src')
        back = con.sql(f'SELECT * FROM retab."{table}"').to_arrow_table()
    finally:
        con.close()
    assert back.cast(TABLE_SCHEMAS[table]).equals(rows)
