"""`retab-warehouse report`: the arguments and the run of the report command (pipelines.report)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.cli.arguments import DB_HELP, EXIT_FAILED, EXIT_OK, positive_int, warehouse_path
from pipelines.errors import QueryFailed

DEFAULT_DAYS = 14


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the `report` command's arguments."""
    parser.add_argument(
        "--days", type=positive_int, default=DEFAULT_DAYS, help=f"last N UTC days (default {DEFAULT_DAYS})"
    )
    parser.add_argument("--workflow", default=None, help="only this workflow id")
    parser.add_argument("--html", default=None, metavar="PATH", help="also write a self-contained HTML file")
    parser.add_argument("--db", default=None, help=DB_HELP)


def run(args: argparse.Namespace) -> int:
    """Print the report; with --html also write the HTML file. Errors are one message, no traceback."""
    from rich.console import Console

    from pipelines.errors import BadWarehouseTarget, ReportUnavailable
    from pipelines.report import Window, load_report, print_report, render_html

    today = getattr(args, "today", None) or datetime.now(UTC).date()
    window = Window(today - timedelta(days=args.days - 1), today, args.workflow or None)
    try:
        report = load_report(warehouse_path(args.db), window)
    except (QueryFailed, ReportUnavailable, BadWarehouseTarget) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    console = Console() if sys.stdout.isatty() else Console(width=int(os.environ.get("COLUMNS") or 140))
    print_report(report, console)
    if args.html:
        path = Path(args.html)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_html(report), encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write the HTML report to {path}: {exc}", file=sys.stderr)
            return EXIT_FAILED
        console.print(f"HTML report: {path.resolve()}", soft_wrap=True, highlight=False)
    return EXIT_OK
