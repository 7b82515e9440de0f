"""The report: failure rates, durations, errors and experiment scores of the last days.

```
 analytics views ──load_report()──► Report ──sections()──► Section tables ──► print_report (rich)
   (read-only, one query each)        │                                 └──► render_html
                                      └─► describe_charts() ► draw() ───┘
```
chart_data.py decides what each chart shows (a Chart); plotting.py draws it as PNG.
The window is the last N UTC days up to today, optionally one workflow. Each query opens the
warehouse read-only and closes it at once, so the report never holds the file for a sync.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pipelines.config import DuckLake, Warehouse
from pipelines.errors import QueryFailed, ReportUnavailable
from pipelines.load.reads import fetch
from pipelines.report.chart_data import DURATION_BIN

TOP_ROWS = 10  # errors and slowest runs shown
TABLE_ROWS = 20  # workflows and experiment blocks shown; the rest are counted in a note

Row = dict[str, Any]


@dataclass(frozen=True)
class Window:
    """The days reported on, both inclusive, and an optional workflow."""

    first: date
    last: date
    workflow: str | None = None

    @property
    def days(self) -> int:
        """How many days the window spans."""
        return (self.last - self.first).days + 1

    @property
    def params(self) -> list[Any]:
        """Query parameters $1, $2, $3: first day, last day, workflow id or NULL."""
        return [self.first, self.last, self.workflow]


@dataclass
class Report:
    """Everything the report shows, fetched from the warehouse."""

    db_path: Warehouse  # a file or a DuckLake (shown redacted)
    window: Window
    generated_at: datetime
    stored_runs: int = 0
    stored_experiment_runs: int = 0
    stored_first_day: date | None = None
    stored_last_day: date | None = None
    last_sync_at: datetime | None = None
    totals: Row = field(default_factory=dict)
    health: list[Row] = field(default_factory=list)
    daily: list[Row] = field(default_factory=list)
    errors: list[Row] = field(default_factory=list)
    slowest: list[Row] = field(default_factory=list)
    durations: list[Row] = field(default_factory=list)
    experiments: list[Row] = field(default_factory=list)
    scores: list[Row] = field(default_factory=list)
    triggers: list[Row] = field(default_factory=list)
    mimes: list[Row] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        """True when the window holds any workflow run or experiment run."""
        return bool(self.health or self.experiments)

    @property
    def message(self) -> str | None:
        """Why the report is empty, and what to do; None when it has data."""
        if self.has_data:
            return None
        if not self.stored_runs and not self.stored_experiment_runs:
            return (
                f"The warehouse {self.db_path} holds no runs yet. Sync some days first, e.g. "
                "`retab-warehouse sync --start 2026-05-01 --end 2026-05-14`, or try `make demo`."
            )
        scope = f" of workflow {self.window.workflow}" if self.window.workflow else ""
        return (
            f"No runs{scope} between {self.window.first} and {self.window.last}. The warehouse holds "
            f"{self.stored_runs:,} workflow runs created {self.stored_first_day} .. {self.stored_last_day}"
            f" and {self.stored_experiment_runs:,} experiment runs: try a larger --days"
            + (" or another --workflow." if self.window.workflow else ".")
        )


@dataclass(frozen=True)
class Section:
    """One table of the report, already formatted: shared by the terminal and the HTML."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    numeric: frozenset[int] = frozenset()  # indexes of right-aligned columns
    empty: str = "nothing in this window"
    wrap: int | None = None  # the column that gives way first on a narrow terminal
    note: str | None = None  # shown under the table, e.g. how many rows were left out


