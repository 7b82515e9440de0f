"""Connections to the warehouse: a DuckDB file (a bounded-wait writer and read-only readers) or a
DuckLake (pipelines.load.lake: no lock to wait for, readers never block writers).

DuckDB lets one process open a file read-write, or many processes open it read-only, never both:
a user's idle read-only session blocks the sync, and the sync blocks readers. So both openers
retry with backoff for a bounded time, then raise an error that says who holds the file and how
to free it. Within one process, writers of a file take turns on a lock of their own (DuckDB
refuses to attach one file twice in a process). The writer runs with one thread and a small
memory limit, spilling to <file>.tmp beyond it (WRITER_SETTINGS).

    Exception
     ├── WarehouseLocked       another process (or this one, in another mode) holds the file
     ├── LakeUnreachable       the lake's PostgreSQL does not answer
     └── WarehouseUnreadable   not a DuckDB file, corrupted, a directory, not writable, disk full
          ├── WarehouseMissing  open_reader on a file (or lake) that does not exist yet
          ├── WarehouseTooNew   a file written by a newer DuckDB: rebuilt by a re-sync of its days
          └── LakeUnusable      no such database, a refused login, a new lake without a data path

Both open the warehouse as the catalog `warehouse`, so `retab.*` and `analytics.*` resolve the
same way on either backend.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipelines.config import DuckLake, Warehouse
from pipelines.errors import WarehouseLocked, WarehouseMissing, WarehouseTooNew, WarehouseUnreadable
from pipelines.load.lake import (
    explain_lake_error,
    forget_lake,
    lake_connection,
    retry_conflicts,
    sql_literal,
)
from pipelines.load.memory import FILE_WRITER_MEMORY, LAKE_WRITER_MEMORY
from pipelines.load.migrations import WAREHOUSE_SCHEMA_DIR, migrate

log = logging.getLogger(__name__)

# The file is attached under this name rather than opened directly: DuckDB names a directly opened
# file's catalog after its stem, and a file called retab.duckdb then makes every `retab.table`
# reference ambiguous between the catalog and the schema `retab`.
CATALOG = '"warehouse"'
# TYPE DUCKDB: never let DuckDB sniff another format (a SQLite file would make it download an extension).
ATTACH_OPTIONS: list[str] = ["TYPE DUCKDB", "ROW_GROUP_SIZE 30720"]
# A writer creates (or upgrades) the file at this storage version. duckdb 1.5 otherwise writes
# v1.0.0, where `USING COMPRESSION zstd` silently stores `raw` uncompressed: a 1M-run day took
# 530 MB, not 77 MB, and loaded at ~230k rows/s, not ~305k (v1.2.0 compresses but loads at ~230k).
# DuckDB 1.4 and later read it.
STORAGE_VERSION = "v1.4.0"
WRITER_ATTACH_OPTIONS: list[str] = [*ATTACH_OPTIONS, f"STORAGE_VERSION '{STORAGE_VERSION}'"]
# Applied with SET on every writer connection of a file: one thread leaves the other core to the
# flattener; a small memory limit, raised for a load that needs more (pipelines.load.memory).
WRITER_SETTINGS: dict[str, str | int] = {"threads": 1, "memory_limit": FILE_WRITER_MEMORY}
LAKE_WRITER_SETTINGS: dict[str, str | int] = {**WRITER_SETTINGS, "memory_limit": LAKE_WRITER_MEMORY}

_LOCK_CONFLICTS = ("could not set lock on file", "unique file handle conflict")
_CORRUPTION = ("not a valid duckdb database", "corrupt", "checksum", "could not read enough bytes")
_FILE_PROBLEMS = ("could not write", "could not read", "no space left", "file too large", *_CORRUPTION[1:])
_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)")
_FIRST_DELAY = 0.05
_ANNOUNCE_WAIT = 1.0  # say that we wait when we are prepared to wait at least this long
_MAX_DELAY = 2.0

_process_locks: dict[Path, threading.Lock] = {}
_process_lock_owners: dict[Path, int] = {}
_process_locks_guard = threading.Lock()


__all__ = ["open_reader", "open_writer", "sql_literal"]


@contextmanager
def open_writer(
    path: Warehouse, *, lock_wait: float = 60.0, sleep: Callable[[float], None] = time.sleep
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A migrated read-write connection, closed on exit; waits up to lock_wait seconds for a file
    (a lake has no lock: it never waits)."""
    if isinstance(path, DuckLake):
        with _open_lake(path, read_only=False) as con:
            yield con
        return
    path = Path(path).expanduser().absolute()
    _check_writable(path)
    process_lock = _process_lock(path)
    if _process_lock_owners.get(path) == threading.get_ident():
        raise WarehouseLocked(
            f"warehouse file {path} already has a writer open in this thread: use that connection "
            f"(DuckDB allows one writer per file)"
        )
    started = time.monotonic()
    if not process_lock.acquire(timeout=max(lock_wait, 0.0)):
        raise WarehouseLocked(
            f"warehouse file {path} is being written by another thread of this process; "
            f"waited {lock_wait:.1f}s. Let the running load finish, then retry."
        )
    _process_lock_owners[path] = threading.get_ident()
    try:
        left = max(lock_wait - (time.monotonic() - started), 0.0)
        con = _connect(path, read_only=False, lock_wait=left, sleep=sleep)
        try:
            for name, value in WRITER_SETTINGS.items():
                con.execute(f'SET "{name}" = ?', [value])
            _migrate(con, path)
            with explaining_file_errors(path):
                yield con
        finally:
            with explaining_file_errors(path):
                con.close()  # checkpoints: may write
    finally:
        del _process_lock_owners[path]
        process_lock.release()


