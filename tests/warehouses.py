"""The two warehouse backends for tests: a DuckDB file on tmp_path, or a DuckLake whose catalog is a new
database of the throwaway PostgreSQL cluster and whose data is a folder on tmp_path.

`warehouse` (tests/conftest.py) is parametrized over both, ids `file` and `lake`, so that one test body
checks both; `rows()` and `env()` read and name either the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from postgres_cluster import PostgresCluster

from pipelines.config import DUCKDB_PATH_ENV, DUCKLAKE_DATA_PATH_ENV, DuckLake, Warehouse
from pipelines.load.connections import open_reader

BACKENDS = ("file", "lake")


def make_warehouse(backend: str, folder: Path, postgres: PostgresCluster | None) -> Warehouse:
    """A new, empty warehouse of that backend under `folder`."""
    if backend == "file":
        return folder / "w.duckdb"
    assert postgres is not None
    data = folder / "lake-data"
    data.mkdir(parents=True, exist_ok=True)
    return DuckLake(f"ducklake:postgres:{postgres.libpq(postgres.create_database('lake'))}", str(data))


def env(warehouse: Warehouse) -> dict[str, str]:
    """The variables that point a process (the CLI, a child sync) at `warehouse`."""
    if isinstance(warehouse, DuckLake):
        return {DUCKDB_PATH_ENV: warehouse.uri, DUCKLAKE_DATA_PATH_ENV: warehouse.data_path or ""}
    return {DUCKDB_PATH_ENV: str(warehouse)}


def rows(warehouse: Warehouse, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """One read-only query's rows (the tables are `retab.*`, `analytics.*` on both backends)."""
    with open_reader(warehouse) as con:
        con.execute("SET TimeZone = 'UTC'")
        return [tuple(r) for r in con.execute(sql, list(params)).fetchall()]


def dicts(warehouse: Warehouse, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Like rows(), each row a dict by column name."""
    with open_reader(warehouse) as con:
        cursor = con.execute(sql, list(params))
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
