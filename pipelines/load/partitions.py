"""Load: replace one (endpoint, day) partition in one transaction, and keep retab.sync_log.

replace_partition() is the one function that owns a partition's transaction:

    BEGIN
      refuse if sync_log names a different source
      DELETE day D from the main table (+ workflow_run_documents) and from rejected_records
      INSERT ... SELECT FROM the spool's Arrow streams   (DuckDB scans them; no Python per row)
      if a count finds repeated keys: keep the last one appended
      UPDATE the attempt's sync_log row: outcome 'ok' and its figures
    COMMIT                       any exception: ROLLBACK, and day D is as it was before

Uniqueness of `id` is enforced here, per partition, rather than by a PRIMARY KEY: on duckdb 2.0.1
a delete + reinsert of a 1M-row day under a PRIMARY KEY ran at ~37k rows/s against ~550k without.
A run's created_date never changes, so unique per partition means unique per table.

On a DuckLake a transaction may fail at COMMIT on a conflict with another writer of the same tables
(pipelines.load.lake); every write here is then run again whole (`retry_conflicts`), and a day whose
retries run out fails alone with LakeConflict.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa

from pipelines.config import TUNING
from pipelines.endpoints import ENDPOINTS, REJECTED_TABLE, PartitionTable
from pipelines.errors import IncompletePartition, PartitionMismatch, SourceMismatch
from pipelines.figures import PartitionFigures
from pipelines.load.connections import interrupted
from pipelines.load.lake import retry_conflicts
from pipelines.load.memory import with_memory_to_spare
from pipelines.load.spool import Spool
from pipelines.schemas import TABLE_SCHEMAS

log = logging.getLogger(__name__)

SCHEMA = "retab"
_LOOPBACK_HOSTS = frozenset({"localhost", "::1", "ip6-localhost"})
_ERROR_MAX_CHARS = 4000


# The tables each endpoint's partitions replace, read from its descriptor (pipelines.endpoints).
PARTITION_TABLES: dict[str, tuple[PartitionTable, ...]] = {e.name: e.tables for e in ENDPOINTS.values()}


@dataclass
class SyncLogEntry(PartitionFigures):
    """One partition sync attempt as written to retab.sync_log: who, when, from where, and its figures."""

    sync_id: str
    endpoint: str  # "runs" | "experiment-runs"
    day: date
    started_at: datetime
    source: str  # the API base URL, never the key; stored normalised
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    mode: str | None = None  # what the sync did to the day: walk | resume | update | reconcile
    tail_cursor: str | None = None  # id of the newest record: where the next tail walk starts
    source_time: datetime | None = None  # the API's clock when the attempt's walk began

    @classmethod
    def start(
        cls, *, endpoint: str, day: date, source: str, pid: int | None = None, host: str | None = None
    ) -> SyncLogEntry:
        """A new attempt: fresh sync_id, started now."""
        return cls(
            sync_id=uuid.uuid4().hex,
            endpoint=endpoint,
            day=day,
            started_at=datetime.now(UTC),
            source=source,
            pid=os.getpid() if pid is None else pid,
            host=socket.gethostname() if host is None else host,
        )

    def finished(
        self,
        figures: PartitionFigures,
        *,
        tail_cursor: str | None = None,
        source_time: datetime | None = None,
    ) -> SyncLogEntry:
        """A copy carrying the figures of the finished fetch and flatten, the walk's tail cursor and
        the API's clock when it began."""
        values = vars(figures.figures())
        values["retries_by_cause"] = dict(values["retries_by_cause"])
        return dataclasses.replace(self, **values, tail_cursor=tail_cursor, source_time=source_time)


@dataclass
class PartitionLoad:
    """What the orchestrator hands over for one (endpoint, day).

    `replace`: the spool is the whole day. `update`: the spool holds new and changed records only,
    merged into the day by id, and `removed` lists ids the API no longer has.
    """

    endpoint: str
    day: date
    spool: Spool  # the endpoint's PARTITION_TABLES + rejected_records
    log: SyncLogEntry
    update: bool = False
    removed: Sequence[str] = ()
    rewalked_after: datetime | None = None  # update: records created after this were all walked again


