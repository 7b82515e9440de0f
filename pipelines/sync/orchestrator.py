"""One sync: each (endpoint, day) task is fetched, flattened, spooled and loaded.

    plan ──► open writer briefly: migrate, check source, read day states (sync.plan), find
      │      trusted checkpoints, log 'running' rows
      ▼   (worker threads, `concurrency` tasks of both endpoints at once; sync.tasks)
    WALK: both ends of the day ─► flatten ─► spool, checkpointed every 50 pages
    UPDATE: tail walk + one GET per open run ─► flatten ─► spool
      │
      ▼   (caller's thread, as each task completes)
    open writer ─► replace (WALK) or merge by id (UPDATE) the partition in one transaction ─► close
                   ─► remove the day's checkpoint

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
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from pipelines.config import (
    DEFAULT_DUCKDB_PATH,
    TUNING,
    DuckLake,
    Settings,
    Tuning,
    Warehouse,
    partitions_start,
)
from pipelines.endpoints import ENDPOINTS, Endpoint
from pipelines.errors import classify
from pipelines.extract.client import ClientConfig, Page, RetabClient, WindowStats
from pipelines.extract.windows import iter_task_groups
from pipelines.figures import PartitionFigures
from pipelines.load.checkpoints import (
    Checkpoint,
    checkpoint_folder,
    checkpoint_root,
    discard,
    find_checkpoint,
    prune,
)
from pipelines.load.connections import explain_file_error, interrupted, open_writer
from pipelines.load.legacy import ambiguous_name, move_old_default
from pipelines.load.partitions import (
    PartitionLoad,
    SyncLogEntry,
    check_source,
    mark_interrupted,
    record_sync_failure,
    record_sync_start,
    replace_partitions,
    source_identity,
)
from pipelines.load.spool import release_arrow_memory
from pipelines.load.state import day_states, last_reconciled
from pipelines.load.views import create_views
from pipelines.sync.collector import relaxed_collection
from pipelines.sync.interrupts import Interrupts, noticing_interrupts
from pipelines.sync.plan import INCREMENTAL, REFRESH, DayTask, plan_sync
from pipelines.sync.tasks import ProgressCallback, SpooledWindow, TaskRunner, batched_pages

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
    took `slow_page_seconds` or more to come (pipelines.sync.tasks.batched_pages)."""
    for records, _ in batched_pages(
        pages, size, slow_size=slow_size, slow_page_seconds=slow_page_seconds, clock=clock
    ):
        if records:
            yield records


def plan_tasks(
    con: duckdb.DuckDBPyConnection,
    endpoints: Sequence[Endpoint],
    days: Sequence[date] | None,
    *,
    mode: str,
    today: date,
    horizon_days: int | None = None,
    refresh_open: bool = False,
    reconcile_days: int | None = None,
) -> list[DayTask]:
    """The tasks of a sync, planned from the warehouse's day states (pipelines.sync.plan.plan_sync)."""
    states = {e.name: day_states(con, e.name) for e in endpoints}
    reconciled = last_reconciled(con)
    return plan_sync(
        endpoints,
        states,
        days,
        mode=mode,
        today=today,
        now=datetime.now(UTC),
        first_day=partitions_start(),
        horizon_days=horizon_days,
        refresh_open=refresh_open,
        reconcile_days=reconcile_days,
        last_reconcile=reconciled,
    )


