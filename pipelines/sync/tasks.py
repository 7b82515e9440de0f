"""One day's fetch and flatten, for each kind of task (pipelines.sync.plan), into a spool.

    WALK / RECONCILE   both ends of the day at once (extract.walks), from a checkpoint if one is
                       trusted; saved every `checkpoint_pages` pages (WalkSaver)
    UPDATE             a tail walk from the newest record, then one GET per open run (404: removed)

Every task flattens in turns with the others (pipelines.sync.turns), the earliest first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from pipelines.config import Tuning
from pipelines.endpoints import Endpoint
from pipelines.errors import NotFound
from pipelines.extract.client import Page, RetabClient, WindowStats
from pipelines.extract.walks import ListPages, WalkCursors, WalkPage, walk_day
from pipelines.extract.windows import guard_pages
from pipelines.figures import PartitionFigures
from pipelines.load.checkpoints import (
    Checkpoint,
    Journal,
    checkpoint_folder,
    discard,
    journal_number,
    read_journal,
    save_checkpoint,
)
from pipelines.load.spool import Spool
from pipelines.schemas import TABLE_SCHEMAS
from pipelines.sync.plan import DayTask, day_end
from pipelines.sync.turns import TurnTaking
from pipelines.transform import flattener
from pipelines.transform.timestamps import created_key

ProgressCallback = Callable[[str, date, int, int], None]  # (endpoint, day, pages, records) per page


class HasRecords(Protocol):
    """A page, or a walk's page."""

    records: list[dict[str, Any]]


@dataclass
class SpooledWindow:
    """A task fetched and flattened, waiting for its load."""

    spool: Spool
    totals: PartitionFigures  # the record counts of its flattened batches
    synced_at: datetime
    tail_cursor: str | None = None  # the newest record's id, for the next tail walk
    removed: list[str] = field(default_factory=list)  # UPDATE: ids the API no longer has
    rewalked_after: datetime | None = None  # UPDATE: every record created after this was walked again
    checkpoint: Path | None = None  # the folder to remove once the load has committed


def endpoint_tables(endpoint: Endpoint) -> dict[str, pa.Schema]:
    """The tables one endpoint's partitions fill, with their schemas."""
    return {name: TABLE_SCHEMAS[name] for name in endpoint.table_names}


