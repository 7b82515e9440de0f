"""What the warehouse knows of each (endpoint, day): its rows, its open runs, its last syncs.

The incremental sync plans from this (pipelines.sync.plan): which days to walk, which to continue
from their tail cursor, which open runs to settle, when to reconcile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb

from pipelines.endpoints import ENDPOINTS


@dataclass(frozen=True)
class OpenRun:
    """A run not final yet, and where it sits in its day (oldest first)."""

    id: str
    created_at: datetime
    before_id: str | None  # the record just before it: a walk from there re-reads it and all after
    before_at: datetime | None  # that record's created_at
    rows_from: int  # records from it to the end of the day, itself included


@dataclass(frozen=True)
class DayState:
    """One (endpoint, day) as the warehouse holds it."""

    day: date
    rows: int = 0
    open_runs: tuple[OpenRun, ...] = ()  # runs not final yet (pending, queued, running, awaiting_review)
    last_outcome: str | None = None  # of the latest attempt: ok | failed | interrupted | running
    last_complete: bool = False  # the latest attempt's walk reached the end of the listing
    committed_at: datetime | None = None  # start of the latest attempt that committed, by the API's
    # clock when known (its Date header): what says whether the day was over then
    tail_cursor: str | None = None  # the newest record's id, from the latest commit that saw one

    @property
    def open_ids(self) -> tuple[str, ...]:
        """The open runs' ids, oldest first."""
        return tuple(run.id for run in self.open_runs)


def day_states(con: duckdb.DuckDBPyConnection, endpoint: str) -> dict[date, DayState]:
    """Every day the warehouse holds rows of, or has tried to sync, for one endpoint."""
    spec = ENDPOINTS[endpoint]
    terminal = sorted(spec.terminal_statuses)
    held = con.execute(
        f"SELECT created_date, count(*) FROM retab.{spec.table} GROUP BY created_date"
    ).fetchall()
    is_open = "(status IS NULL OR NOT list_contains(?::VARCHAR[], status))"
    opened = con.execute(
        f"""
        SELECT created_date, id, created_at, before_id, before_at, rows_from FROM (
            SELECT created_date, id, created_at, status,
                   lag(id) OVER (PARTITION BY created_date ORDER BY created_at, id) AS before_id,
                   lag(created_at) OVER (PARTITION BY created_date ORDER BY created_at, id) AS before_at,
                   row_number() OVER (
                       PARTITION BY created_date ORDER BY created_at DESC, id DESC
                   ) AS rows_from
            FROM retab.{spec.table}
            WHERE created_date IN (SELECT DISTINCT created_date FROM retab.{spec.table} WHERE {is_open})
        )
        WHERE {is_open}
        ORDER BY created_date, created_at, id
        """,
        [terminal, terminal],
    ).fetchall()
    logged = con.execute(
        """
        SELECT day,
               arg_max(outcome, started_at), arg_max(coalesce(complete, false), started_at),
               arg_max(coalesce(source_time, started_at), started_at) FILTER (WHERE outcome = 'ok'),
               arg_max(tail_cursor, started_at) FILTER (WHERE outcome = 'ok' AND tail_cursor IS NOT NULL)
        FROM retab.sync_log WHERE endpoint = ? GROUP BY day
        """,
        [endpoint],
    ).fetchall()
    states: dict[date, dict[str, object]] = {}
    for day, rows in held:
        states.setdefault(day, {})["rows"] = int(rows)
    runs: dict[date, list[OpenRun]] = {}
    for day, run_id, created_at, before_id, before_at, rows_from in opened:
        runs.setdefault(day, []).append(OpenRun(run_id, created_at, before_id, before_at, int(rows_from)))
    for day, open_runs in runs.items():
        states.setdefault(day, {})["open_runs"] = tuple(open_runs)
    for day, outcome, complete, committed_at, tail in logged:
        states.setdefault(day, {}).update(
            last_outcome=outcome, last_complete=bool(complete), committed_at=committed_at, tail_cursor=tail
        )
    return {day: DayState(day=day, **values) for day, values in states.items()}  # type: ignore[arg-type]


def last_reconciled(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the latest reconciliation began (None: never), or, before one, the first commit."""
    row = con.execute(
        """
        SELECT coalesce(max(started_at) FILTER (WHERE mode = 'reconcile'), min(started_at))
        FROM retab.sync_log WHERE outcome = 'ok'
        """
    ).fetchone()
    return row[0] if row else None
