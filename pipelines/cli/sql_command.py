"""`retab-warehouse sql`: one read-only query (text or a .sql file), printed as a table, CSV or JSON.

The warehouse file is opened read-only for the query alone: rows are fetched, the file is closed,
and only then printed, so a slow terminal or pipe never holds the lock a sync is waiting for.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pipelines.cli.arguments import DB_HELP, EXIT_OK, warehouse_path
from pipelines.errors import BadWarehouseTarget, QueryFailed

if TYPE_CHECKING:
    from pipelines.load.reads import QueryResult

FORMATS = ("table", "csv", "json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the `sql` command's arguments."""
    parser.add_argument(
        "query", help='a SQL query, e.g. "SELECT * FROM analytics.trigger_mix", or a .sql file'
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="output format (default: table on a terminal, else csv)",
    )
    parser.add_argument(
        "--max-rows",
        type=int,
        default=1000,
        help="rows shown by --format table (default 1000; csv/json print all)",
    )
    parser.add_argument("--db", default=None, help=DB_HELP)


def run(args: argparse.Namespace) -> int:
    """Run the query read-only and print it; errors go to stderr as one message, never a traceback."""
    from pipelines.load.reads import fetch  # duckdb: not for `--help`

    try:
        sql = read_sql(args.query)
        result = fetch(warehouse_path(args.db), sql)
    except (QueryFailed, BadWarehouseTarget) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    fmt = args.format or ("table" if sys.stdout.isatty() else "csv")
    try:
        if fmt == "csv":
            write_csv(result, sys.stdout)
        elif fmt == "json":
            write_json(result, sys.stdout)
        else:
            print_table(result, max_rows=args.max_rows)
        sys.stdout.flush()
    except BrokenPipeError:  # `... | head` closed the pipe: what it wanted was printed
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
    return EXIT_OK


def read_sql(query: str) -> str:
    """The query text: the argument itself, or the contents of the .sql file it names."""
    if query.strip().lower().endswith(".sql") and "\n" not in query.strip():
        path = Path(query.strip()).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise QueryFailed(f"cannot read SQL file {path}: {exc.strerror or exc}") from exc
    else:
        text = query
    if not _strip_comments(text).strip(" \t\r\n;"):
        raise QueryFailed("the query is empty")
    return text


def write_csv(result: QueryResult, out: TextIO) -> None:
    """CSV with a header row; NULL is an empty field, lists and structs are JSON text."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow(["" if v is None else _csv_text(v) for v in row])


def write_json(result: QueryResult, out: TextIO) -> None:
    """A JSON array of objects, one per line; NULL and NaN become null, timestamps ISO 8601."""
    out.write("[")
    for i, row in enumerate(result.rows):
        record = {name: to_json_value(v) for name, v in zip(result.columns, row, strict=True)}
        out.write(("\n" if i == 0 else ",\n") + json.dumps(record, ensure_ascii=False))
    out.write("\n]\n" if result.rows else "]\n")


def print_table(result: QueryResult, *, max_rows: int = 1000, console: Any = None) -> None:
    """A rich table of at most max_rows rows, with the row count below it."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(show_lines=False, header_style="bold")
    for name, type_name in zip(result.columns, result.types, strict=True):
        table.add_column(name, justify="right" if _is_numeric(type_name) else "left", overflow="fold")
    for row in result.rows[: max(max_rows, 0)]:
        table.add_row(*[_table_text(v) for v in row])
    if result.columns:
        console.print(table)
    shown = min(len(result.rows), max(max_rows, 0))
    more = f", {shown:,} shown (use --max-rows, or --format csv for all)" if shown < len(result.rows) else ""
    console.print(f"{len(result.rows):,} row{'s' if len(result.rows) != 1 else ''}{more}", style="dim")


def to_json_value(value: Any) -> Any:
    """A query value as plain JSON: ISO dates, floats for decimals, null for NaN and infinity."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Decimal):
        return to_json_value(float(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    return str(value)


def _csv_text(value: Any) -> str:
    """One CSV field."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(to_json_value(value), ensure_ascii=False)
    if isinstance(value, float) and math.isfinite(value):
        return format(value, ".15g")  # what a double means, without its binary noise (89192.8, not ...08)
    converted = to_json_value(value)
    return "" if converted is None else str(converted)


def _table_text(value: Any) -> str:
    """One table cell: NULL dimmed, floats to 6 significant digits."""
    if value is None:
        return "[dim]NULL[/dim]"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    from rich.markup import escape

    return escape(_csv_text(value))


def _is_numeric(type_name: str) -> bool:
    """True for DuckDB integer, float and decimal types."""
    name = type_name.upper()
    return name.startswith(("DECIMAL", "NUMERIC")) or name in {
        "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
        "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE",
    }  # fmt: skip


def _strip_comments(sql: str) -> str:
    """The SQL without `--` line comments, to tell an empty query from a real one."""
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