def replace_partition(con: duckdb.DuckDBPyConnection, load: PartitionLoad) -> None:
    """Swap the day's rows for the spool's content and mark the attempt ok, in one transaction
    (run again whole on a lake's transaction conflict, or with more memory when DuckDB runs out)."""
    _check_load(load)
    what = f"{load.endpoint} {load.day}"

    def swap() -> None:
        with transaction(con):
            _swap(con, load)

    with_memory_to_spare(con, lambda: retry_conflicts(swap, what=what), what=what)


def replace_partitions(
    con: duckdb.DuckDBPyConnection,
    loads: Sequence[PartitionLoad],
    *,
    max_rows: int = TUNING.group_commit_rows,
) -> dict[int, Exception]:
    """Replace several partitions, each atomically; return the failures by position in `loads`.

    Small partitions share a transaction (up to `max_rows` rows), so that a burst of days finishing
    together pays one commit, not one each (a commit is a WAL fsync, ~20 ms here). When a shared
    transaction fails, nothing of it is kept and its partitions are replaced again one per
    transaction, so a bad partition fails alone and the others still land.
    """
    failures: dict[int, Exception] = {}
    for group in _commit_groups(loads, max_rows):
        if len(group) > 1:
            try:
                for n in group:
                    _check_load(loads[n])
                with transaction(con):
                    for n in group:
                        _swap(con, loads[n])
                continue
            except Exception as error:
                if interrupted(error):
                    raise KeyboardInterrupt from error
                log.warning(
                    "replacing %d partitions in one transaction failed (%s); replacing them one at a time",
                    len(group),
                    error,
                )
        for n in group:
            try:
                replace_partition(con, loads[n])
            except Exception as error:
                if interrupted(error):  # Ctrl-C while DuckDB ran a query: stop, not a bad day
                    raise KeyboardInterrupt from error
                failures[n] = error
    return failures


def _commit_groups(loads: Sequence[PartitionLoad], max_rows: int) -> list[list[int]]:
    """Consecutive positions of `loads`, grouped while their rows add up to at most max_rows."""
    groups: list[list[int]] = []
    rows = 0
    for n, load in enumerate(loads):
        size = load.spool.total_rows
        if groups and rows + size <= max_rows:
            groups[-1].append(n)
            rows += size
        else:
            groups.append([n])
            rows = size
    return groups


def _check_load(load: PartitionLoad) -> None:
    """Refuse a load whose log entry is for another partition, or whose page walk did not finish."""
    if load.log.endpoint != load.endpoint or load.log.day != load.day:
        raise ValueError(
            f"sync_log entry is for {load.log.endpoint} {load.log.day}, not {load.endpoint} {load.day}"
        )
    if not load.log.complete:
        raise IncompletePartition(
            f"{load.endpoint} {load.day}: the page walk did not reach the end of the listing; "
            f"refusing to replace the day with partial data"
        )


def _swap(con: duckdb.DuckDBPyConnection, load: PartitionLoad) -> None:
    """The statements of one partition's replacement, inside the caller's transaction."""
    if load.update:
        _merge(con, load)
        return
    tables = _partition_tables(load.endpoint)
    _check_source(con, load.log.source)
    main = tables[0]
    before = _keep_old_versions(con, main, load.day)
    repeats = True  # the main table is always checked
    for table in tables:
        con.execute(delete_partition_sql(table.name, table.date_column), [load.day])
        _insert_spooled(con, table.name, load.spool, where=[(table.date_column, load.day)])
        # A document's key is (run id, start block id), the block ids being the keys of one run's
        # `inputs.documents`: documents can only repeat where runs did, so the check (a hash
        # table the size of the day, ~35 MB for 1M runs) runs only then.
        if repeats:
            repeats = _drop_duplicates(con, table, load.day)
    con.execute(delete_rejected_sql(), [load.endpoint, load.day])
    _insert_spooled(con, REJECTED_TABLE, load.spool, where=[("endpoint", load.endpoint), ("day", load.day)])
    _drop_repeated_rejections(con, load)
    _count_changes(con, main, load, before)
    _write_sync_ok(con, load.log, finished_at=datetime.now(UTC))


