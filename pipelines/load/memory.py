"""The writer's memory: a small DuckDB memory limit, raised only for a load that needs more.

A load fills DuckDB's buffer pool up to its limit, so the limit is most of what a sync adds to its
memory: a sync of a day of 1M runs peaks at 348 MB with a file writer at 64 MB and at 390 MB at
128 MB (one process, same imports), and the load is no slower (it spills to <file>.tmp). But
DuckDB pins about a vector (2,048 rows) of a column at once, so a day of unusually large records
runs out of memory (a file writer at 64 MB: records of ~12 kB when a day is walked again and its
changes are counted, ~32 kB on a first walk). Such a load runs again, whole, with twice the limit,
until it fits or would pass the ceiling; the limit is set back afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable
from typing import TypeVar

import duckdb

from pipelines.errors import LoadOutOfMemory

log = logging.getLogger(__name__)

T = TypeVar("T")

FILE_WRITER_MEMORY = "64MB"
# DuckLake's Parquet writer allocates a row group's column (~30 MB) at once: out of memory at 64 MB.
LAKE_WRITER_MEMORY = "128MB"
# The most one load may be given: 4 GiB, or a quarter of the machine's memory if that is less.
WRITER_MEMORY_CEILING_MIB = min(4096.0, os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 4 / 2**20)

_OUT_OF_MEMORY = ("Out of Memory Error", "failed to pin block", "failed to allocate data")
_UNITS = {"bytes": 2**-20, "KiB": 2**-10, "MiB": 1.0, "GiB": 2**10, "TiB": 2**20}
_SETTING = re.compile(r"^(?P<number>[\d.]+)\s*(?P<unit>bytes|KiB|MiB|GiB|TiB)$")


def with_memory_to_spare(con: duckdb.DuckDBPyConnection, work: Callable[[], T], *, what: str) -> T:
    """Run `work` (one whole transaction, rolled back when it raises); while DuckDB runs out of
    memory, run it again with twice the memory limit; raise LoadOutOfMemory naming `what` when
    the next limit would pass WRITER_MEMORY_CEILING_MIB."""
    saved = _current_limit(con)
    limit = memory_limit_mib(saved)
    try:
        while True:
            try:
                return work()
            except duckdb.Error as error:
                if not out_of_memory(error):
                    raise
                if limit * 2 > WRITER_MEMORY_CEILING_MIB:
                    first_line = str(error).splitlines()[0]
                    raise LoadOutOfMemory(
                        f"{what}: DuckDB ran out of memory at {limit:,.0f} MiB, and a load may take at "
                        f"most {WRITER_MEMORY_CEILING_MIB:,.0f} MiB ({first_line})"
                    ) from error
                log.info("%s: out of memory at %.0f MiB; again with %.0f MiB", what, limit, 2 * limit)
                limit *= 2
                con.execute(f"SET memory_limit = '{limit:.0f}MiB'")
    finally:
        if limit != memory_limit_mib(saved):
            with contextlib.suppress(duckdb.Error):  # the connection may be gone with its error
                con.execute(f"SET memory_limit = '{saved}'")


def out_of_memory(error: duckdb.Error) -> bool:
    """DuckDB ran out of memory: in a statement, or in the COMMIT (a TransactionException)."""
    return isinstance(error, duckdb.OutOfMemoryException) or any(
        sign in str(error) for sign in _OUT_OF_MEMORY
    )


def memory_limit_mib(setting: str) -> float:
    """DuckDB's display of a memory limit ('61.0 MiB', '1.8 GiB') in MiB."""
    match = _SETTING.match(setting.strip())
    if match is None:
        raise ValueError(f"not a DuckDB memory limit: {setting!r}")
    return float(match["number"]) * _UNITS[match["unit"]]


def _current_limit(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute("SELECT current_setting('memory_limit')").fetchone()
    return str(row[0]) if row else ""