def load_report(db_path: Warehouse, window: Window, *, now: datetime | None = None) -> Report:
    """Fetch every part of the report, one short read-only query each."""
    report = Report(
        db_path=db_path if isinstance(db_path, DuckLake) else Path(db_path),
        window=window,
        generated_at=now or datetime.now(UTC),
    )

    def rows(sql: str, params: Sequence[Any] | None = None) -> list[Row]:
        try:
            result = fetch(db_path, sql, window.params if params is None else params)
        except QueryFailed as exc:
            if str(exc).startswith("Binder Error"):  # a column the stored views do not have yet
                raise QueryFailed(
                    f"{exc}\nhint: the analytics views in {db_path} may be older than this code; "
                    "the next sync recreates them"
                ) from exc
            raise
        return [dict(zip(result.columns, row, strict=True)) for row in result.rows]

    from pipelines.load.views import VIEWS

    inventory = rows(_INVENTORY_SQL, [[view.name for view in VIEWS]])[0]
    if not inventory["has_runs_table"]:
        return report  # a file no sync has written to yet
    if inventory["missing_views"]:
        raise ReportUnavailable(
            f"the analytics views are missing from {db_path} ({inventory['missing_views']}): "
            "they are created by `pipelines.load.views.create_views`, which the sync and the Dagster "
            "assets run; run a sync, then the report again"
        )
    stored = rows(_STORED_SQL, [])[0]
    report.stored_runs = stored["runs"]
    report.stored_experiment_runs = stored["experiment_runs"]
    report.stored_first_day = stored["first_day"]
    report.stored_last_day = stored["last_day"]
    if inventory["has_sync_log"]:
        report.last_sync_at = rows(_LAST_SYNC_SQL, [])[0]["last_sync_at"]
    health = rows(_HEALTH_SQL)
    report.totals = next((r for r in health if r["is_total"]), {})
    report.health = [r for r in health if not r["is_total"]]
    report.daily = rows(_DAILY_SQL)
    report.errors = rows(_ERRORS_SQL)
    report.slowest = rows(_SLOWEST_SQL)
    report.durations = rows(_DURATIONS_SQL)
    report.experiments = rows(_EXPERIMENTS_SQL)
    report.scores = rows(_SCORES_SQL)
    report.triggers = rows(_TRIGGERS_SQL)
    report.mimes = rows(_MIMES_SQL if window.workflow is None else _MIMES_OF_WORKFLOW_SQL)
    return report


# Every window query takes $1 = first day, $2 = last day, $3 = workflow id or NULL.
_IN_WINDOW = "day BETWEEN $1 AND $2 AND ($3::VARCHAR IS NULL OR workflow_id = $3)"