_OLD = "_retab_old_versions"
_DELTA = "_retab_delta"


def _keep_old_versions(con: duckdb.DuckDBPyConnection, table: PartitionTable, day: date) -> int:
    """Before a day is replaced: its ids and a hash of each record, to count what the swap changed."""
    row = con.execute(
        f"SELECT count(*) FROM {_qualified(table.name)} WHERE {quote_ident(table.date_column)} = ?", [day]
    ).fetchone()
    count = int(row[0]) if row else 0
    if count:  # a first load of the day has nothing to compare with, and pays nothing
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_OLD} AS SELECT id, hash(raw) AS h FROM {_qualified(table.name)} "
            f"WHERE {quote_ident(table.date_column)} = ?",
            [day],
        )
    return count


def _count_changes(
    con: duckdb.DuckDBPyConnection, table: PartitionTable, load: PartitionLoad, before: int
) -> None:
    """Rows added, changed and removed by a replacement, into the load's figures."""
    log_entry = load.log
    log_entry.rows = _day_rows(con, table, load.day)
    if not before:
        log_entry.added, log_entry.changed, log_entry.removed = log_entry.rows, 0, 0
        return
    row = con.execute(
        f"""
        SELECT count(*) FILTER (WHERE o.id IS NULL),
               count(*) FILTER (WHERE o.id IS NOT NULL AND o.h <> hash(n.raw)),
               (SELECT count(*) FROM {_OLD}) - count(o.id)
        FROM {_qualified(table.name)} n LEFT JOIN {_OLD} o ON o.id = n.id
        WHERE n.{quote_ident(table.date_column)} = ?
        """,
        [load.day],
    ).fetchone()
    assert row is not None
    log_entry.added, log_entry.changed, log_entry.removed = (int(v) for v in row)
    con.execute(f"DROP TABLE IF EXISTS {_OLD}")


def _drop_repeated_rejections(con: duckdb.DuckDBPyConnection, load: PartitionLoad) -> None:
    """Keep one copy of a rejected record delivered twice (a record without a usable id cannot be
    told apart from another by the walk: both ends of a day may bring it), and count what is kept."""
    table = _qualified(REJECTED_TABLE)
    if not load.spool.rows(REJECTED_TABLE):
        return
    con.execute(
        f"DELETE FROM {table} WHERE endpoint = ? AND day = ? AND rowid IN ("
        f"SELECT rowid FROM (SELECT rowid, row_number() OVER ("
        f"PARTITION BY record_id, reason, raw ORDER BY rowid) AS n "
        f"FROM {table} WHERE endpoint = ? AND day = ?) WHERE n > 1)",
        [load.endpoint, load.day, load.endpoint, load.day],
    )
    row = con.execute(
        f"SELECT count(*) FROM {table} WHERE endpoint = ? AND day = ?", [load.endpoint, load.day]
    ).fetchone()
    if not load.update:
        load.log.rejected = int(row[0]) if row else 0


def _day_rows(con: duckdb.DuckDBPyConnection, table: PartitionTable, day: date) -> int:
    row = con.execute(
        f"SELECT count(*) FROM {_qualified(table.name)} WHERE {quote_ident(table.date_column)} = ?", [day]
    ).fetchone()
    return int(row[0]) if row else 0


