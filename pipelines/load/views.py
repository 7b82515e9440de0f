"""The analytics views (schema `analytics`) and the figures the Dagster assets report about them.

```
 retab.workflow_runs ──► analytics.workflow_run_facts ──► workflow_daily_health
                                                      ├─► workflow_version_daily_health
                                                      ├─► workflow_errors
                                                      ├─► run_durations
                                                      ├─► slowest_runs
                                                      └─► trigger_mix
 retab.workflow_run_documents ─► document_mime_mix
 retab.experiment_runs ───────► experiment_scores
```
Each view is one file, `pipelines/load/sql/views/<name>.sql` (package data), holding one
`CREATE OR REPLACE VIEW`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import duckdb

from pipelines.load.lake import retry_conflicts

VIEWS_DIR: Traversable = resources.files("pipelines.load") / "sql" / "views"
SCHEMA = "analytics"


@dataclass(frozen=True)
class View:
    """One analytics view: its name, how its preview is ordered, and its headline figures."""

    name: str
    preview_order: str  # an ORDER BY clause for the markdown preview
    figures: str  # a SELECT of one row of numbers; `{rows}` stands for the view's rows
    row_level: bool = False  # one row per run: summarised in place, never copied

    @property
    def qualified_name(self) -> str:
        """The name to query it by, e.g. `analytics.trigger_mix`."""
        return f"{SCHEMA}.{self.name}"

    @property
    def path(self) -> Traversable:
        """The SQL file defining it."""
        return VIEWS_DIR / f"{self.name}.sql"


_FAILURE_RATE = (
    "SELECT sum(error) AS runs_error, sum(finished) AS runs_finished, "
    "sum(error) / nullif(sum(finished), 0) AS failure_rate FROM {rows}"
)
_P95 = (
    "SELECT quantile_cont(duration_ms, 0.5) AS p50_duration_ms, "
    "quantile_cont(duration_ms, 0.95) AS p95_duration_ms "
    "FROM analytics.workflow_run_facts WHERE outcome = 'completed'"
)

# In dependency order: workflow_run_facts first, the others read it.
VIEWS: tuple[View, ...] = (
    View(
        "workflow_run_facts",
        "created_at DESC, run_id",
        "SELECT count(*) FILTER (WHERE outcome = 'error') / "
        "nullif(count(*) FILTER (WHERE outcome IN ('completed', 'error', 'cancelled')), 0) AS failure_rate "
        "FROM {rows}",
        row_level=True,
    ),
    View("workflow_daily_health", "day DESC, runs DESC, workflow_id", _FAILURE_RATE),
    View(
        "workflow_version_daily_health",
        "day DESC, runs DESC, workflow_id, workflow_version_id",
        _FAILURE_RATE,
    ),
    View(
        "workflow_errors",
        "day DESC, errors DESC, workflow_id, error_pattern",
        "SELECT sum(errors) AS errors, count(DISTINCT error_pattern) AS error_patterns FROM {rows}",
    ),
    View("run_durations", "day DESC, completed_runs DESC, workflow_id", _P95),
    View(
        "slowest_runs",
        "duration_ms DESC, run_id",
        "SELECT max(duration_ms) AS max_duration_ms, (SELECT quantile_cont(duration_ms, 0.95) "
        "FROM analytics.workflow_run_facts WHERE outcome = 'completed') AS p95_duration_ms FROM {rows}",
    ),
    View(
        "experiment_scores",
        "created_at DESC, experiment_id, block_id",
        "SELECT count(score) AS scored_runs, avg(score) AS mean_score, "
        "avg(score) FILTER (WHERE is_latest) AS mean_latest_score FROM {rows}",
    ),
    View(
        "trigger_mix",
        "day DESC, runs DESC, workflow_id, trigger_type",
        "SELECT sum(runs) AS runs, count(DISTINCT trigger_type) AS trigger_types FROM {rows}",
    ),
    View(
        "document_mime_mix",
        "day DESC, documents DESC, mime_type",
        "SELECT sum(documents) AS documents, count(DISTINCT mime_type) AS mime_types FROM {rows}",
    ),
)
VIEWS_BY_NAME: dict[str, View] = {v.name: v for v in VIEWS}


def create_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create or replace every analytics view in one transaction (run again on a lake's transaction
    conflict); return their qualified names."""

    def replace() -> None:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            for view in VIEWS:
                con.execute(view.path.read_text(encoding="utf-8"))
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # a failed COMMIT has already rolled back
                con.execute("ROLLBACK")
            raise

    retry_conflicts(replace, what="creating the analytics views")
    return [view.qualified_name for view in VIEWS]