_INVENTORY_SQL = """
SELECT
    EXISTS (SELECT 1 FROM duckdb_tables() WHERE database_name = current_database()
            AND schema_name = 'retab' AND table_name = 'workflow_runs') AS has_runs_table,
    EXISTS (SELECT 1 FROM duckdb_tables() WHERE database_name = current_database()
            AND schema_name = 'retab' AND table_name = 'sync_log') AS has_sync_log,
    (SELECT string_agg(name, ', ' ORDER BY name) FROM unnest($1::VARCHAR[]) AS t(name)
     WHERE name NOT IN (SELECT view_name FROM duckdb_views()
                        WHERE database_name = current_database() AND schema_name = 'analytics'))
        AS missing_views
"""
_STORED_SQL = """
SELECT count(*) AS runs, min(created_date) AS first_day, max(created_date) AS last_day,
       (SELECT count(*) FROM retab.experiment_runs) AS experiment_runs
FROM retab.workflow_runs
"""
_LAST_SYNC_SQL = "SELECT max(finished_at) AS last_sync_at FROM retab.sync_log WHERE outcome = 'ok'"
_HEALTH_SQL = f"""
SELECT
    grouping(workflow_id) = 1 AS is_total,
    workflow_id,
    count(*) AS runs,
    count(*) FILTER (WHERE outcome = 'completed') AS completed,
    count(*) FILTER (WHERE outcome = 'error') AS error,
    count(*) FILTER (WHERE outcome = 'cancelled') AS cancelled,
    count(*) FILTER (WHERE outcome = 'awaiting_review') AS awaiting_review,
    count(*) FILTER (WHERE outcome = 'in_flight') AS in_flight,
    count(*) FILTER (WHERE outcome = 'error')
        / nullif(count(*) FILTER (WHERE outcome IN ('completed', 'error', 'cancelled')), 0) AS failure_rate,
    quantile_cont(duration_ms, [0.5, 0.9, 0.95, 0.99]) FILTER (WHERE outcome = 'completed') AS q
FROM analytics.workflow_run_facts
WHERE {_IN_WINDOW}
GROUP BY ROLLUP (workflow_id)
HAVING count(*) > 0
"""
_HEALTH_SQL = f"""
SELECT * EXCLUDE (q), q[1] AS p50_duration_ms, q[2] AS p90_duration_ms, q[3] AS p95_duration_ms,
       q[4] AS p99_duration_ms
FROM ({_HEALTH_SQL})
ORDER BY is_total DESC, runs DESC, workflow_id
"""
_DAILY_SQL = f"""
SELECT day, workflow_id, runs, completed, error, cancelled, awaiting_review, in_flight, failure_rate
FROM analytics.workflow_daily_health
WHERE {_IN_WINDOW}
ORDER BY day, workflow_id
"""
_ERRORS_SQL = f"""
SELECT
    error_stage, error_category, failing_step_id, error_pattern,
    sum(errors) AS errors,
    sum(errors) / sum(sum(errors)) OVER () AS share,
    count(DISTINCT workflow_id) AS workflows,
    max(last_seen_at) AS last_seen_at,
    arg_max(example_message, last_seen_at) AS example_message
FROM analytics.workflow_errors
WHERE {_IN_WINDOW}
GROUP BY ALL
ORDER BY errors DESC, error_pattern NULLS LAST, error_stage, failing_step_id
LIMIT {TOP_ROWS}
"""
_SLOWEST_SQL = f"""
SELECT run_id, workflow_id, workflow_version_id, trigger_type, status, duration_ms, created_at
FROM analytics.slowest_runs
WHERE {_IN_WINDOW}
ORDER BY duration_ms DESC, run_id
LIMIT {TOP_ROWS}
"""
_DURATIONS_SQL = f"""
SELECT workflow_id,
       floor(log10(greatest(duration_ms, 1) / 1000.0) / {DURATION_BIN})::INTEGER AS bin,
       count(*) AS runs
FROM analytics.workflow_run_facts
WHERE outcome = 'completed' AND duration_ms IS NOT NULL AND {_IN_WINDOW}
GROUP BY ALL
ORDER BY workflow_id, bin
"""
_EXPERIMENTS_SQL = f"""
SELECT
    experiment_id,
    block_id,
    any_value(block_type) AS block_type,
    count(*) AS runs,
    count(score) AS scored_runs,
    arg_max(score, created_at) FILTER (WHERE score IS NOT NULL) AS latest_score,
    arg_max(score_change, created_at) FILTER (WHERE score IS NOT NULL) AS latest_change,
    max(best_score) AS best_score,
    arg_max(n_consensus, created_at) AS n_consensus,
    arg_max(documents, created_at) AS documents,
    max(created_at) AS last_run_at
FROM analytics.experiment_scores
WHERE {_IN_WINDOW}
GROUP BY experiment_id, block_id
ORDER BY last_run_at DESC, experiment_id, block_id
"""
_SCORES_SQL = f"""
SELECT experiment_id, block_id, created_at, score
FROM analytics.experiment_scores
WHERE score IS NOT NULL AND {_IN_WINDOW}
ORDER BY created_at, run_id
"""
_TRIGGERS_SQL = f"""
SELECT trigger_type, sum(runs) AS runs, sum(runs) / sum(sum(runs)) OVER () AS share,
       sum(error) / sum(runs) AS error_share
FROM analytics.trigger_mix
WHERE {_IN_WINDOW}
GROUP BY trigger_type
ORDER BY runs DESC, trigger_type
"""
_MIMES_SQL = """
SELECT mime_type, sum(documents) AS documents, sum(documents) / sum(sum(documents)) OVER () AS share
FROM analytics.document_mime_mix
WHERE day BETWEEN $1 AND $2 AND $3::VARCHAR IS NULL
GROUP BY mime_type
ORDER BY documents DESC, mime_type
"""
_MIMES_OF_WORKFLOW_SQL = """
SELECT coalesce(lower(trim(d.mime_type)), 'unknown') AS mime_type, count(*) AS documents,
       count(*) / sum(count(*)) OVER () AS share
FROM retab.workflow_run_documents AS d
JOIN retab.workflow_runs AS r ON r.id = d.run_id
WHERE r.created_date BETWEEN $1 AND $2 AND r.workflow_id = $3
GROUP BY 1
ORDER BY documents DESC, mime_type
"""