def _merge(con: duckdb.DuckDBPyConnection, load: PartitionLoad) -> None:
    """Merge new and changed records into a day by id, and drop the removed ones (in the caller's
    transaction): every table's rows for those ids are replaced, the rest of the day is untouched."""
    tables = _partition_tables(load.endpoint)
    _check_source(con, load.log.source)
    main = tables[0]
    day = load.day
    con.register("_retab_delta_stream", arrow_stream(load.spool.reader(main.name)))
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_DELTA} AS SELECT * FROM _retab_delta_stream")
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister("_retab_delta_stream")
    rejected = load.spool.reader(REJECTED_TABLE).read_all().column("record_id").to_pylist()
    rejected_ids = [r for r in rejected if r is not None]
    vanished = list(load.removed)
    if load.rewalked_after is not None:  # the walk re-read this part of the day: what it lacks is gone
        vanished += [
            run_id
            for (run_id,) in con.execute(
                f"SELECT id FROM {_qualified(main.name)} WHERE {quote_ident(main.date_column)} = ? "
                f"AND created_at > ? AND id NOT IN (SELECT id FROM {_DELTA}) "
                f"AND NOT list_contains(?::VARCHAR[], id)",
                [day, load.rewalked_after, rejected_ids],
            ).fetchall()
        ]
    gone = sorted({*vanished, *rejected_ids})
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_OLD} AS SELECT id, hash(raw) AS h FROM {_qualified(main.name)} "
        f"WHERE {quote_ident(main.date_column)} = ? "
        f"AND (id IN (SELECT id FROM {_DELTA}) OR list_contains(?::VARCHAR[], id))",
        [day, gone],
    )
    row = con.execute(
        f"""
        SELECT count(DISTINCT d.id) FILTER (WHERE o.id IS NULL),
               count(DISTINCT d.id) FILTER (WHERE o.id IS NOT NULL AND o.h <> hash(d.raw))
        FROM {_DELTA} d LEFT JOIN {_OLD} o ON o.id = d.id
        """
    ).fetchone()
    assert row is not None
    added, changed = int(row[0]), int(row[1])
    removed_row = con.execute(
        f"SELECT count(*) FROM {_OLD} "
        f"WHERE list_contains(?::VARCHAR[], id) AND id NOT IN (SELECT id FROM {_DELTA})",
        [vanished],
    ).fetchone()
    for table in tables:
        key = quote_ident(table.key[0])
        con.execute(
            f"DELETE FROM {_qualified(table.name)} WHERE {quote_ident(table.date_column)} = ? "
            f"AND ({key} IN (SELECT id FROM {_DELTA}) OR list_contains(?::VARCHAR[], {key}))",
            [day, gone],
        )
    cols = ", ".join(quote_ident(c) for c in TABLE_SCHEMAS[main.name].names)
    inserted = con.execute(
        f"INSERT INTO {_qualified(main.name)} ({cols}) SELECT {cols} FROM {_DELTA} "
        f"WHERE {quote_ident(main.date_column)} = ?",
        [day],
    ).fetchone()
    expected = load.spool.rows(main.name)
    if inserted is None or int(inserted[0]) != expected:
        raise PartitionMismatch(
            f"{main.name}: {expected - int(inserted[0] if inserted else 0)} of {expected} updated rows are "
            f"outside the partition ({main.date_column} = {day}); nothing was changed"
        )
    for table in tables[1:]:
        _insert_spooled(con, table.name, load.spool, where=[(table.date_column, day)])
    if load.spool.rows(REJECTED_TABLE) or gone:
        con.execute(
            f"DELETE FROM {_qualified(REJECTED_TABLE)} WHERE endpoint = ? AND day = ? "
            f"AND (record_id IN (SELECT id FROM {_DELTA}) OR list_contains(?::VARCHAR[], record_id))",
            [load.endpoint, day, gone],
        )
        where = [("endpoint", load.endpoint), ("day", day)]
        _insert_spooled(con, REJECTED_TABLE, load.spool, where=where)
        _drop_repeated_rejections(con, load)
    repeats = True
    for table in tables:
        if repeats:
            repeats = _drop_duplicates(con, table, day)
    con.execute(f"DROP TABLE IF EXISTS {_DELTA}")
    con.execute(f"DROP TABLE IF EXISTS {_OLD}")
    entry = load.log
    entry.rows = _day_rows(con, main, day)
    entry.added, entry.changed = added, changed
    entry.removed = int(removed_row[0]) if removed_row else 0
    _write_sync_ok(con, entry, finished_at=datetime.now(UTC))


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN; COMMIT when the block ends, ROLLBACK (and re-raise) when it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # a failed COMMIT has already rolled back
            con.execute("ROLLBACK")
        raise


