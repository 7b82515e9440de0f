"""Helpers of the reliability suite: compare a warehouse with the simulator's truth, run the CLI.

`compare()` reads (id, status) per (endpoint, day) through a read-only connection and reports
missing, duplicated, extra and stale rows against `truth_ids`. `run_cli()` runs the real
`python -m pipelines.cli` in a child process with an explicit environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import duckdb
from warehouses import rows as lake_rows

from pipelines.config import DuckLake, Warehouse
from pipelines.load.connections import sql_literal

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
TABLES = {"runs": "workflow_runs", "experiment-runs": "experiment_runs"}
DATA_TABLES = ("workflow_runs", "workflow_run_documents", "experiment_runs", "rejected_records")
ENDPOINT_NAMES = tuple(TABLES)


class Truth(Protocol):
    """What compare() needs of a simulator (in this process or another)."""

    def truth_ids(self, endpoint: str, day: date | str, at: datetime | None = None) -> dict[str, str]: ...


@dataclass
class Diff:
    """How a warehouse differs from the truth; every list holds (endpoint, day, id)."""

    missing: list[tuple[str, date, str]] = field(default_factory=list)
    duplicated: list[tuple[str, date, str]] = field(default_factory=list)
    extra: list[tuple[str, date, str]] = field(default_factory=list)
    stale: list[tuple[str, date, str, str, str]] = field(default_factory=list)  # ..., stored, truth
    checked: int = 0  # truth rows compared

    @property
    def lost(self) -> int:
        """Rows that are wrong in any way."""
        return len(self.missing) + len(self.duplicated) + len(self.extra) + len(self.stale)

    def __str__(self) -> str:
        return (
            f"{self.checked} rows checked: {len(self.missing)} missing {self.missing[:3]}, "
            f"{len(self.duplicated)} duplicated {self.duplicated[:3]}, "
            f"{len(self.extra)} extra {self.extra[:3]}, "
            f"{len(self.stale)} stale {self.stale[:3]}"
        )


def connect_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    """A plain read-only connection with the file attached as `w` (no migration, no retries)."""
    con = duckdb.connect(":memory:")
    con.execute(f"ATTACH {sql_literal(path)} AS w (READ_ONLY, TYPE DUCKDB)")
    con.execute("USE w")
    return con


def stored_rows(path: Warehouse, endpoint: str, days: Iterable[date]) -> dict[date, list[tuple[str, str]]]:
    """(id, status) of each day's rows in the warehouse (a file or a lake), duplicates kept."""
    if isinstance(path, DuckLake):
        sql = f"SELECT id, status FROM retab.{TABLES[endpoint]} WHERE created_date = ?"
        return {day: [(str(i), str(s)) for i, s in lake_rows(path, sql, [day])] for day in days}
    con = connect_read_only(path)
    try:
        out: dict[date, list[tuple[str, str]]] = {}
        for day in days:
            rows = con.execute(
                f"SELECT id, status FROM retab.{TABLES[endpoint]} WHERE created_date = ?", [day]
            ).fetchall()
            out[day] = [(str(i), str(s)) for i, s in rows]
        return out
    finally:
        con.close()


def compare(
    path: Warehouse,
    sim: Truth,
    days: Sequence[date],
    *,
    endpoints: Sequence[str] = ENDPOINT_NAMES,
    moments: Sequence[datetime] = (),
) -> Diff:
    """The warehouse's days against the simulator's truth now.

    With `moments` (the simulated times the clock passed through during the sync), a stored status
    is stale only if the run had it at none of them: a run served before the clock moved on keeps
    the status it was served with until the next sync.
    """
    diff = Diff()
    for endpoint in endpoints:
        stored = stored_rows(path, endpoint, days)
        for day in days:
            truth = sim.truth_ids(endpoint, day)
            earlier = [sim.truth_ids(endpoint, day, at) for at in moments]
            counts = Counter(run_id for run_id, _ in stored[day])
            statuses = dict(stored[day])
            diff.checked += len(truth)
            for run_id, status in truth.items():
                if run_id not in counts:
                    diff.missing.append((endpoint, day, run_id))
                    continue
                if counts[run_id] > 1:
                    diff.duplicated.append((endpoint, day, run_id))
                allowed = {status, *(snapshot.get(run_id) for snapshot in earlier)}
                if statuses[run_id] not in allowed:
                    diff.stale.append((endpoint, day, run_id, statuses[run_id], status))
            diff.extra.extend((endpoint, day, run_id) for run_id in counts if run_id not in truth)
    return diff


def moments_between(start: datetime, steps: int, step_seconds: float) -> list[datetime]:
    """The clock values a simulator passes through when `steps` head inserts move it on from `start`."""
    return [start + timedelta(seconds=step_seconds * k) for k in range(steps + 1)]


def data_snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the data tables (not sync_log), sorted: equal snapshots mean unchanged content."""
    con = connect_read_only(path)
    try:
        return {
            table: sorted(con.execute(f"SELECT * FROM retab.{table}").fetchall(), key=repr)
            for table in DATA_TABLES
        }
    finally:
        con.close()


def changed_rows(before: Mapping[str, list[Any]], after: Mapping[str, list[Any]]) -> int:
    """Rows added, removed or altered between two data snapshots."""
    changed = 0
    for table in DATA_TABLES:
        old, new = Counter(map(repr, before.get(table, []))), Counter(map(repr, after.get(table, [])))
        changed += sum((old - new).values()) + sum((new - old).values())
    return changed


def sync_log(path: Path) -> list[dict[str, Any]]:
    """Every sync_log row as a dict, oldest first."""
    con = connect_read_only(path)
    try:
        cursor = con.execute("SELECT * FROM retab.sync_log ORDER BY started_at")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def cli_env(
    tmp_path: Path, *, key: str, base_url: str, db: Path, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A child's environment: the project's variables, temp files under tmp_path, no proxy."""
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME")}
    return {
        **keep,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)]),
        "RETAB_API_KEY": key,
        "RETAB_API_BASE_URL": base_url,
        "RETAB_DUCKDB_PATH": str(db),
        "TMPDIR": str(scratch),
        "COLUMNS": "200",
        **(extra or {}),
    }


def run_cli(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    timeout: float = 120,
    module: str = "pipelines.cli",
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m pipelines.cli ARGS` (or another module) to the end; output captured."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=dict(env),
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec_fn,
        check=False,
    )


def sync_args(first: date, last: date, *extra: str) -> list[str]:
    """`sync --start first --end last --quiet ...`."""
    return ["sync", "--start", first.isoformat(), "--end", last.isoformat(), "--quiet", *extra]


def days_from(first: date, count: int) -> list[date]:
    """`count` consecutive days from `first`."""
    return [first + timedelta(days=n) for n in range(count)]
