"""Read-only queries: one query on a connection held only while it runs, its rows fetched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from pipelines.config import Warehouse
from pipelines.errors import QueryFailed, WarehouseFileError
from pipelines.load.connections import open_reader


@dataclass(frozen=True)
class QueryResult:
    """Column names, DuckDB type names and rows of one query."""

    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]


def fetch(db_path: Warehouse, sql: str, params: Sequence[Any] | None = None) -> QueryResult:
    """Run one query on a read-only connection held only while it runs; timestamps are in UTC."""
    try:
        with open_reader(db_path) as con:
            con.execute("SET TimeZone = 'UTC'")
            cursor = con.execute(sql, params) if params is not None else con.execute(sql)
            description = cursor.description or []
            rows = [tuple(row) for row in cursor.fetchall()] if description else []
    except WarehouseFileError as exc:
        raise QueryFailed(str(exc)) from exc
    except duckdb.Error as exc:
        raise QueryFailed(_explain_sql_error(str(exc))) from exc
    return QueryResult([d[0] for d in description], [str(d[1]) for d in description], rows)


def _explain_sql_error(message: str) -> str:
    """DuckDB's message, plus a hint when the cause is a common one."""
    if "read-only mode" in message:
        return (
            f"{message}\nhint: `retab-warehouse sql` is read-only; the warehouse is written only by the sync"
        )
    if message.startswith("Catalog Error") and "analytics" in message:
        return (
            f"{message}\nhint: the analytics views are created by the sync; "
            'list what exists with: retab-warehouse sql "SHOW ALL TABLES"'
        )
    if message.startswith("Catalog Error"):
        return f'{message}\nhint: list the tables and views with: retab-warehouse sql "SHOW ALL TABLES"'
    return message
