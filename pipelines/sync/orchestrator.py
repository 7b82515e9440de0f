"""One sync: for each endpoint, day windows are fetched, flattened, spooled and loaded.

    plan ──► open writer briefly: migrate, check source, log 'running' rows, find open days
      │
      ▼   (worker threads, `concurrency` windows at once)
    fetch pages ─► flatten batches ─► spool (memory, then disk)
      │
      ▼   (caller's thread, as each window completes)
    open writer ─► replace the (endpoint, day) partition in one transaction ─► close

The writer holds the DuckDB file only while it loads, so readers get in between partitions.
The CLI and the Dagster assets both call `sync()`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.config import DEFAULT_DUCKDB_PATH, TUNING, Settings, Tuning
from pipelines.endpoints import ENDPOINTS, Endpoint
from pipelines.errors import classify
from pipelines.extract.client import ClientConfig, Page, RetabClient, WindowStats
from pipelines.extract.windows import iter_window_groups
from pipelines.figures import PartitionFigures
from pipelines.load.connections import explain_file_error, open_writer
from pipelines.load.legacy import ambiguous_name, move_old_default
from pipelines.load.partitions import (
    PartitionLoad,
    SyncLogEntry,
    check_source,
    mark_interrupted,
    record_sync_failure,
    record_sync_start,
    replace_partitions,
    unsettled_days,
)
from pipelines.load.spool import Spool, release_arrow_memory
from pipelines.load.views import create_views
from pipelines.schemas import TABLE_SCHEMAS
from pipelines.sync.collector import relaxed_collection
from pipelines.sync.turns import TurnTaking
from pipelines.transform import flattener

log = logging.getLogger(__name__)

# A sync spills into <warehouse folder>/retab-spool-<pid>@<host>-*; the next sync on the same host
# removes those of processes that are gone (killed before they could clean up).
SPILL_PREFIX = "retab-spool-"
_SPILL_NAME = re.compile(rf"^{SPILL_PREFIX}(?P<pid>\d+)@(?P<host>.+)-[a-z0-9_]+$")


@dataclass
class PartitionResult(PartitionFigures):
    """What happened to one (endpoint, day) partition: ok or not, and its figures."""

    endpoint: str
    day: date
    ok: bool
    error: str | None = None
    retryable: bool = True  # for a failure: may a later run get through? (pipelines.errors.classify)


@dataclass
class SyncReport:
    """Every partition a sync touched, in completion order."""

    partitions: list[PartitionResult] = field(default_factory=list)

    @property
    def failed(self) -> list[PartitionResult]:
        """Partitions that were not replaced (their previous content is intact)."""
        return [p for p in self.partitions if not p.ok]

    @property
    def ok(self) -> bool:
        """True when every partition was replaced."""
        return not self.failed


@dataclass
class SpooledWindow:
    """A window fetched and flattened, waiting for its load."""

    spool: Spool
    totals: PartitionFigures  # the record counts of its flattened batches
    synced_at: datetime


ProgressCallback = Callable[[str, date, int, int], None]  # (endpoint, day, pages, records) per page


def endpoint_tables(endpoint: Endpoint) -> dict[str, pa.Schema]:
    """The tables one endpoint's partitions fill, with their schemas."""
    return {name: TABLE_SCHEMAS[name] for name in endpoint.table_names}


def client_config(settings: Settings) -> ClientConfig:
    """The HTTP client's configuration from the sync settings."""
    return ClientConfig(
        api_key=settings.require_key(),
        base_url=settings.base_url,
        max_rps=settings.max_rps,
        max_attempts=settings.max_attempts,
        max_retry_seconds=settings.max_retry_seconds,
    )


def iter_batches(
    pages: Iterator[Page],
    size: int = TUNING.flatten_batch_records,
    *,
    slow_size: int = TUNING.slow_pages_batch_records,
    slow_page_seconds: float = TUNING.slow_page_seconds,
    clock: Callable[[], float] = time.perf_counter,
) -> Iterator[list[dict]]:
    """Regroup page records into batches of about `size` records, or `slow_size` after a page that
    took `slow_page_seconds` or more to come (the CPU is idle while the next one is awaited)."""
    pending: list[dict] = []
    while True:
        began = clock()
        page = next(pages, None)
        if page is None:
            break
        pending.extend(page.records)
        limit = slow_size if clock() - began >= slow_page_seconds else size
        if len(pending) >= limit:
            yield pending
            pending = []
    if pending:
        yield pending