def sections(report: Report) -> list[Section]:
    """The report's tables, formatted for people."""
    w = report.window
    scope = f"workflow {w.workflow}" if w.workflow else "all workflows"
    return [
        Section(
            f"Workflow health, {w.first} .. {w.last} ({scope})",
            [
                "workflow",
                "runs",
                "completed",
                "error",
                "cancelled",
                "review",
                "in flight",
                "fail rate",
                "p50",
                "p90",
                "p99",
            ],
            [
                [
                    "all" if row is report.totals else str(row["workflow_id"]),
                    fmt_int(row["runs"]),
                    fmt_int(row["completed"]),
                    fmt_int(row["error"]),
                    fmt_int(row["cancelled"]),
                    fmt_int(row["awaiting_review"]),
                    fmt_int(row["in_flight"]),
                    fmt_pct(row["failure_rate"]),
                    fmt_ms(row["p50_duration_ms"]),
                    fmt_ms(row["p90_duration_ms"]),
                    fmt_ms(row["p99_duration_ms"]),
                ]
                for row in [*report.health[:TABLE_ROWS], *([report.totals] if len(report.health) > 1 else [])]
            ],
            frozenset(range(1, 11)),
            "no workflow runs in this window",
            wrap=0,
            note=_more(len(report.health), "workflows", "--workflow ID reports on one"),
        ),
        Section(
            "Top errors (error and failed runs; ids, numbers and quoted values shown as <*>)",
            [
                "errors",
                "share",
                "stage",
                "category",
                "failing step",
                "message pattern",
                "workflows",
                "last seen",
            ],
            [
                [
                    fmt_int(r["errors"]),
                    fmt_pct(r["share"]),
                    fmt_text(r["error_stage"]),
                    fmt_text(r["error_category"]),
                    fmt_text(r["failing_step_id"]),
                    fmt_text(r["error_pattern"]),
                    fmt_int(r["workflows"]),
                    fmt_time(r["last_seen_at"]),
                ]
                for r in report.errors
            ],
            frozenset({0, 1, 6}),
            "no errors in this window",
            wrap=5,
        ),
        Section(
            "Slowest runs",
            ["run", "workflow", "version", "trigger", "status", "duration", "created"],
            [
                [
                    str(r["run_id"]),
                    fmt_text(r["workflow_id"]),
                    fmt_text(r["workflow_version_id"]),
                    fmt_text(r["trigger_type"]),
                    fmt_text(r["status"]),
                    fmt_ms(r["duration_ms"]),
                    fmt_time(r["created_at"]),
                ]
                for r in report.slowest
            ],
            frozenset({5}),
            "no finished runs in this window",
            wrap=0,
        ),
        Section(
            "Experiment scores (latest scored run of each experiment and block)",
            ["experiment", "block", "runs", "latest", "change", "best ever", "consensus", "docs", "last run"],
            [
                [
                    fmt_text(r["experiment_id"]),
                    fmt_text(r["block_id"]),
                    fmt_int(r["runs"]),
                    fmt_score(r["latest_score"]),
                    fmt_change(r["latest_change"]),
                    fmt_score(r["best_score"]),
                    fmt_int(r["n_consensus"]),
                    fmt_int(r["documents"]),
                    fmt_time(r["last_run_at"]),
                ]
                for r in report.experiments[:TABLE_ROWS]
            ],
            frozenset(range(2, 8)),
            "no experiment runs in this window",
            wrap=1,
            note=_more(len(report.experiments), "experiment blocks", "see analytics.experiment_scores"),
        ),
        Section(
            "Trigger mix",
            ["trigger", "runs", "share", "of which errors"],
            [
                [
                    fmt_text(r["trigger_type"]),
                    fmt_int(r["runs"]),
                    fmt_pct(r["share"]),
                    fmt_pct(r["error_share"]),
                ]
                for r in report.triggers
            ],
            frozenset({1, 2, 3}),
        ),
        Section(
            "Input documents by MIME type" + ("" if w.workflow else " (all workflows)"),
            ["mime type", "documents", "share"],
            [[fmt_text(r["mime_type"]), fmt_int(r["documents"]), fmt_pct(r["share"])] for r in report.mimes],
            frozenset({1, 2}),
            "no input documents in this window",
            wrap=0,
        ),
    ]