def missing_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The analytics views this warehouse file lacks (all of them before `create_views` has run)."""
    present = {
        name
        for (name,) in con.execute(
            "SELECT view_name FROM duckdb_views() "
            "WHERE database_name = current_database() AND schema_name = ? AND NOT temporary",
            [SCHEMA],
        ).fetchall()
    }
    return [view.qualified_name for view in VIEWS if view.name not in present]


def view_summary(con: duckdb.DuckDBPyConnection, view: str, *, preview_rows: int = 10) -> dict[str, Any]:
    """Numeric figures about one view (None when it has no data) and `preview`, a markdown table.

    For example `view_summary(con, "workflow_daily_health")` returns
    `{"row_count": 42, "runs_error": 3, "runs_finished": 40, "failure_rate": 0.075, "preview": "| day |..."}`.
    Every summary has `row_count`; the health views add `failure_rate`, the duration views
    `p95_duration_ms`, `experiment_scores` adds `mean_score`. Uses a temporary table on `con`.
    """
    spec = VIEWS_BY_NAME[view.removeprefix(f"{SCHEMA}.")]
    rows = spec.qualified_name
    if not spec.row_level:  # compute the view once, not once per figure
        rows = "_analytics_summary_rows"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {rows} AS SELECT * FROM {spec.qualified_name}")
    try:
        summary: dict[str, Any] = {"row_count": _number(_fetch_one(con, f"SELECT count(*) FROM {rows}")[0])}
        cursor = con.execute(spec.figures.format(rows=rows))
        names = [d[0] for d in cursor.description or ()]
        values = cursor.fetchone() or (None,) * len(names)
        summary.update({name: _number(value) for name, value in zip(names, values, strict=True)})
        cursor = con.execute(f"SELECT * FROM {rows} ORDER BY {spec.preview_order} LIMIT {int(preview_rows)}")
        summary["preview"] = markdown_table([d[0] for d in cursor.description or ()], cursor.fetchall())
    finally:
        if not spec.row_level:
            con.execute(f"DROP TABLE IF EXISTS {rows}")
    return summary


def headline_figures(con: duckdb.DuckDBPyConnection) -> dict[str, float | int | None]:
    """Overall failure rate, p95 duration of completed runs (ms) and mean experiment score."""
    row = con.execute(
        """
        SELECT
            (SELECT count(*) FROM analytics.workflow_run_facts) AS runs,
            (SELECT count(*) FILTER (WHERE outcome = 'error')
                    / nullif(count(*) FILTER (WHERE outcome IN ('completed', 'error', 'cancelled')), 0)
             FROM analytics.workflow_run_facts) AS failure_rate,
            (SELECT quantile_cont(duration_ms, 0.95) FROM analytics.workflow_run_facts
             WHERE outcome = 'completed') AS p95_duration_ms,
            (SELECT avg(score) FROM analytics.experiment_scores) AS mean_score
        """
    ).fetchone()
    if row is None:
        raise RuntimeError("headline figures query returned no row")
    return {
        "runs": _number(row[0]),
        "failure_rate": _number(row[1]),
        "p95_duration_ms": _number(row[2]),
        "mean_score": _number(row[3]),
    }


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table; `|` in values is escaped, None shows as empty."""
    if not columns:
        return ""
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(format_value(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join(lines)


def format_value(value: Any) -> str:
    """A short human form of a query value: 4 significant digits for floats, ISO dates, '' for NULL."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).replace("\n", " ")


def _fetch_one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    row = con.execute(sql).fetchone()
    if row is None:
        raise RuntimeError(f"no row from {sql!r}")
    return tuple(row)


def _number(value: Any) -> float | int | None:
    """A figure as int or float, None for NULL or NaN."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        number = float(value)
        return None if math.isnan(number) else number
    raise TypeError(f"not a number: {value!r}")
