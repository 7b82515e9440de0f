"""Argument types and shared options of the commands, and where their warehouse file is."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import date
from pathlib import Path

from pipelines.config import DEFAULT_DUCKDB_PATH, Warehouse, duckdb_path, warehouse_target
from pipelines.errors import EXIT_FAILED, EXIT_OK
from pipelines.load.legacy import move_old_default

__all__ = [
    "DB_HELP",
    "EXIT_FAILED",
    "EXIT_OK",
    "parse_day",
    "port_number",
    "positive_int",
    "positive_number",
    "seconds",
    "warehouse_path",
]

DB_HELP = (
    "DuckDB file or DuckLake URI ducklake:postgres:... (default $RETAB_DUCKDB_PATH, else "
    "warehouse/warehouse.duckdb)"
)


def parse_day(text: str) -> date:
    """A YYYY-MM-DD day, for argparse."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):  # the right form, a day the calendar does not have
        raise argparse.ArgumentTypeError(f"{text!r} does not exist: check the month and the day")
    raise argparse.ArgumentTypeError(f"{text!r} is not a day: write it as YYYY-MM-DD, e.g. 2026-05-01")


def positive_int(text: str) -> int:
    """An integer of at least 1, for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def port_number(text: str) -> int:
    """A TCP port, 1 to 65535, for argparse."""
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port: give 1 to 65535")
    return value


def positive_number(text: str) -> float:
    """A number above 0, for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a number above 0")
    return value


def seconds(text: str) -> float:
    """A non-negative number of seconds, for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a number of seconds, 0 or more")
    return value


def warehouse_path(db: str | None) -> Warehouse:
    """--db if given, else $RETAB_DUCKDB_PATH, else warehouse/warehouse.duckdb (a file or a DuckLake)."""
    path = warehouse_target(db) if db else duckdb_path()
    if path == Path(DEFAULT_DUCKDB_PATH) and (moved := move_old_default(path)):
        print(moved, file=sys.stderr)
    return path
