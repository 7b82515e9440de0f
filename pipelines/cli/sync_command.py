"""`retab-warehouse sync`: progress on a terminal, a summary at the end, exit codes of pipelines.errors.

0 every day synced; 1 something failed that a later run may get through; 2 a set-up error to fix
first (a refused key, a wrong URL, a bad warehouse file); 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pipelines.config import Settings, warehouse_target
from pipelines.errors import (
    EXIT_FAILED,
    EXIT_FIX_FIRST,
    EXIT_INTERRUPTED,
    EXIT_OK,
    BadWarehouseTarget,
    MissingApiKey,
    classify,
)

if TYPE_CHECKING:
    from rich.console import Console

    from pipelines.endpoints import Endpoint
    from pipelines.sync.orchestrator import PartitionResult, SyncReport
    from pipelines.sync.plan import DayTask


def days_between(start: date, end: date) -> list[date]:
    """Every UTC day from start to end, inclusive."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Environment settings with the command line's overrides."""
    return Settings.from_env(
        duckdb_path=warehouse_target(args.db) if getattr(args, "db", None) else None,
        concurrency=getattr(args, "concurrency", None),
        max_rps=getattr(args, "max_rps", None),
        settle_horizon_days=getattr(args, "settle_horizon_days", None),
        lock_wait=getattr(args, "lock_wait", None),
    )


def run_sync(args: argparse.Namespace) -> int:
    """Run the sync the arguments ask for and print what happened."""
    from pipelines.sync.orchestrator import parse_endpoints

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = settings_from_args(args)
        settings.require_key()
    except (MissingApiKey, BadWarehouseTarget) as error:
        print(f"retab-warehouse sync: {error}", file=sys.stderr)
        return error.exit_code
    days = None if args.start is None else days_between(args.start, args.end or datetime.now(UTC).date())
    return sync_and_report(
        settings,
        parse_endpoints(args.endpoint),
        days,
        refresh_open=args.refresh_open,
        reconcile_days=args.reconcile_days,
        quiet=args.quiet,
    )


def sync_and_report(
    settings: Settings,
    endpoints: Sequence[Endpoint],
    days: Sequence[date] | None,
    *,
    refresh_open: bool,
    reconcile_days: int | None = None,
    quiet: bool = False,
) -> int:
    """Sync with a progress bar on a terminal, print the summary, return the exit code."""
    from rich.console import Console
    from rich.markup import escape

    from pipelines.load.connections import interrupted
    from pipelines.sync.orchestrator import sync

    # off a terminal rich assumes 80 columns and cuts the summary's headers ("endpo…"): use $COLUMNS or 160
    width = None if sys.stderr.isatty() else int(os.environ.get("COLUMNS") or 160)
    console = Console(stderr=True, width=width)
    show_progress = console.is_terminal and not quiet
    try:
        options: dict[str, Any] = {"refresh_open": refresh_open, "reconcile_days": reconcile_days}
        if show_progress:
            report = _sync_with_progress(console, settings, endpoints, days, options)
        else:
            report = sync(settings, endpoints, days, **options)
    except KeyboardInterrupt:
        return _interrupted(console)
    except Exception as error:
        if interrupted(error):  # Ctrl-C during a DuckDB query outside a load
            return _interrupted(console)
        console.print(f"[bold red]sync failed:[/] {escape(str(error))}", markup=True, highlight=False)
        console.print("Nothing partial was written: every day keeps its previous content.")
        return classify(error).exit_code
    print_summary(console, report)
    return exit_code(report)


def _interrupted(console: Console) -> int:
    console.print(
        "[bold yellow]sync interrupted:[/] the days committed so far are kept, the others keep their "
        "previous content; run the same command again to finish.",
        highlight=False,
    )
    return EXIT_INTERRUPTED


def exit_code(report: SyncReport) -> int:
    """0 when every day synced; 2 when every failure needs a fix first (pipelines.errors); else 1."""
    if report.ok:
        return EXIT_OK
    return EXIT_FAILED if any(p.retryable for p in report.failed) else EXIT_FIX_FIRST


def _sync_with_progress(
    console: Console,
    settings: Settings,
    endpoints: Sequence[Endpoint],
    days: Sequence[date] | None,
    options: dict[str, Any],
) -> SyncReport:
    """`sync()` under a rich progress bar of days, pages and rows."""
    import threading

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pipelines.sync.orchestrator import sync

    lock = threading.Lock()
    counts = {"pages": 0, "rows": 0}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[pages]:,} pages  {task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("days", total=None, pages=0, rows=0)

        def on_page(endpoint: str, day: date, pages: int, records: int) -> None:
            with lock:
                counts["pages"] += pages
                counts["rows"] += records
                bar.update(task, pages=counts["pages"], rows=counts["rows"])

        def on_partition(result: PartitionResult) -> None:
            bar.update(task, advance=1)

        def on_plan(tasks: Sequence[DayTask]) -> None:
            bar.update(task, total=len(tasks))

        return sync(
            settings,
            endpoints,
            days,
            progress=on_page,
            on_partition=on_partition,
            on_plan=on_plan,
            **options,
        )


def print_summary(console: Console, report: SyncReport) -> None:
    """One line per endpoint, then each failed partition with its reason."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="sync summary", title_justify="left")
    for column in (
        "endpoint",
        "days ok",
        "days failed",
        "rows",
        "pages",
        "gets",
        "added",
        "changed",
        "removed",
        "retries",
        "rejected",
        "open runs",
        "seconds",
    ):
        table.add_column(column, justify="left" if column == "endpoint" else "right")
    for endpoint in sorted({p.endpoint for p in report.partitions}):
        parts = [p for p in report.partitions if p.endpoint == endpoint]
        ok = [p for p in parts if p.ok]
        table.add_row(
            endpoint,
            str(len(ok)),
            str(len(parts) - len(ok)),
            f"{sum(p.rows for p in ok):,}",
            f"{sum(p.pages for p in parts):,}",
            f"{sum(p.gets for p in parts):,}",
            f"{sum(p.added for p in ok):,}",
            f"{sum(p.changed for p in ok):,}",
            f"{sum(p.removed for p in ok):,}",
            f"{sum(p.retries for p in parts):,}",
            f"{sum(p.rejected for p in ok):,}",
            f"{sum(p.open_runs for p in ok):,}",
            f"{max((p.seconds for p in parts), default=0.0):.1f}",
        )
    if not report.partitions:
        console.print("Nothing to do: every day is up to date and settled.")
        return
    console.print(table)
    for failed in report.failed:
        # escape: error texts quote servers and paths, whose "[...]" rich would eat or choke on
        reason = escape(str(failed.error))
        console.print(f"[red]{failed.endpoint} {failed.day} failed:[/] {reason}", highlight=False)
    if report.failed and any(p.retryable for p in report.failed):
        console.print("Failed days keep their previous content; run the same command again to retry them.")
    elif report.failed:
        console.print(
            "Failed days keep their previous content. Retrying as is will not help: fix what the "
            "message says, then run the same command again."
        )
