"""Helpers of the load tests: spool a day's tables and replace the partition with them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.load.connections import sql_literal
from pipelines.load.partitions import PARTITION_TABLES, PartitionLoad, SyncLogEntry, replace_partition
from pipelines.load.spool import Spool
from pipelines.schemas import TABLE_SCHEMAS

from .partition_rows import SOURCE


def endpoint_spool(endpoint: str, **kwargs: object) -> Spool:
    """An empty spool with the tables of an endpoint's partition."""
    names = [t.name for t in PARTITION_TABLES[endpoint]] + ["rejected_records"]
    return Spool({name: TABLE_SCHEMAS[name] for name in names}, **kwargs)  # type: ignore[arg-type]


def partition_load(
    endpoint: str,
    day: date,
    tables: Mapping[str, pa.Table],
    *,
    source: str = SOURCE,
    spool: Spool | None = None,
    sync_id: str | None = None,
) -> PartitionLoad:
    """A PartitionLoad whose spool holds `tables` and whose log entry is complete."""
    spool = spool if spool is not None else endpoint_spool(endpoint)
    for name, table in tables.items():
        spool.append(name, table)
    entry = SyncLogEntry(
        sync_id=sync_id or f"{endpoint}-{day}-{datetime.now(UTC).timestamp()}",
        endpoint=endpoint,
        day=day,
        started_at=datetime.now(UTC),
        source=source,
        rows=spool.rows(PARTITION_TABLES[endpoint][0].name),
        pages=1,
        complete=True,
    )
    return PartitionLoad(endpoint=endpoint, day=day, spool=spool, log=entry)


def load_day(
    con: duckdb.DuckDBPyConnection, endpoint: str, day: date, tables: Mapping[str, pa.Table]
) -> None:
    """Replace one partition with `tables`."""
    load = partition_load(endpoint, day, tables)
    with load.spool:
        replace_partition(con, load)


def rows_of(con: duckdb.DuckDBPyConnection, table: str, day: date | None = None) -> list[tuple[object, ...]]:
    """A table's rows (of one day, when given), sorted, for comparing whole contents."""
    column = "day" if table == "rejected_records" else "created_date"
    sql = f'SELECT * FROM retab."{table}"'
    params: list[object] = []
    if day is not None:
        sql += f" WHERE {column} = ?"
        params.append(day)
    return sorted(con.execute(sql, params).fetchall(), key=repr)


def snapshot(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every warehouse table's rows, read through a fresh read-only connection."""
    con = duckdb.connect()
    con.execute(f"ATTACH {sql_literal(path)} AS w (READ_ONLY)")
    con.execute("USE w")
    try:
        return {name: rows_of(con, name) for name in TABLE_SCHEMAS}
    finally:
        con.close()