def batched_pages(
    pages: Iterator[Any],
    size: int,
    *,
    slow_size: int,
    slow_page_seconds: float,
    max_pages: int | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Iterator[tuple[list[dict[str, Any]], Any]]:
    """Regroup page records into batches of about `size` records, or `slow_size` after a page that
    took `slow_page_seconds` or more to come (the CPU is idle while the next one is awaited), or of
    `max_pages` pages; each batch with the last page it holds."""
    pending: list[dict[str, Any]] = []
    count = 0
    last = None
    while True:
        began = clock()
        page = next(pages, None)
        if page is None:
            break
        last = page
        pending.extend(page.records)
        count += 1
        limit = slow_size if clock() - began >= slow_page_seconds else size
        if len(pending) >= limit or (max_pages is not None and count >= max_pages):
            yield pending, last
            pending, count = [], 0
    if pending or count:
        yield pending, last


class WalkSaver:
    """A walk's checkpoints (pipelines.load.checkpoints): every `checkpoint_pages` pages the journal
    of the pages since the last durable segments and the cursors, handed to the OS (a killed
    process loses nothing of them); at the end of a flatten batch, once `durable_pages` have passed,
    the spool's segments instead, fsynced (a crashed machine loses at most those pages), and a new
    journal. fsyncs every 10 pages cost the flattener a fifth of its rate (bench flatten_load)."""

    def __init__(
        self,
        task: DayTask,
        folder: Path,
        spool: Spool,
        totals: PartitionFigures,
        stats: WindowStats,
        source: str,
        started_at: datetime,
        tuning: Tuning,
    ) -> None:
        self.task, self.folder, self.spool, self.totals, self.stats = task, folder, spool, totals, stats
        self.source, self.started_at, self.tuning = source, started_at, tuning
        self.segments: dict[str, list[tuple[str, int, int]]] = {}  # durable, as the manifest names them
        self.durable_figures = PartitionFigures()  # the counts of the rows in those segments
        self.journal: Journal | None = None
        self.resumed_pages = 0
        self.walked = 0  # pages walked through by this attempt
        self.since_saved = 0  # pages since the last manifest
        self.since_durable = 0  # pages since the segments were made durable
        self._next_journal = 0  # the number of the next journal file
        self._replayed: str | None = None  # a journal whose pages are flattened but not yet durable

    def resume(self, saved: Checkpoint) -> Iterator[list[dict[str, Any]]]:
        """Adopt a checkpoint's segments and figures; yield its journal's pages to flatten again."""
        for table, segments in saved.segments.items():
            for file_name, rows, _ in segments:
                self.spool.adopt(table, self.folder / file_name, rows)
        resumed = PartitionFigures.from_columns(saved.figures)
        self.totals.add_counts(resumed)
        self.resumed_pages = self.totals.resumed_pages = saved.pages
        if saved.journal is not None:
            self._next_journal = journal_number(saved.journal[0]) + 1
            self._replayed = saved.journal[0]
            yield from read_journal(self.folder, saved.journal)

    def journaled(self, pages: Iterator[WalkPage]) -> Iterator[WalkPage]:
        """Pass the walk's pages through, each journaled, the journal saved every checkpoint_pages."""
        for page in pages:
            journal = self._journal()
            journal.append(page.records)
            self.walked += 1
            self.since_saved += 1
            self.since_durable += 1
            if self.since_saved >= self.tuning.checkpoint_pages and not page.cursors.done:
                self._save(page.cursors, self.durable_figures.figures(), journal.flush(), fsync=False)
            yield page

    def batch_flattened(self, cursors: WalkCursors) -> None:
        """After a flatten batch: make the rows durable when durable_pages have passed."""
        if self.since_durable >= self.tuning.durable_pages and not cursors.done:
            self.make_durable(cursors)

    def make_durable(self, cursors: WalkCursors) -> None:
        """The spool's segments fsynced and named by a manifest with no journal; a new journal."""
        files = self.spool.checkpoint()
        self.segments = {
            table: [(f, rows, (self.folder / f).stat().st_size) for f, rows in names]
            for table, names in files.items()
        }
        self.durable_figures = self.totals.figures()
        self._save(cursors, self.durable_figures.figures(), None, fsync=True)
        self.since_durable = 0
        if self.journal is not None:
            self.journal.close()
            self._replayed, self.journal = self.journal.name, None
        if self._replayed is not None:  # its pages are in the segments now
            (self.folder / self._replayed).unlink(missing_ok=True)
            self._replayed = None

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()

    def _journal(self) -> Journal:
        if self.journal is None:
            self.journal = Journal(self.folder, self._next_journal)
            self._next_journal += 1
        return self.journal

    def _save(
        self, cursors: WalkCursors, figures: PartitionFigures, journal: tuple[str, int] | None, *, fsync: bool
    ) -> None:
        figures.pages = self.stats.pages
        save_checkpoint(
            self.folder,
            Checkpoint(
                endpoint=self.task.endpoint.name,
                day=self.task.day,
                source=self.source,
                started_at=self.started_at,
                saved_at=datetime.now(UTC),
                cursors=cursors.to_json(),
                figures=figures.to_columns(),
                segments=self.segments,
                pages=self.resumed_pages + self.walked,  # up to the cursors (not those fetched ahead)
                journal=journal,
            ),
            fsync=fsync,
        )
        self.since_saved = 0


class TaskRunner:
    """Fetches and flattens tasks in worker threads (iter_task_groups calls `run`)."""

    def __init__(
        self,
        client: RetabClient,
        *,
        tuning: Tuning,
        spill_dir: Path,
        checkpoint_root: Path,
        source: str,
        checkpoints: dict[tuple[str, date], Checkpoint],
        progress: ProgressCallback | None,
        ranks: dict[tuple[str, date], int],
        concurrency: int,
    ) -> None:
        self.client = client
        self.tuning = tuning
        self.spill_dir = spill_dir
        self.checkpoint_root = checkpoint_root
        self.source = source
        self.checkpoints = checkpoints
        self.progress = progress
        self.ranks = ranks
        self.turns = TurnTaking()
        self.concurrency = concurrency
        self._unfinished = len(ranks)  # tasks not finished yet: running, or waiting for a worker
        self._counting = threading.Lock()

    def run(self, task: DayTask, stats: WindowStats, cancelled: threading.Event) -> SpooledWindow:
        """Fetch and flatten one task."""
        started = time.monotonic()
        try:
            if task.walks:
                return self._walk(task, stats, cancelled)
            return self._update(task, stats, cancelled)
        finally:
            stats.seconds = time.monotonic() - started
            with self._counting:
                self._unfinished -= 1

    def _room_for_both_ends(self) -> bool:
        """Whether a walk may take a second stream: fewer tasks left than requests in flight. While
        more days wait than the budget holds, each day's one stream keeps the budget full, and a
        second would only add a seam's pages (bench.latency: 7 points of efficiency at 8 days)."""
        with self._counting:
            return self._unfinished < self.concurrency

    # --- WALK / RECONCILE ------------------------------------------------------------------

    def _walk(self, task: DayTask, stats: WindowStats, cancelled: threading.Event) -> SpooledWindow:
        name, day = task.endpoint.name, task.day
        folder = checkpoint_folder(self.checkpoint_root, name, day)
        saved = self.checkpoints.get((name, day))
        if saved is None:
            discard(folder)  # files of a walk that never saved a manifest
        synced_at = datetime.now(UTC)
        spool = Spool(
            endpoint_tables(task.endpoint), spill_dir=self.spill_dir, durable_dir=folder, tuning=self.tuning
        )
        totals = PartitionFigures()
        if saved is not None:
            cursors = WalkCursors.from_json(saved.cursors)
            started_at = saved.started_at
        else:
            cursors = WalkCursors.fresh(two_ended=self._room_for_both_ends(), open_day=True)
            started_at = synced_at
        saver = WalkSaver(task, folder, spool, totals, stats, self.source, started_at, self.tuning)

        def still_open() -> bool:  # by the API's clock: was the day not over when the walk began?
            return stats.source_time is None or stats.source_time < day_end(day)

        walk = walk_day(self._lister(task, stats, cancelled), cursors, created_key, still_open=still_open)
        final = cursors
        try:
            if saved is not None:
                for records in saver.resume(saved):
                    self._flatten(task, records, spool, totals, synced_at)
                saver.make_durable(cursors)
            for records, last in self._batches(saver.journaled(walk)):
                self._flatten(task, records, spool, totals, synced_at)
                final = last.cursors
                saver.batch_flattened(final)
        except BaseException:
            spool.close()
            raise
        finally:
            walk.close()  # type: ignore[attr-defined]
            saver.close()
        stats.complete = final.done
        return SpooledWindow(spool, totals, synced_at, tail_cursor=final.newest, checkpoint=folder)

    # --- UPDATE ----------------------------------------------------------------------------

    def _update(self, task: DayTask, stats: WindowStats, cancelled: threading.Event) -> SpooledWindow:
        name, day = task.endpoint.name, task.day
        synced_at = datetime.now(UTC)
        spool = Spool(endpoint_tables(task.endpoint), spill_dir=self.spill_dir, tuning=self.tuning)
        totals = PartitionFigures()
        removed: list[str] = []
        tail = task.tail_after
        try:
            if task.tail_after is not None:
                cursors = WalkCursors(asc=task.tail_after, desc_done=True, tail_done=True)
                pages = walk_day(self._lister(task, stats, cancelled), cursors, created_key)
                for records, last in self._batches(pages):
                    self._flatten(task, records, spool, totals, synced_at)
                    tail = last.cursors.asc or tail
            elif task.settle_ids:
                self.client.probe(task.endpoint, day)  # a 404 below then means "deleted", not "wrong URL"
            got: list[dict[str, Any]] = []
            for run_id in task.settle_ids:
                if cancelled.is_set():
                    raise InterruptedError(f"{name} {day}: abandoned because the consumer stopped early")
                try:
                    got.append(self.client.get_run(task.endpoint, run_id, stats))
                except NotFound:
                    removed.append(run_id)
                if len(got) >= self.tuning.flatten_batch_records:
                    self._flatten(task, got, spool, totals, synced_at)
                    got = []
            if got:
                self._flatten(task, got, spool, totals, synced_at)
        except BaseException:
            spool.close()
            raise
        stats.complete = True
        return SpooledWindow(
            spool, totals, synced_at, tail_cursor=tail, removed=removed, rewalked_after=task.rewalk_after
        )

    # --- shared ----------------------------------------------------------------------------

    def _lister(self, task: DayTask, stats: WindowStats, cancelled: threading.Event) -> ListPages:
        """The day's listing in either order from a cursor, reported to `progress`, cancellable."""

        def list_pages(order: str, after: str | None) -> Iterator[Page]:
            pages = self.client.iter_listing(task.endpoint, task.day, stats, order=order, after=after)
            return guard_pages(self._reporting(pages, task), cancelled, f"{task.endpoint.name} {task.day}")

        return list_pages

    def _batches(self, pages: Iterator[WalkPage]) -> Iterator[tuple[list[dict[str, Any]], WalkPage]]:
        t = self.tuning
        return batched_pages(
            pages,
            t.flatten_batch_records,
            slow_size=t.slow_pages_batch_records,
            slow_page_seconds=t.slow_page_seconds,
            max_pages=t.durable_pages,
        )

    def _flatten(
        self,
        task: DayTask,
        records: list[dict[str, Any]],
        spool: Spool,
        totals: PartitionFigures,
        synced_at: datetime,
    ) -> None:
        if not records:
            return
        flatten = flattener(task.endpoint)
        with self.turns.turn(self.ranks.get((task.endpoint.name, task.day), len(self.ranks))):
            batch = flatten(records, day=task.day, synced_at=synced_at)
            for table_name, table in batch.tables.items():
                if table.num_rows:
                    spool.append(table_name, table)
        totals.add_counts(batch)

    def _reporting(self, pages: Iterator[Page], task: DayTask) -> Iterator[Page]:
        """Pass pages through, telling `progress` about each."""
        for page in pages:
            if self.progress is not None:
                self.progress(task.endpoint.name, task.day, 1, len(page.records))
            yield page