def spool_window(
    endpoint: Endpoint,
    spill_dir: Path,
    progress: ProgressCallback | None,
    days: Sequence[date] = (),
    tuning: Tuning = TUNING,
) -> Callable[[date, Iterator[Page], WindowStats], SpooledWindow]:
    """A window processor for `iter_windows`: flatten the pages of one day into a spool. The windows
    flatten in turns, the earliest of `days` first (pipelines.sync.turns)."""
    flatten = flattener(endpoint)
    turns = TurnTaking()
    rank = {day: n for n, day in enumerate(days)}

    def process(day: date, pages: Iterator[Page], stats: WindowStats) -> SpooledWindow:
        synced_at = datetime.now(UTC)
        spool = Spool(endpoint_tables(endpoint), spill_dir=spill_dir, tuning=tuning)
        totals = PartitionFigures()
        try:
            batches = iter_batches(
                _reporting(pages, endpoint, day, stats, progress),
                tuning.flatten_batch_records,
                slow_size=tuning.slow_pages_batch_records,
                slow_page_seconds=tuning.slow_page_seconds,
            )
            for records in batches:
                with turns.turn(rank.get(day, len(rank))):
                    batch = flatten(records, day=day, synced_at=synced_at)
                    for name, table in batch.tables.items():
                        if table.num_rows:
                            spool.append(name, table)
                totals.add_counts(batch)
        except BaseException:
            spool.close()
            raise
        return SpooledWindow(spool, totals, synced_at)

    return process


def _reporting(
    pages: Iterator[Page],
    endpoint: Endpoint,
    day: date,
    stats: WindowStats,
    progress: ProgressCallback | None,
) -> Iterator[Page]:
    """Pass pages through, telling `progress` about each."""
    for page in pages:
        if progress is not None:
            progress(endpoint.name, day, 1, len(page.records))
        yield page


def plan_refresh_days(
    settings: Settings, endpoints: Sequence[Endpoint], today: date
) -> dict[str, list[date]]:
    """Days within the lookback that are not settled, per endpoint (load.unsettled_days)."""
    since = today - timedelta(days=settings.lookback_days)
    with open_writer(settings.duckdb_path, lock_wait=settings.lock_wait) as con:
        return {e.name: unsettled_days(con, e.name, since) for e in endpoints}


def sync(
    settings: Settings,
    endpoints: Sequence[Endpoint],
    days: Sequence[date],
    *,
    refresh_open: bool = False,
    progress: ProgressCallback | None = None,
    on_partition: Callable[[PartitionResult], None] | None = None,
    client: RetabClient | None = None,
    today: date | None = None,
) -> SyncReport:
    """Replace every (endpoint, day) partition asked for; failures leave their day as it was."""
    settings.require_key()
    _check_file_name(settings.duckdb_path)
    today = today or datetime.now(UTC).date()
    plan = {e.name: sorted(set(days)) for e in endpoints}
    if refresh_open:
        for name, extra in plan_refresh_days(settings, endpoints, today).items():
            plan[name] = sorted(set(plan[name]) | set(extra))

    source = client_config(settings).base_url if client is None else client.config.base_url
    entries = {
        (name, day): SyncLogEntry.start(endpoint=name, day=day, source=source, pid=os.getpid(), host=_host())
        for name, planned in plan.items()
        for day in planned
    }
    with open_writer(settings.duckdb_path, lock_wait=settings.lock_wait) as con:
        check_source(con, source)
        mark_interrupted(con)
        record_sync_start(con, list(entries.values()))
        create_views(con)

    report = SyncReport()
    own_client = client is None
    client = client or RetabClient(client_config(settings))
    try:
        spill_root = _spill_root(settings)
        remove_orphan_spills(Path(spill_root or tempfile.gettempdir()))
        prefix = f"{SPILL_PREFIX}{os.getpid()}@{_host()}-"
        with (
            tempfile.TemporaryDirectory(prefix=prefix, dir=spill_root) as spill,
            relaxed_collection(settings.tuning.gen0_threshold),
        ):
            for endpoint in endpoints:
                _sync_endpoint(
                    settings,
                    client,
                    endpoint,
                    plan[endpoint.name],
                    entries,
                    Path(spill),
                    progress,
                    report,
                    on_partition,
                )
    finally:
        if own_client:
            client.close()
    return report


