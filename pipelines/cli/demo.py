"""`retab-warehouse demo`: the simulator, a sync of the last days of both endpoints, and the report."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.config import DuckLake, Settings, Warehouse, warehouse_target

DEMO_SEED = 20260501


def run_demo(args: argparse.Namespace) -> int:
    """Serve the simulator on loopback, sync into the warehouse, print the report and what to do next."""
    from pipelines.cli.sync_command import days_between, sync_and_report
    from pipelines.endpoints import ENDPOINTS
    from retab_sim import SimConfig, run_simulator

    now = datetime.now(UTC)
    today = now.date()
    first = today - timedelta(days=args.days - 1)
    config = SimConfig(
        seed=DEMO_SEED,
        shape="mixed",
        end=today,
        days=args.days,
        runs_per_day=args.runs_per_day,
        experiment_runs_per_day=args.experiment_runs_per_day,
        faults="mild",
        now=now,
    )
    base = Settings.from_env()
    db_path = warehouse_target(args.db) if args.db else base.duckdb_path
    print(
        f"Starting the Retab API simulator (seed {DEMO_SEED}, {args.days} days, mild faults) on loopback..."
    )
    with run_simulator(config) as sim:
        print(f"Simulator at {sim.base_url}; syncing {first} .. {today} into {db_path}")
        settings = Settings(api_key=sim.key, base_url=sim.base_url, duckdb_path=db_path)
        code = sync_and_report(
            settings, list(ENDPOINTS.values()), days_between(first, today), refresh_open=False
        )
    if code != 0:
        return code
    from pipelines.cli import report_command

    report_args = argparse.Namespace(
        days=args.days, workflow=None, html=args.html, db=args.db, format="table"
    )
    code = report_command.run(report_args)
    print_next_steps(db_path, Path(args.html))
    return code


def print_next_steps(db_path: Warehouse, html: Path) -> None:
    """Where the HTML report is, how to open the Dagster UI, how to query."""
    lines = [
        "",
        "Next:",
        f"  HTML report:  {html.resolve()}  (self-contained; open it in any browser)",
        "  Dagster UI:   make dev   (then http://127.0.0.1:3000, against the embedded simulator)",
        "  Query:        .venv/bin/retab-warehouse sql "
        '"SELECT status, count(*) FROM retab.workflow_runs GROUP BY 1"',
        f"  DuckDB CLI:   duckdb -readonly {db_path}"
        if not isinstance(db_path, DuckLake)
        else f"  DuckDB CLI:   ATTACH '{db_path}' AS warehouse (READ_ONLY)   (with the ducklake extension)",
        "                (read-only; see README.md for Python and notebooks)",
    ]
    print("\n".join(lines), file=sys.stdout)