def sync(
    settings: Settings,
    endpoints: Sequence[Endpoint],
    days: Sequence[date] | None,
    *,
    mode: str = REFRESH,
    refresh_open: bool = False,
    reconcile_days: int | None = None,
    progress: ProgressCallback | None = None,
    on_partition: Callable[[PartitionResult], None] | None = None,
    on_plan: Callable[[Sequence[DayTask]], None] | None = None,
    client: RetabClient | None = None,
    today: date | None = None,
) -> SyncReport:
    """Bring the (endpoint, day) partitions the plan names up to date (`plan_tasks`); a failure
    leaves its day as it was. `days` None is the nightly: everything that needs it."""
    settings.require_key()
    with noticing_interrupts() as interrupts:  # Ctrl-C that DuckDB swallowed: stop at the next load
        _check_file_name(settings.duckdb_path)
        today = today or datetime.now(UTC).date()
        source = client_config(settings).base_url if client is None else client.config.base_url
        root = checkpoint_root(settings.duckdb_path)
        with open_writer(settings.duckdb_path, lock_wait=settings.lock_wait) as con:
            check_source(con, source)
            mark_interrupted(con)
            create_views(con)
            tasks = plan_tasks(
                con,
                endpoints,
                days,
                mode=mode,
                today=today,
                horizon_days=settings.settle_horizon_days,
                refresh_open=refresh_open,
                reconcile_days=reconcile_days,
            )
            entries = {
                (t.endpoint.name, t.day): SyncLogEntry.start(
                    endpoint=t.endpoint.name, day=t.day, source=source, pid=os.getpid(), host=_host()
                )
                for t in tasks
            }
            saved = _trusted_checkpoints(con, root, tasks, source, settings.tuning)
            for task in tasks:
                entry = entries[(task.endpoint.name, task.day)]
                entry.mode = "resume" if (task.endpoint.name, task.day) in saved else task.mode
            record_sync_start(con, list(entries.values()))
            settled = _up_to_date(con, endpoints, days, tasks)
        interrupts.check()
        if on_plan is not None:
            on_plan(tasks)

        report = SyncReport()
        for result in settled:
            _report(result, report, on_partition)
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
                runner = TaskRunner(
                    client,
                    tuning=settings.tuning,
                    spill_dir=Path(spill),
                    checkpoint_root=root,
                    source=source_identity(source),
                    checkpoints=saved,
                    progress=progress,
                    ranks={(t.endpoint.name, t.day): n for n, t in enumerate(tasks)},
                    concurrency=settings.concurrency,
                )
                _run_tasks(settings, client, runner, tasks, entries, report, on_partition, interrupts)
        finally:
            prune(root)
            if own_client:
                client.close()
        interrupts.check()
    return report


def _up_to_date(
    con: duckdb.DuckDBPyConnection,
    endpoints: Sequence[Endpoint],
    days: Sequence[date] | None,
    tasks: Sequence[DayTask],
) -> list[PartitionResult]:
    """The days asked for that need nothing (an incremental sync of settled, complete days), as
    results with the rows they hold."""
    planned = {(t.endpoint.name, t.day) for t in tasks}
    results = []
    for endpoint in endpoints:
        idle = [d for d in sorted(set(days or ())) if (endpoint.name, d) not in planned]
        if not idle:
            continue
        counts = dict(
            con.execute(
                f"SELECT created_date, count(*) FROM retab.{endpoint.table} "
                "WHERE created_date IN (SELECT unnest(?::DATE[])) GROUP BY 1",
                [idle],
            ).fetchall()
        )
        for d in idle:
            rows = int(counts.get(d, 0))
            results.append(PartitionResult(endpoint.name, d, ok=True, complete=True, rows=rows))
    return results


def _trusted_checkpoints(
    con: duckdb.DuckDBPyConnection, root: Path, tasks: Sequence[DayTask], source: str, tuning: Tuning
) -> dict[tuple[str, date], Checkpoint]:
    """The checkpoints of the walks planned that can be resumed; the others are discarded."""
    found: dict[tuple[str, date], Checkpoint] = {}
    max_age = timedelta(hours=tuning.checkpoint_max_age_hours)
    now = datetime.now(UTC)
    committed = {
        (endpoint, day): at
        for endpoint, day, at in con.execute(
            "SELECT endpoint, day, max(started_at) FROM retab.sync_log WHERE outcome = 'ok' GROUP BY ALL"
        ).fetchall()
    }
    for task in tasks:
        if not task.walks:
            continue
        key = (task.endpoint.name, task.day)
        folder = checkpoint_folder(root, *key)
        if not folder.exists():
            continue
        checkpoint = find_checkpoint(
            folder, source=source_identity(source), now=now, max_age=max_age, committed_at=committed.get(key)
        )
        if checkpoint is not None:
            found[key] = checkpoint
    return found


def nightly_days(
    con: duckdb.DuckDBPyConnection,
    endpoints: Sequence[Endpoint],
    today: date,
    *,
    horizon_days: int | None = None,
) -> dict[str, list[date]]:
    """The days a sync with no dates brings up to date, reconciliation aside, per endpoint: what the
    Dagster nightly schedule requests (and `sync` itself does)."""
    tasks = plan_tasks(
        con, endpoints, None, mode=INCREMENTAL, today=today, horizon_days=horizon_days, reconcile_days=0
    )
    return {e.name: [t.day for t in tasks if t.endpoint.name == e.name] for e in endpoints}


def _check_file_name(path: Warehouse) -> None:
    """Move a warehouse left at the old default name; warn about a file named retab.duckdb."""
    if isinstance(path, DuckLake):
        return
    if path == Path(DEFAULT_DUCKDB_PATH):
        move_old_default(path)
    elif (warning := ambiguous_name(path)) is not None:
        log.warning(warning)