def _more(shown_of: int, what: str, hint: str) -> str | None:
    """'12 more workflows not shown; <hint>' when a table was cut at TABLE_ROWS."""
    left = shown_of - TABLE_ROWS
    return f"{left:,} more {what} not shown ({hint})" if left > 0 else None


def print_report(report: Report, console: Any) -> None:
    """The report as rich tables on a console."""
    from rich import box
    from rich.panel import Panel
    from rich.table import Table

    headline = "\n".join(_escape(line) for line in _headline(report))
    console.print(Panel.fit(headline, title="Retab warehouse report", border_style="cyan"))
    if report.message:
        console.print(report.message, style="yellow")
        return
    for section in sections(report):
        table = Table(
            title=section.title,
            title_justify="left",
            title_style="bold",
            header_style="bold",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            padding=(0, 1),
            collapse_padding=True,
        )
        for i, column in enumerate(section.columns):
            widest = max([len(row[i]) for row in section.rows], default=0)
            table.add_column(
                column,
                justify="right" if i in section.numeric else "left",
                min_width=min(widest, 16) if i == section.wrap else widest,
                overflow="fold",
            )
        for row in section.rows:
            table.add_row(*(_escape(cell) for cell in row))
        if section.rows:
            console.print(table)
            if section.note:
                console.print(f" {_escape(section.note)}", style="dim")
        else:
            console.print(f"[bold]{_escape(section.title)}[/bold]: {section.empty}")


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page: inline CSS, charts as base64 PNG, no network."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Retab warehouse report {report.window.first} .. {report.window.last}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        "<h1>Retab warehouse report</h1>",
        f'<p class="meta">{"<br>".join(html.escape(line) for line in _headline(report))}</p>',
    ]
    if report.message:
        parts.append(f'<p class="empty">{html.escape(report.message)}</p>')
    else:
        parts.append(_kpis_html(report))
        parts.append('<section class="charts">')
        for title, png in charts(report):
            parts.append(
                f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,'
                f'{base64.b64encode(png).decode("ascii")}"><figcaption>{html.escape(title)}</figcaption></figure>'
            )
        parts.append("</section>")
        parts.extend(_section_html(section) for section in sections(report))
    parts.append(
        f"<footer>Generated {fmt_time(report.generated_at)} UTC from {html.escape(str(report.db_path))} "
        "by <code>retab-warehouse report</code>. Query the same views with "
        "<code>retab-warehouse sql</code>.</footer></main></body></html>"
    )
    return "\n".join(parts)


def charts(report: Report) -> list[tuple[str, bytes]]:
    """(caption, PNG) of every chart the data allows."""
    from pipelines.report.chart_data import describe_charts
    from pipelines.report.plotting import draw

    return [(chart.caption, draw(chart)) for chart in describe_charts(report)]


def fmt_int(value: Any) -> str:
    """1234 -> '1,234'; NULL -> '—'."""
    return "—" if value is None else f"{int(value):,}"


