"""Hand-made warehouse files: the real schema (applied by open_writer), rows written by the test."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import duckdb

from pipelines.load.connections import open_writer, sql_literal

SOURCE = "http://127.0.0.1:9"  # a loopback source: "the simulator" for check_source


def create(path: Path) -> Path:
    """An empty warehouse file at the current schema version."""
    with open_writer(path, lock_wait=5):
        pass
    return path


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-write connection for the test to write rows with (close it before Dagster reads).

    Attached under another name, as the engine does: a file called retab.duckdb would otherwise
    make `retab.<table>` ambiguous between the file's catalog and the schema.
    """
    con = duckdb.connect()
    con.execute(f"ATTACH {sql_literal(path)} AS handmade")
    con.execute("USE handmade")
    return con


def add_run(
    con: duckdb.DuckDBPyConnection,
    table: str,
    run_id: str,
    day: date,
    status: str = "completed",
    *,
    created_date: date | None = None,
    hour: int = 12,
    synced_at: datetime | None = None,
) -> None:
    """One run created at `hour`:00 UTC on `day`; `created_date` may be set to another day by hand."""
    created_at = datetime.combine(day, time(hour), tzinfo=UTC)
    con.execute(
        f"INSERT INTO retab.{table} (id, status, created_at, created_date, raw, synced_at) "
        "VALUES (?, ?, ?, ?, ?, coalesce(?, now()))",
        [run_id, status, created_at, created_date or day, f'{{"id": "{run_id}"}}', synced_at],
    )


def add_runs(
    con: duckdb.DuckDBPyConnection, table: str, day: date, count: int, status: str = "completed"
) -> None:
    """`count` runs on `day`, ids `<table>-<day>-<n>`, in one statement."""
    con.execute(
        f"INSERT INTO retab.{table} (id, status, created_at, created_date, raw, synced_at) "
        "SELECT concat(?, '-', i), ?, ?::TIMESTAMPTZ + to_seconds(i), ?, '{}', now() FROM range(?) t(i)",
        [f"{table}-{day}", status, datetime.combine(day, time(12), tzinfo=UTC), day, count],
    )


def add_rejected(con: duckdb.DuckDBPyConnection, endpoint: str, day: date, count: int) -> None:
    """`count` rejected records of `endpoint` on `day`."""
    for n in range(count):
        con.execute(
            "INSERT INTO retab.rejected_records (endpoint, day, record_id, reason, raw, rejected_at) "
            "VALUES (?, ?, ?, 'no id', '{}', now())",
            [endpoint, day, f"rejected-{n}"],
        )


def add_sync(
    con: duckdb.DuckDBPyConnection,
    endpoint: str,
    day: date,
    outcome: str = "ok",
    *,
    complete: bool = True,
    started_at: datetime | None = None,
    rows: int = 0,
) -> None:
    """One sync_log attempt for (endpoint, day)."""
    started = started_at or datetime.combine(day + timedelta(days=1), time(2, 15), tzinfo=UTC)
    con.execute(
        "INSERT INTO retab.sync_log (sync_id, endpoint, day, started_at, finished_at, outcome, rows, pages, "
        "retries, rejected, open_runs, unknown_fields, bytes, seconds, complete, source) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, 1, 0, 0, 0, 0, 100, 0.5, ?, ?)",
        [
            uuid.uuid4().hex,
            endpoint,
            day,
            started,
            started + timedelta(seconds=1),
            outcome,
            rows,
            complete,
            SOURCE,
        ],
    )