def record_sync_start(con: duckdb.DuckDBPyConnection, entries: Sequence[SyncLogEntry]) -> None:
    """Write one 'running' sync_log row per attempt, so that a crash leaves a trace."""
    if not entries:
        return
    rows = [
        {**_sync_log_values(entry), "outcome": "running", "finished_at": None, "error": None}
        for entry in entries
    ]

    def insert() -> None:
        with transaction(con), bound_rows(con, rows) as source:
            con.execute(insert_rows_sql("sync_log", list(rows[0]), source))

    retry_conflicts(insert, what="recording the sync's start in sync_log")


def record_sync_failure(
    con: duckdb.DuckDBPyConnection, sync_id: str, error: str, finished_at: datetime
) -> None:
    """Mark an attempt failed, with its error (trimmed); the day's data is left as it was."""
    retry_conflicts(
        lambda: con.execute(
            update_by_sync_id_sql(["outcome", "error", "finished_at"]),
            ["failed", error[:_ERROR_MAX_CHARS], finished_at, sync_id],
        ),
        what="recording a failed attempt in sync_log",
    )


def mark_interrupted(con: duckdb.DuckDBPyConnection) -> int:
    """Turn 'running' rows of this host whose process is gone into 'interrupted'; return how many."""
    host = socket.gethostname()
    running = con.execute(
        f"SELECT sync_id, pid FROM {_qualified('sync_log')} WHERE outcome = 'running' AND host = ?", [host]
    ).fetchall()
    dead = [(sync_id, pid) for sync_id, pid in running if pid is not None and not _pid_alive(pid)]
    if not dead:
        return 0
    sql = (
        f"UPDATE {_qualified('sync_log')} SET outcome = 'interrupted', error = ? "
        f"WHERE sync_id = ? AND outcome = 'running'"
    )

    def update() -> None:
        with transaction(con):
            con.executemany(
                sql, [[f"process {pid} on {host} ended before the load finished", s] for s, pid in dead]
            )

    retry_conflicts(update, what="marking interrupted attempts in sync_log")
    return len(dead)