def _run_tasks(
    settings: Settings,
    client: RetabClient,
    runner: TaskRunner,
    tasks: Sequence[DayTask],
    entries: dict[tuple[str, date], SyncLogEntry],
    report: SyncReport,
    on_partition: Callable[[PartitionResult], None] | None,
    interrupts: Interrupts,
) -> None:
    """Fetch, flatten and load every task, both endpoints side by side within one budget of
    `concurrency` requests in flight. A fatal API error, an unreachable host or HTML instead of
    the API stops the rest of its endpoint's tasks (each would wait out the same retries), and
    they are reported failed with it. Tasks that finish together are loaded in one writer session."""
    client.ensure_pool(settings.concurrency * 2)
    client.limit_in_flight(settings.concurrency)
    fatal: dict[str, BaseException] = {}

    def work(task: DayTask, stats: WindowStats, cancelled: threading.Event) -> SpooledWindow:
        if task.endpoint.name in fatal:
            raise fatal[task.endpoint.name]
        return runner.run(task, stats, cancelled)

    pairs = [(t, WindowStats(endpoint=t.endpoint.name, day=t.day)) for t in tasks]
    groups = iter_task_groups(pairs, work, concurrency=settings.concurrency, name="day")
    try:
        for group in groups:
            ready: dict[str, list[ReadyWindow]] = {}
            for (task, stats), spooled, error in group:
                entry = entries[(task.endpoint.name, task.day)]
                if error is None and spooled is not None:
                    ready.setdefault(task.endpoint.name, []).append(ReadyWindow(task, stats, spooled, entry))
                    continue
                error = error or RuntimeError("the task produced nothing")
                result = _failed(task.endpoint, task.day, stats, error)
                _log_failure(settings, entry, error)
                if classify(error).stops_endpoint:
                    fatal.setdefault(task.endpoint.name, error)
                _report(result, report, on_partition)
            for windows in ready.values():
                for result in _load_together(settings, windows[0].task.endpoint, windows):
                    _report(result, report, on_partition)
            interrupts.check()
    finally:
        groups.close()  # type: ignore[attr-defined]


def _report(
    result: PartitionResult, report: SyncReport, on_partition: Callable[[PartitionResult], None] | None
) -> None:
    report.partitions.append(result)
    if on_partition is not None:
        on_partition(result)


@dataclass
class ReadyWindow:
    """A task fetched and spooled, with the sync_log entry its load completes."""

    task: DayTask
    stats: WindowStats
    spooled: SpooledWindow
    entry: SyncLogEntry

    @property
    def day(self) -> date:
        """The task's day."""
        return self.task.day


def _load_together(settings: Settings, endpoint: Endpoint, ready: list[ReadyWindow]) -> list[PartitionResult]:
    """Swap the ready windows into the warehouse in one writer session (one open, one checkpoint on
    close), each partition atomically (load.replace_partitions). A failure is reported, not raised:
    a partition that cannot be replaced fails alone; a session that cannot open, or whose close
    fails, fails the ones it held. A committed walk's checkpoint is removed; so is that of a walk
    whose load failed (it is not trusted twice)."""
    if not ready:
        return []
    results = [_result(endpoint, w.day, w.stats, w.spooled.totals) for w in ready]
    entries = [
        w.entry.finished(result, tail_cursor=w.spooled.tail_cursor, source_time=w.stats.source_time)
        for w, result in zip(ready, results, strict=True)
    ]
    loads = [
        PartitionLoad(
            endpoint=endpoint.name,
            day=w.day,
            spool=w.spooled.spool,
            log=entry,
            update=not w.task.walks,
            removed=w.spooled.removed,
            rewalked_after=w.spooled.rewalked_after,
        )
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
        if interrupted(error):
            raise KeyboardInterrupt from error
        for n, entry in enumerate(entries):
            if n not in failed:
                _fail(results[n], endpoint, error)
                _log_failure(settings, entry, error)
    for window, result, entry in zip(ready, results, entries, strict=True):
        if result.ok:
            for name in ("rows", "added", "changed", "removed", "rejected"):
                setattr(result, name, getattr(entry, name))
        if window.spooled.checkpoint is not None and (result.ok or entry.mode == "resume"):
            discard(window.spooled.checkpoint)
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
        gets=stats.gets,
        resumed_pages=totals.resumed_pages,
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
    """Spill next to the warehouse file when its folder exists (same disk), else (and for a lake)
    the system temp."""
    if isinstance(settings.duckdb_path, DuckLake):
        return None
    folder = settings.duckdb_path.resolve().parent
    return str(folder) if folder.is_dir() else None


def _host() -> str:
    return socket.gethostname()


def parse_endpoints(name: str) -> list[Endpoint]:
    """`runs`, `experiment-runs` or `all`."""
    return list(ENDPOINTS.values()) if name == "all" else [ENDPOINTS[name]]