def fmt_pct(value: Any) -> str:
    """0.1234 -> '12.3%'."""
    return "—" if value is None else f"{100 * float(value):.1f}%"


def fmt_score(value: Any) -> str:
    """0.8712 -> '0.871'."""
    return "—" if value is None else f"{float(value):.3f}"


def fmt_change(value: Any) -> str:
    """+0.050 or -0.020; '—' when there is no previous run."""
    return "—" if value is None else f"{float(value):+.3f}"


def fmt_ms(value: Any) -> str:
    """A duration in milliseconds for people: 850 ms, 12.3 s, 4m 05s, 2h 03m."""
    if value is None:
        return "—"
    ms = float(value)
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    seconds = round(ms / 1000)
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def fmt_time(value: Any) -> str:
    """A UTC timestamp to the minute."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return str(value)


def fmt_text(value: Any) -> str:
    """A text value; NULL -> '—'."""
    return "—" if value is None else str(value)


def _headline(report: Report) -> list[str]:
    """Where the data comes from and what the window is, as short lines."""
    w = report.window
    scope = f"workflow {w.workflow}" if w.workflow else "all workflows"
    synced = fmt_time(report.last_sync_at) + " UTC" if report.last_sync_at else "never"
    return [
        f"{w.first} .. {w.last} ({w.days} day{'s' if w.days != 1 else ''}, UTC), {scope}",
        f"warehouse {report.db_path}: {report.stored_runs:,} workflow runs, "
        f"{report.stored_experiment_runs:,} experiment runs",
        f"last successful sync {synced}",
    ]


def _kpis_html(report: Report) -> str:
    """The headline figures as cards."""
    t = report.totals
    scored = [r["latest_score"] for r in report.experiments if r["latest_score"] is not None]
    cards: list[tuple[str, str]] = [
        ("runs", fmt_int(t.get("runs"))),
        ("failure rate", fmt_pct(t.get("failure_rate"))),
        ("p50 duration", fmt_ms(t.get("p50_duration_ms"))),
        ("p95 duration", fmt_ms(t.get("p95_duration_ms"))),
        (
            "in flight / awaiting review",
            f"{fmt_int(t.get('in_flight'))} / {fmt_int(t.get('awaiting_review'))}",
        ),
        ("mean latest score", fmt_score(sum(scored) / len(scored)) if scored else "—"),
    ]
    items = "".join(
        f'<div class="kpi"><div class="v">{html.escape(v)}</div><div class="k">{html.escape(k)}</div></div>'
        for k, v in cards
    )
    return f'<section class="kpis">{items}</section>'


def _section_html(section: Section) -> str:
    """One section as an HTML table."""
    title = f"<h2>{html.escape(section.title)}</h2>"
    if not section.rows:
        return f'{title}<p class="none">{html.escape(section.empty)}</p>'

    def cells(row: Sequence[str], tag: str) -> str:
        return "".join(
            f"<{tag}{' class=num' if i in section.numeric else ''}>{html.escape(c)}</{tag}>"
            for i, c in enumerate(row)
        )

    body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in section.rows)
    note = f'<p class="none">{html.escape(section.note)}</p>' if section.note else ""
    head = f"<thead><tr>{cells(section.columns, 'th')}</tr></thead>"
    return f"{title}<table>{head}<tbody>{body}</tbody></table>{note}"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


_CSS = """
body{margin:0;background:#f6f7f9;color:#1f2328;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif}
main{max-width:1140px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.meta,footer{color:#57606a;font-size:12px}footer{margin-top:32px}
.empty{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:12px}
.kpis{display:grid;grid-template-columns:repeat(6,1fr);gap:10px;margin:16px 0}
.kpi{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px}
.kpi .v{font-size:20px;font-weight:600}.kpi .k{color:#57606a;font-size:12px}
figure{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:0 0 12px;padding:8px}
figure img{width:100%;height:auto;display:block}figcaption{color:#57606a;font-size:12px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border-bottom:1px solid #eaeef2;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f4}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.none{color:#57606a}
"""
