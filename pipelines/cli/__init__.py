"""The `retab-warehouse` command: sync, demo, simulate, sql, report, migrate, dev.

Imports are lazy so that `retab-warehouse --help` and `sync` load neither Dagster nor the
simulator nor the plotting stack.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime

from pipelines.cli.arguments import parse_day, port_number, positive_int, positive_number, seconds
from pipelines.config import DEFAULT_DEV_PORT
from pipelines.endpoints import ENDPOINTS

ENDPOINT_CHOICES = (*ENDPOINTS, "all")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="retab-warehouse",
        description="Keep an analytical DuckDB copy of a Retab account's workflow runs and experiment runs.",
        epilog="Environment: RETAB_API_KEY, RETAB_API_BASE_URL (default https://api.retab.com), "
        "RETAB_DUCKDB_PATH (default warehouse/warehouse.duckdb, or ducklake:postgres:<libpq>), "
        "RETAB_DUCKLAKE_DATA_PATH (a new lake's data folder or s3:// prefix).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sync = commands.add_parser(
        "sync",
        help="bring the warehouse up to date (no dates: what the nightly does), or re-walk UTC days",
        description="Without dates: every day since the last complete one up to today, the open runs "
        "of any day, and a reconciliation of the last 30 days once a week, each at the least cost the "
        "API allows. With --start/--end: those days walked again and replaced.",
    )
    sync.add_argument(
        "--start", type=parse_day, default=None, help="first UTC day to re-walk, YYYY-MM-DD (default: none)"
    )
    sync.add_argument(
        "--end", type=parse_day, default=None, help="last UTC day (inclusive), YYYY-MM-DD (default: today)"
    )
    sync.add_argument(
        "--reconcile-days",
        type=positive_int,
        default=None,
        metavar="N",
        help="also re-walk the settled days of the last N days, reporting what changed (default: "
        "30 days once a week, on a sync without dates)",
    )
    sync.add_argument(
        "--endpoint", choices=ENDPOINT_CHOICES, default="all", help="which listing (default all)"
    )
    sync.add_argument(
        "--concurrency", type=positive_int, default=None, help="day windows fetched at once (4)"
    )
    sync.add_argument(
        "--max-rps",
        type=positive_number,
        default=None,
        metavar="N",
        help="a ceiling on requests per second (default: none; the rate adapts to the API's 429s and "
        "rate-limit headers)",
    )
    sync.add_argument(
        "--refresh-open",
        action="store_true",
        help="with dates: also bring every day holding unfinished runs up to date, whatever its age",
    )
    sync.add_argument(
        "--settle-horizon-days",
        "--lookback-days",
        dest="settle_horizon_days",
        type=positive_int,
        default=None,
        metavar="N",
        help="leave open runs older than N days alone (default: settle them at any age)",
    )
    sync.add_argument(
        "--db", default=None, help="DuckDB file or ducklake:postgres:<libpq> (default $RETAB_DUCKDB_PATH)"
    )
    sync.add_argument(
        "--lock-wait",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="how long to wait for another process holding the DuckDB file before giving up (60)",
    )
    sync.add_argument("--quiet", action="store_true", help="no progress bar, only the summary")

    demo = commands.add_parser("demo", help="simulator + sync of the last 14 days + report, in one go")
    demo.add_argument("--days", type=positive_int, default=14, help="UTC days to simulate and sync (14)")
    demo.add_argument(
        "--runs-per-day", type=positive_int, default=3000, help="simulated workflow runs per day (3000)"
    )
    demo.add_argument(
        "--experiment-runs-per-day",
        type=positive_int,
        default=300,
        help="simulated experiment runs per day (300)",
    )
    demo.add_argument("--db", default=None, help="DuckDB file (default $RETAB_DUCKDB_PATH)")
    demo.add_argument("--html", default="warehouse/report.html", help="where to write the HTML report")

    simulate = commands.add_parser("simulate", help="serve the Retab API simulator in the foreground")
    _add_lazy_arguments(simulate, "retab_sim.cli")

    sql = commands.add_parser("sql", help="run a read-only SQL query (or a .sql file) on the warehouse")
    _add_lazy_arguments(sql, "pipelines.cli.sql_command")

    report = commands.add_parser("report", help="failure rates, durations and scores: terminal and HTML")
    _add_lazy_arguments(report, "pipelines.cli.report_command")

    migrate = commands.add_parser(
        "migrate", help="copy the warehouse file into a new DuckLake (counts checked per table)"
    )
    _add_lazy_arguments(migrate, "pipelines.cli.migrate_command")

    dev = commands.add_parser("dev", help="start the Dagster UI against the embedded simulator")
    dev.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_DEV_PORT,
        help=f"the Dagster UI's port ({DEFAULT_DEV_PORT}); taken, it stops at once and says so",
    )
    return parser


def _add_lazy_arguments(parser: argparse.ArgumentParser, module: str) -> None:
    """Let a command's own module declare its arguments; those modules import heavy things lazily."""
    parser.set_defaults(module=module)
    importlib.import_module(module).add_arguments(parser)


def check_sync_days(parser: argparse.ArgumentParser, start: date | None, end: date | None) -> None:
    """Refuse --end alone, a backwards range or a day that has not begun yet (exit code 2)."""
    today = datetime.now(UTC).date()
    if start is None:
        if end is not None:
            parser.error("--end needs --start (without dates, sync brings every day up to date)")
        return
    end = end or today
    if start > end:
        parser.error(f"--start {start} is after --end {end}: give the earlier day first")
    if end > today:
        parser.error(f"--end {end} is after today ({today}, UTC): there is nothing to sync yet")


def run_dev_process(port: int) -> int:
    """Hand over to the Dagster-side supervisor (`python -m assets.dev`): the engine imports no Dagster."""
    import os

    os.execv(sys.executable, [sys.executable, "-m", "assets.dev", "--port", str(port)])
    return 0  # not reached: execv replaces this process


def _version() -> str:
    """The installed distribution's version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("retab-warehouse")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.command == "sync":
        check_sync_days(parser, args.start, args.end)
        from pipelines.cli.sync_command import run_sync

        return run_sync(args)
    if args.command == "demo":
        from pipelines.cli.demo import run_demo

        return run_demo(args)
    if args.command == "dev":
        return run_dev_process(args.port)
    return int(importlib.import_module(args.module).run(args))


if __name__ == "__main__":
    raise SystemExit(main())