@contextmanager
def open_reader(
    path: Warehouse, *, lock_wait: float = 10.0, sleep: Callable[[float], None] = time.sleep
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection, closed on exit; on a file hold it no longer than your queries (on a
    lake it sees one snapshot per transaction and blocks nobody)."""
    if isinstance(path, DuckLake):
        with _open_lake(path, read_only=True) as con:
            yield con
        return
    path = Path(path).expanduser().absolute()
    if not path.exists():
        raise WarehouseMissing(
            f"warehouse file {path} does not exist yet: run `retab-warehouse sync` first "
            f"(or set RETAB_DUCKDB_PATH to an existing warehouse)"
        )
    if path.is_dir():
        raise WarehouseUnreadable(_explain(path, "is a directory"))
    con = _connect(path, read_only=True, lock_wait=lock_wait, sleep=sleep)
    try:
        yield con
    finally:
        con.close()


def too_new_message(path: Path, detail: str) -> str:
    """What to say about a file that a newer DuckDB wrote: how to rebuild it with the pinned one."""
    return (
        f"warehouse file {path} was written by a newer DuckDB than this retab-warehouse's "
        f"duckdb {duckdb.__version__}, which cannot read its storage version. Rebuild it from the API: "
        f"move it aside (mv {path} {path}.newer) and re-sync its days, e.g. `retab-warehouse sync "
        f"--start FIRST_DAY --db {path}` (FIRST_DAY: the first day it held; with no --start, `sync` "
        f"starts from RETAB_PARTITIONS_START). A DuckDB of the newer version can also write a copy this "
        f"one reads: ATTACH '{path}.v14' AS old (STORAGE_VERSION '{STORAGE_VERSION}'); "
        f"COPY FROM DATABASE .... "
        f"({detail})"
    )


def _connect(
    path: Path, *, read_only: bool, lock_wait: float, sleep: Callable[[float], None]
) -> duckdb.DuckDBPyConnection:
    """Attach the file, retried with capped exponential backoff while another holder has it."""
    started = time.monotonic()
    slept = 0.0
    delay = _FIRST_DELAY
    while True:
        try:
            return _attach(path, read_only=read_only)
        except duckdb.Error as exc:
            if not _is_lock_conflict(exc):
                raise _unreadable(path, str(exc)) from exc
            waited = max(slept, time.monotonic() - started)
            remaining = lock_wait - waited
            if remaining <= 0:
                raise WarehouseLocked(_locked_message(path, str(exc), waited, read_only)) from exc
            if slept == 0.0 and lock_wait >= _ANNOUNCE_WAIT:
                log.warning(
                    "warehouse file %s is held by %s; waiting up to %.0fs for it (close your DuckDB "
                    "session on this file to let this %s go on)",
                    path,
                    _holder(str(exc)),
                    lock_wait,
                    "read" if read_only else "sync",
                )
            pause = min(delay, remaining)
            sleep(pause)
            slept += pause
            delay = min(delay * 2, _MAX_DELAY)


def _attach(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the file attached as CATALOG and made the default."""
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute("SET temp_directory = ?", [f"{path}.tmp"])
        options = ", ".join([*ATTACH_OPTIONS, "READ_ONLY"] if read_only else WRITER_ATTACH_OPTIONS)
        con.execute(f"ATTACH {sql_literal(path)} AS {CATALOG} ({options})")
        con.execute(f"USE {CATALOG}")
    except BaseException:
        con.close()
        raise
    return con


@contextmanager
def _open_lake(lake: DuckLake, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    """The lake attached as CATALOG (migrated for a writer); every error redacted and explained."""

    def setup(host: duckdb.DuckDBPyConnection) -> None:
        # spills go to the system's temp folder (never .tmp in the working directory)
        host.execute(
            "SET temp_directory = ?", [str(Path(tempfile.gettempdir()) / f"retab-lake-{os.getpid()}.tmp")]
        )
        if not read_only:
            for name, value in LAKE_WRITER_SETTINGS.items():
                host.execute(f'SET "{name}" = ?', [value])

    try:
        con = lake_connection(lake, catalog=CATALOG, read_only=read_only, setup=setup)
    except duckdb.Error as exc:
        raise explain_lake_error(lake, exc, read_only=read_only) from None
    try:
        if not read_only:
            retry_conflicts(lambda: migrate(con, WAREHOUSE_SCHEMA_DIR, lake=True), what="migrating the lake")
        yield con
    except (duckdb.IOException, duckdb.ConnectionException) as exc:
        forget_lake(lake)  # the catalog may be gone: attach afresh next time
        raise explain_lake_error(lake, exc, read_only=read_only) from None
    finally:
        con.close()


def _migrate(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Bring the file to the code's schema version; a DuckDB error here means a damaged file."""
    try:
        migrate(con, WAREHOUSE_SCHEMA_DIR)
    except duckdb.Error as exc:
        raise WarehouseUnreadable(_explain(path, str(exc))) from exc


def _unreadable(path: Path, detail: str) -> WarehouseUnreadable:
    """WarehouseTooNew for a newer DuckDB's file, else WarehouseUnreadable, each saying what to do."""
    text = detail.lower()
    if "version number" in text or "newer version" in text or "storage version" in text:
        return WarehouseTooNew(too_new_message(path, detail))
    return WarehouseUnreadable(_explain(path, detail))


def interrupted(error: BaseException) -> bool:
    """True when `error` is Ctrl-C reaching a DuckDB query. duckdb 1.5 swallows the KeyboardInterrupt:
    a query raises RuntimeError("Query interrupted") (InterruptException after `con.interrupt()`), a
    scan of a Python Arrow stream an error that quotes the KeyboardInterrupt."""
    if isinstance(error, KeyboardInterrupt | duckdb.InterruptException):
        return True
    if isinstance(error, RuntimeError) and str(error) == "Query interrupted":
        return True
    return isinstance(error, duckdb.Error) and "KeyboardInterrupt" in str(error)


@contextmanager
def explaining_file_errors(path: Warehouse) -> Iterator[None]:
    """Turn DuckDB's errors about the file itself (full disk, damaged blocks) into WarehouseUnreadable."""
    try:
        yield
    except duckdb.Error as exc:
        explained = explain_file_error(path, exc)
        if explained is exc:
            raise
        raise explained from exc


def explain_file_error(path: Warehouse, error: Exception) -> Exception:
    """A WarehouseUnreadable that says what to do, when `error` is DuckDB's about the file; else `error`.

    For a lake: an error about reaching its catalog or writing its data, explained; any other with
    the catalog password and S3 keys redacted."""
    if isinstance(path, DuckLake):
        return _explain_lake_failure(path, error)
    if not isinstance(error, duckdb.Error):
        return error
    text = str(error).lower()
    if isinstance(error, duckdb.IOException) or any(marker in text for marker in _FILE_PROBLEMS):
        explained = WarehouseUnreadable(_explain(Path(path).expanduser().absolute(), str(error)))
        explained.__cause__ = error
        return explained
    return error


def _explain_lake_failure(lake: DuckLake, error: Exception) -> Exception:
    """Like explain_file_error, for a lake."""
    if isinstance(error, duckdb.IOException | duckdb.ConnectionException):
        explained: Exception = explain_lake_error(lake, error, read_only=False)
    elif lake.redact(str(error)) != str(error):
        explained = (
            type(error)(lake.redact(str(error)))
            if isinstance(error, duckdb.Error)
            else (WarehouseUnreadable(lake.redact(str(error))))
        )
    else:
        return error
    explained.__cause__ = None
    explained.__suppress_context__ = True
    return explained


def _check_writable(path: Path) -> None:
    """Create the parent directory and make sure DuckDB can write the file and its .wal beside it."""
    if path.is_dir():
        raise WarehouseUnreadable(_explain(path, "is a directory"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise WarehouseUnreadable(_explain(path, f"Not a directory: {exc}")) from exc
    except OSError as exc:
        raise WarehouseUnreadable(_explain(path, f"cannot create the directory: {exc}")) from exc
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise WarehouseUnreadable(
            _explain(path, f"Permission denied: directory {path.parent} is not writable")
        )
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise WarehouseUnreadable(_explain(path, "Permission denied: the file is not readable and writable"))


def _process_lock(path: Path) -> threading.Lock:
    """The in-process lock that makes this process's writers to one file take turns."""
    with _process_locks_guard:
        return _process_locks.setdefault(path, threading.Lock())


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    """True when DuckDB refused the file because another connection holds it."""
    text = str(exc).lower()
    return any(marker in text for marker in _LOCK_CONFLICTS)


def _locked_message(path: Path, detail: str, waited: float, read_only: bool) -> str:
    """Who holds the file, why that blocks us, how long we waited and how to free it."""
    holder = _holder(detail)
    wanted = "read it" if read_only else "write it"
    return (
        f"warehouse file {path} is locked: {holder} holds it, and DuckDB allows one writer or many "
        f"readers per file, never both, so we cannot {wanted}. Waited {waited:.1f}s. To free it, close "
        f"your DuckDB session on this file (a duckdb CLI, a notebook, `retab-warehouse sql`) or wait for "
        f"the running sync to finish, then retry."
    )


def _holder(detail: str) -> str:
    """Who holds the file, from DuckDB's lock error."""
    match = _HOLDER.search(detail)
    if match:
        return f"process {match['pid']} ({match['program']})"
    if "unique file handle conflict" in detail.lower():
        return "another connection of this same process"
    return "another process"


def _explain(path: Path, detail: str) -> str:
    """A message that says what is wrong with the warehouse path and what to do about it."""
    text = detail.lower()
    if any(marker in text for marker in _CORRUPTION):
        problem = "is not a DuckDB database file, or it is corrupted"
        advice = (
            "move it aside (a sync rebuilds the warehouse from the API) "
            "or set RETAB_DUCKDB_PATH to another file"
        )
    elif "is a directory" in text:
        problem = "is a directory, not a file"
        advice = "set RETAB_DUCKDB_PATH to a file path such as warehouse/warehouse.duckdb"
    elif "not a directory" in text:
        problem = "has a parent that is a regular file, not a directory"
        advice = "set RETAB_DUCKDB_PATH to a path inside a directory"
    elif "permission denied" in text or "read-only file system" in text or "not writable" in text:
        problem = "cannot be written (permission denied or a read-only file system)"
        advice = (
            "make the file and its directory writable (DuckDB also writes a .wal file beside it) "
            "or set RETAB_DUCKDB_PATH to a writable location"
        )
    elif "version number" in text or "newer version" in text or "storage version" in text:
        return too_new_message(path, detail)
    elif "no space left" in text or "disk full" in text or "file too large" in text:
        problem = "cannot be written: the disk is full (or a file-size limit was reached)"
        advice = (
            "free some space (DuckDB needs room for the day being loaded, in a .wal file beside the "
            "warehouse) or set RETAB_DUCKDB_PATH to another disk"
        )
    else:
        problem = "cannot be opened"
        advice = "check the file and its directory, or set RETAB_DUCKDB_PATH to another file"
    return f"warehouse file {path} {problem}: {advice}. ({detail})"