def _check_file_name(path: Path) -> None:
    """Move a warehouse left at the old default name; warn about a file named retab.duckdb."""
    if path == Path(DEFAULT_DUCKDB_PATH):
        move_old_default(path)
    elif (warning := ambiguous_name(path)) is not None:
        log.warning(warning)


def _sync_endpoint(
    settings: Settings,
    client: RetabClient,
    endpoint: Endpoint,
    days: Sequence[date],
    entries: dict[tuple[str, date], SyncLogEntry],
    spill_dir: Path,
    progress: ProgressCallback | None,
    report: SyncReport,
    on_partition: Callable[[PartitionResult], None] | None,
) -> None:
    """Fetch, flatten and load one endpoint's days; a fatal API error, an unreachable host or HTML
    instead of the API stops the rest of them (each would wait out the same retries), and they are
    reported failed with it. Windows that finish together are loaded in one writer session."""
    groups = iter_window_groups(
        client,
        endpoint,
        days,
        spool_window(endpoint, spill_dir, progress, days, settings.tuning),
        concurrency=settings.concurrency,
    )
    fatal: BaseException | None = None
    try:
        for group in groups:
            ready: list[ReadyWindow] = []
            for outcome in group:
                entry = entries[(endpoint.name, outcome.day)]
                if outcome.error is None and outcome.result is not None:
                    ready.append(ReadyWindow(outcome.day, outcome.stats, outcome.result, entry))
                    continue
                error = outcome.error or RuntimeError("the window produced nothing")
                result = _failed(endpoint, outcome.day, outcome.stats, error)
                _log_failure(settings, entry, error)
                if classify(error).stops_endpoint:
                    fatal = fatal or error
                _report(result, report, on_partition)
            for result in _load_together(settings, endpoint, ready):
                _report(result, report, on_partition)
            if fatal is not None:
                break
    finally:
        groups.close()  # type: ignore[attr-defined]
    if fatal is not None:
        for day in days:
            if not any(p.endpoint == endpoint.name and p.day == day for p in report.partitions):
                report.partitions.append(
                    PartitionResult(
                        endpoint.name, day, ok=False, error=str(fatal), retryable=classify(fatal).retryable
                    )
                )
                _log_failure(settings, entries[(endpoint.name, day)], fatal)


def _report(
    result: PartitionResult, report: SyncReport, on_partition: Callable[[PartitionResult], None] | None
) -> None:
    report.partitions.append(result)
    if on_partition is not None:
        on_partition(result)


@dataclass
class ReadyWindow:
    """A window fetched and spooled, with the sync_log entry its load completes."""

    day: date
    stats: WindowStats
    spooled: SpooledWindow
    entry: SyncLogEntry


def _load_together(settings: Settings, endpoint: Endpoint, ready: list[ReadyWindow]) -> list[PartitionResult]:
    """Swap the ready windows into the warehouse in one writer session (one open, one checkpoint on
    close), each partition atomically (load.replace_partitions). A failure is reported, not raised:
    a partition that cannot be replaced fails alone; a session that cannot open, or whose close
    fails, fails the ones it held."""
    if not ready:
        return []
    results = [_result(endpoint, w.day, w.stats, w.spooled.totals) for w in ready]
    entries = [w.entry.finished(result) for w, result in zip(ready, results, strict=True)]
    loads = [
        PartitionLoad(endpoint=endpoint.name, day=w.day, spool=w.spooled.spool, log=entry)
        for w, entry in zip(ready, entries, strict=True)
    ]
    failed: dict[int, Exception] = {}
    try:
        with contextlib.ExitStack() as spools:
            for window in ready:
                spools.enter_context(window.spooled.spool)
            release_arrow_memory()  # the spools' freed pages back to the OS before DuckDB takes its share
            with open_writer(settings.duckdb_path, lock_wait=settings.lock_wait) as con:
                failed = replace_partitions(con, loads, max_rows=settings.tuning.group_commit_rows)
                for n, error in failed.items():
                    error = explain_file_error(settings.duckdb_path, error)
                    _fail(results[n], endpoint, error)
                    _record_failure(con, entries[n], error)
    except Exception as error:  # the session itself: opening, or the checkpoint on close
        for n, entry in enumerate(entries):
            if n not in failed:
                _fail(results[n], endpoint, error)
                _log_failure(settings, entry, error)
    return results