def check_source(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Raise SourceMismatch when the file already holds data loaded from another source."""
    _check_source(con, source)


def normalise_source(url: str) -> str:
    """scheme://host[:port][/path] in lower case, without credentials, query, trailing slash or /v1."""
    text = url.strip()
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or (scheme, port) in {("http", 80), ("https", 443)} else f"{host}:{port}"
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return f"{scheme}://{netloc}{path}"


def source_identity(url: str) -> str:
    """What must match between syncs: any loopback http:// URL is 'the simulator', whatever its port."""
    normalised = normalise_source(url)
    parts = urlsplit(normalised)
    if parts.scheme == "http" and _is_loopback(parts.hostname or ""):
        return "http://loopback (the simulator)"
    return normalised


# --- pure SQL builders: identifiers quoted, values always bound --------------------------------


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def delete_partition_sql(table: str, date_column: str) -> str:
    """DELETE one day of a table; binds (day)."""
    return f"DELETE FROM {_qualified(table)} WHERE {quote_ident(date_column)} = ?"


def delete_rejected_sql() -> str:
    """DELETE one (endpoint, day) of rejected_records; binds (endpoint, day)."""
    return f"DELETE FROM {_qualified(REJECTED_TABLE)} WHERE endpoint = ? AND day = ?"


def insert_scan_sql(table: str, source: str, columns: Sequence[str], where: Sequence[str]) -> str:
    """INSERT the named columns from a registered Arrow stream, keeping rows where each column = ?."""
    cols = ", ".join(quote_ident(c) for c in columns)
    condition = " AND ".join(f"{quote_ident(c)} = ?" for c in where) or "true"
    return (
        f"INSERT INTO {_qualified(table)} ({cols}) SELECT {cols} FROM {quote_ident(source)} WHERE {condition}"
    )


def duplicate_keys_sql(table: str, date_column: str, key: Sequence[str]) -> str:
    """Rows of a day minus distinct key hashes: 0 proves the key unique; binds (day).

    Hashing keeps the check's hash table to 8-byte values; a collision only costs a dedupe pass.
    """
    keys = ", ".join(quote_ident(c) for c in key)
    return (
        f"SELECT count(*) - count(DISTINCT hash({keys})) FROM {_qualified(table)} "
        f"WHERE {quote_ident(date_column)} = ?"
    )


def drop_duplicates_sql(table: str, date_column: str, key: Sequence[str]) -> str:
    """Delete all but the last inserted row of each repeated key in a day; binds (day, day)."""
    keys = ", ".join(quote_ident(c) for c in key)
    return (
        f"DELETE FROM {_qualified(table)} WHERE {quote_ident(date_column)} = ? AND rowid IN ("
        f"SELECT rowid FROM (SELECT rowid, row_number() OVER (PARTITION BY {keys} ORDER BY rowid DESC) AS n "
        f"FROM {_qualified(table)} WHERE {quote_ident(date_column)} = ?) WHERE n > 1)"
    )


def insert_rows_sql(table: str, columns: Sequence[str], source: str) -> str:
    """INSERT the named columns of every row of a registered table (bound_rows)."""
    cols = ", ".join(quote_ident(c) for c in columns)
    return f"INSERT INTO {_qualified(table)} ({cols}) SELECT {cols} FROM {quote_ident(source)}"


def update_from_rows_sql(table: str, columns: Sequence[str], source: str, *, key: str) -> str:
    """UPDATE the named columns from the row of a registered table (bound_rows) with the same key."""
    sets = ", ".join(f"{quote_ident(c)} = r.{quote_ident(c)}" for c in columns)
    return (
        f"UPDATE {_qualified(table)} SET {sets} FROM {quote_ident(source)} AS r "
        f"WHERE {_qualified(table)}.{quote_ident(key)} = r.{quote_ident(key)}"
    )


def update_by_sync_id_sql(columns: Sequence[str]) -> str:
    """UPDATE sync_log columns of one attempt; binds (values..., sync_id)."""
    sets = ", ".join(f"{quote_ident(c)} = ?" for c in columns)
    return f"UPDATE {_qualified('sync_log')} SET {sets} WHERE sync_id = ?"


# --- the steps of replace_partition (inside its transaction) -----------------------------------


def _partition_tables(endpoint: str) -> tuple[PartitionTable, ...]:
    try:
        return PARTITION_TABLES[endpoint]
    except KeyError:
        raise ValueError(
            f"unknown endpoint {endpoint!r}; expected one of {sorted(PARTITION_TABLES)}"
        ) from None


def _insert_spooled(
    con: duckdb.DuckDBPyConnection, table: str, spool: Spool, where: Sequence[tuple[str, object]]
) -> int:
    """Insert a spooled table by Arrow scan; every row must match `where` or the whole load fails."""
    source = f"_spool_{table}"
    expected = spool.rows(table)
    con.register(source, arrow_stream(spool.reader(table)))
    try:
        sql = insert_scan_sql(table, source, TABLE_SCHEMAS[table].names, [c for c, _ in where])
        row = con.execute(sql, [v for _, v in where]).fetchone()
    finally:
        with contextlib.suppress(duckdb.Error):  # in an aborted transaction; the original error matters
            con.unregister(source)
    inserted = int(row[0]) if row else 0
    if inserted != expected:
        wanted = ", ".join(f"{c} = {v}" for c, v in where)
        raise PartitionMismatch(
            f"{table}: {expected - inserted} of {expected} spooled rows are outside the partition "
            f"({wanted}); nothing was replaced"
        )
    return inserted


def arrow_stream(reader: pa.RecordBatchReader) -> object:
    """The reader as a bare Arrow C stream (a PyCapsule), for DuckDB to scan once.

    duckdb 1.5 scans a registered RecordBatchReader through pyarrow.dataset's Scanner, which reads
    up to 16 batches ahead on its own threads: ~420 MB of a 1M-run day held at once. A bare stream is
    pulled a batch at a time (peak RSS of that load 765 -> 277 MB in tests/load/bench_load.py; the
    1M-run day of make bench 915 -> 363 MB).
    """
    return reader.__arrow_c_stream__()


def _drop_duplicates(con: duckdb.DuckDBPyConnection, table: PartitionTable, day: date) -> bool:
    """Keep one row per key in the day (the last appended), when a count shows repeats; True if any."""
    row = con.execute(duplicate_keys_sql(table.name, table.date_column, table.key), [day]).fetchone()
    if not row or not row[0]:
        return False
    sql = drop_duplicates_sql(table.name, table.date_column, table.key)
    dropped = con.execute(sql, [day, day]).fetchone()
    if dropped and dropped[0]:
        log.warning("%s %s: dropped %d older copies of repeated keys", table.name, day, dropped[0])
    return True


def _write_sync_ok(con: duckdb.DuckDBPyConnection, entry: SyncLogEntry, finished_at: datetime) -> None:
    """Set the attempt's row to 'ok' with its figures; insert it when record_sync_start was skipped."""
    values = {**_sync_log_values(entry), "outcome": "ok", "finished_at": finished_at, "error": None}
    with bound_rows(con, [values]) as source:
        updates = [c for c in values if c != "sync_id"]
        row = con.execute(update_from_rows_sql("sync_log", updates, source, key="sync_id")).fetchone()
        if not row or not row[0]:
            con.execute(insert_rows_sql("sync_log", list(values), source))


_BOUND_ROWS = "_retab_bound_rows"


@contextlib.contextmanager
def bound_rows(con: duckdb.DuckDBPyConnection, rows: Sequence[dict[str, object]]) -> Iterator[str]:
    """Rows of Python values registered as one Arrow table, for a statement to read by name.

    A sync_log row is ~40 values, and duckdb 1.5 looks for pandas once for every bound parameter
    (is it a DataFrame? a pandas NA?): ~0.15 ms each where pandas is not installed, ~6 ms a row.
    Read from Arrow, the values are cast to the columns' types like parameters would be.
    """
    con.register(_BOUND_ROWS, pa.Table.from_pylist(list(rows)))
    try:
        yield _BOUND_ROWS
    finally:
        with contextlib.suppress(duckdb.Error):  # in an aborted transaction; the original error matters
            con.unregister(_BOUND_ROWS)


def _sync_log_values(entry: SyncLogEntry) -> dict[str, object]:
    """The sync_log columns an entry fills, by name: who and when, then every figure (pipelines.figures)."""
    return {
        "sync_id": entry.sync_id,
        "endpoint": entry.endpoint,
        "day": entry.day,
        "started_at": entry.started_at,
        **entry.to_columns(),
        "source": normalise_source(entry.source),
        "pid": entry.pid,
        "host": entry.host,
        "mode": entry.mode,
        "tail_cursor": entry.tail_cursor,
        "source_time": entry.source_time,
    }


def _check_source(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Compare the source with every source that has loaded data into this file."""
    wanted = source_identity(source)
    held = con.execute(
        f"SELECT DISTINCT source FROM {_qualified('sync_log')} WHERE outcome = 'ok' ORDER BY source"
    ).fetchall()
    others = [s for (s,) in held if source_identity(s) != wanted]
    if others:
        raise SourceMismatch(
            f"this warehouse file holds data from {', '.join(others)}, but you are syncing "
            f"{normalise_source(source)}: simulator and real-API data (or two accounts' APIs) must not mix. "
            f"Set RETAB_DUCKDB_PATH to another file for this source, or move this one aside."
        )


def _qualified(table: str) -> str:
    return f"{quote_ident(SCHEMA)}.{quote_ident(table)}"


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    return host in _LOOPBACK_HOSTS or host.startswith("127.") or host == "0:0:0:0:0:0:0:1"


def _pid_alive(pid: int) -> bool:
    """True when a process with this pid exists on this host and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")
