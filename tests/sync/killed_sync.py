"""A sync that kills itself (SIGKILL) at the Nth call of one step: the crash tests' child process.

    python tests/sync/killed_sync.py fetch|checkpoint|swap|commit N BASE_URL KEY DAY [DAY ...]

The warehouse is the one RETAB_DUCKDB_PATH (and RETAB_DUCKLAKE_DATA_PATH) name: a file or a lake.

fetch: the Nth HTTP request is never answered; checkpoint: the Nth checkpoint dies with its segments
written and its manifest not yet renamed into place; swap: the Nth partition replacement dies inside
its transaction, its rows inserted and not committed; commit: the Nth transaction is killed 5 ms
into its COMMIT (a DuckLake commit is several PostgreSQL round trips: the kill lands inside it or
just after).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from typing import Any


def killing_on_call(n: int, function: Any) -> Any:
    """`function`, except that its Nth call kills the process first."""
    calls = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)

    return wrapper


def dying_in_commit(n: int, transaction: Any) -> Any:
    """`transaction`, except that the Nth one is SIGKILLed 5 ms after its COMMIT starts."""
    calls = [0]

    @contextlib.contextmanager
    def wrapper(con: Any) -> Iterator[None]:
        calls[0] += 1
        if calls[0] != n:
            with transaction(con):
                yield
            return
        con.execute("BEGIN TRANSACTION")
        yield
        threading.Timer(0.005, os.kill, (os.getpid(), signal.SIGKILL)).start()
        con.execute("COMMIT")
        time.sleep(30)  # the timer kills us

    return wrapper


def main() -> None:
    point, n, base_url, key, *days = sys.argv[1:]
    import pipelines.load.checkpoints as checkpoints
    import pipelines.load.partitions as partitions
    from pipelines.config import Settings, duckdb_path
    from pipelines.extract.client import RetabClient
    from pipelines.sync.orchestrator import parse_endpoints, sync

    if point == "fetch":
        RetabClient._send = killing_on_call(int(n), RetabClient._send)  # type: ignore[method-assign]
    elif point == "checkpoint":
        checkpoints.os.replace = killing_on_call(int(n), os.replace)  # type: ignore[attr-defined]
    elif point == "swap":
        partitions._write_sync_ok = killing_on_call(int(n), partitions._write_sync_ok)  # type: ignore[attr-defined]
    elif point == "commit":
        partitions.transaction = dying_in_commit(int(n), partitions.transaction)  # type: ignore[attr-defined]
    settings = Settings(api_key=key, base_url=base_url, duckdb_path=duckdb_path(), concurrency=2)
    sync(settings, parse_endpoints("runs"), [date.fromisoformat(d) for d in days])
    sys.exit(3)  # not killed: the test's count was wrong


if __name__ == "__main__":
    main()