def _fail(result: PartitionResult, endpoint: Endpoint, error: BaseException) -> None:
    log.error("loading %s %s failed: %s", endpoint.name, result.day, error)
    result.ok = False
    result.error = str(error)
    result.retryable = classify(error).retryable


def _result(endpoint: Endpoint, day: date, stats: WindowStats, totals: PartitionFigures) -> PartitionResult:
    """The partition's figures: record counts from the flattener, the walk's from extract."""
    return PartitionResult(
        endpoint=endpoint.name,
        day=day,
        ok=True,
        rows=totals.rows,
        pages=stats.pages,
        retries_by_cause=dict(Counter(stats.retries)),
        rejected=totals.rejected,
        open_runs=totals.open_runs,
        unknown_fields=totals.unknown_fields,
        duplicates=stats.duplicates,  # every repeated id of the walk, once (dropped in flatten or load)
        bytes=stats.bytes,
        seconds=stats.seconds,
        complete=stats.complete,
    )


def _failed(
    endpoint: Endpoint, day: date, stats: WindowStats | None, error: BaseException
) -> PartitionResult:
    log.error("syncing %s %s failed: %s", endpoint.name, day, error)
    result = PartitionResult(
        endpoint=endpoint.name, day=day, ok=False, error=str(error), retryable=classify(error).retryable
    )
    if stats is not None:
        result.pages, result.bytes, result.seconds = stats.pages, stats.bytes, stats.seconds
        result.retries_by_cause = dict(Counter(stats.retries))
    return result


def _log_failure(settings: Settings, entry: SyncLogEntry, error: BaseException) -> None:
    """Mark the partition's sync_log row failed; if even that fails, say so in the log."""
    try:
        with open_writer(settings.duckdb_path, lock_wait=settings.lock_wait) as con:
            _record_failure(con, entry, error)
    except Exception as log_error:
        _could_not_record(entry, log_error)


def _record_failure(con: duckdb.DuckDBPyConnection, entry: SyncLogEntry, error: BaseException) -> None:
    """Like _log_failure, on a connection already open."""
    try:
        record_sync_failure(con, entry.sync_id, str(error), datetime.now(UTC))
    except Exception as log_error:
        _could_not_record(entry, log_error)


def _could_not_record(entry: SyncLogEntry, log_error: BaseException) -> None:
    log.warning("could not record the failure of %s %s in sync_log: %s", entry.endpoint, entry.day, log_error)


def remove_orphan_spills(root: Path) -> list[Path]:
    """Delete the spill directories of this host's syncs whose process is gone; return them."""
    removed = []
    for path in root.glob(f"{SPILL_PREFIX}*@*"):
        match = _SPILL_NAME.match(path.name)
        if match and match["host"] == _host() and path.is_dir() and not _process_exists(int(match["pid"])):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if removed:
        log.info("removed %d spill directories left by killed syncs in %s", len(removed), root)
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _spill_root(settings: Settings) -> str | None:
    """Spill next to the warehouse file when its folder exists (same disk), else the system temp."""
    folder = settings.duckdb_path.resolve().parent
    return str(folder) if folder.is_dir() else None


def _host() -> str:
    return socket.gethostname()


def parse_endpoints(name: str) -> list[Endpoint]:
    """`runs`, `experiment-runs` or `all`."""
    return list(ENDPOINTS.values()) if name == "all" else [ENDPOINTS[name]]
