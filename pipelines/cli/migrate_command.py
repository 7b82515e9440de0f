"""`retab-warehouse migrate --to ducklake:postgres:...`: copy a warehouse file into a new DuckLake.

Exit codes of pipelines.errors: 0 copied and every table's count checked; 1 a later run may get
through (the lake's PostgreSQL did not answer); 2 fix first (a file written by a newer DuckDB, a lake
already holding data, counts that differ, a bad URI).
"""

from __future__ import annotations

import argparse
import sys

from pipelines.cli.arguments import DB_HELP, EXIT_OK, warehouse_path
from pipelines.config import DUCKLAKE_DATA_PATH_ENV, DuckLake, describe, warehouse_target
from pipelines.errors import EXIT_FIX_FIRST, WarehouseError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options."""
    parser.add_argument(
        "--to",
        required=True,
        metavar="URI",
        help="the new lake: ducklake:postgres:<libpq connection string> (its data path from "
        f"${DUCKLAKE_DATA_PATH_ENV}, or --data-path)",
    )
    parser.add_argument("--data-path", default=None, help="the new lake's data folder or s3:// prefix")
    parser.add_argument("--db", default=None, help=f"the file to copy; {DB_HELP}")


def run(args: argparse.Namespace) -> int:
    """Copy, check the counts, print them; errors are one message with advice, never a traceback."""
    from pipelines.load.transfer import copy_into_lake  # duckdb: not for `--help`

    try:
        source = warehouse_path(args.db)
        lake = warehouse_target(args.to)
        if not isinstance(lake, DuckLake):
            print(f"error: --to {args.to!r} is not a lake: write ducklake:postgres:dbname=D host=H user=U",
                  file=sys.stderr)  # fmt: skip
            return EXIT_FIX_FIRST
        if isinstance(source, DuckLake):
            print(f"error: the source {describe(source)} is already a lake: give the file with --db",
                  file=sys.stderr)  # fmt: skip
            return EXIT_FIX_FIRST
        if args.data_path:
            lake = DuckLake(lake.uri, args.data_path, lake.s3)
        counts = copy_into_lake(source, lake)
    except WarehouseError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    width = max(len(c.table) for c in counts)
    print(f"copied {source} into {describe(lake)}; rows per table (file = lake):")
    for count in counts:
        print(f"  {count.table:<{width}}  {count.file_rows:>12,}")
    print(f"Point RETAB_DUCKDB_PATH at the lake to use it; {source} is left as it was.")
    return EXIT_OK
