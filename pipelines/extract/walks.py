"""One day's listing walked from both ends at once, resumable from its cursors.

    oldest ──asc──►  ...  ◄──desc── newest        (then, for a day still open: asc from the newest)

The two walkers run in their own threads and meet in the middle. Each takes a record once: a
walker that meets a record the other took (or, after a resume, one past the other's frontier)
has crossed; the other stops, and the crosser finishes the crossing record's `created_at` group
(records tied on created_at may be ordered differently in the two directions), so that no
record is lost; a record taken twice at the seam is dropped at load by id. A day still open
gets a last asc walk from the newest record seen, which catches the runs created meanwhile.

`WalkCursors` is where a walk stands after each page; saved in a checkpoint, it lets a later walk
go on from there (pipelines.load.checkpoints).
"""

from __future__ import annotations

import dataclasses
import itertools
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pipelines.extract.pagination import Page

ASC, DESC, TAIL = "asc", "desc", "tail"
Key = Callable[[dict[str, Any]], Any]  # a record's created_at, comparable (None when unreadable)
ListPages = Callable[[str, str | None], Iterator[Page]]  # (order, after cursor) -> pages


@dataclass
class WalkCursors:
    """Where one day's walk stands: each end's last record (id and created_at), done or not."""

    asc: str | None = None
    asc_key: str | None = None  # created_at (ISO) of that record
    asc_done: bool = False
    desc: str | None = None
    desc_key: str | None = None
    desc_done: bool = True  # a one-ended walk never starts its desc end
    newest: str | None = None  # the newest record seen: where a later tail walk starts
    tail_done: bool = True  # a closed day needs no tail walk

    @classmethod
    def fresh(cls, *, two_ended: bool, open_day: bool) -> WalkCursors:
        """A walk not begun."""
        return cls(desc_done=not two_ended, tail_done=not open_day)

    @property
    def done(self) -> bool:
        """Every part of the walk has finished."""
        return self.asc_done and self.desc_done and self.tail_done

    def to_json(self) -> dict[str, Any]:
        """For a checkpoint's manifest."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WalkCursors:
        """Read back from a manifest; unknown keys are an error (a manifest of another version)."""
        return cls(**data)


@dataclass
class WalkPage:
    """Records to keep from one page, and the walk's cursors once they are kept."""

    records: list[dict[str, Any]]
    cursors: WalkCursors
    nbytes: int


class _Seam:
    """What both walkers share: the ids each took, their frontiers, and who has stopped."""

    def __init__(self, cursors: WalkCursors, key: Key) -> None:
        self.lock = threading.Lock()
        self.handover = threading.Lock()
        self.cursors = cursors
        self.key = key
        # hashes of ids taken by each end in this process; after a resume, each end's last id
        self.taken: dict[str, set[int]] = {
            ASC: {hash(cursors.asc)} if cursors.asc else set(),
            DESC: {hash(cursors.desc)} if cursors.desc else set(),
        }
        self.tie: dict[str, Any] = {}  # end -> the created_at group it is finishing after crossing
        self.desc_low: Any = cursors.desc_key  # the lowest created_at the desc end has taken

    def keep(self, end: str, page: Page) -> WalkPage | None:
        """The records of `end`'s page the walk keeps; None once `end` has stopped."""
        other = DESC if end == ASC else ASC
        c = self.cursors
        with self.lock:
            if getattr(c, f"{end}_done"):
                return None
            if end == DESC and not self._descending(page):
                c.desc_done = True  # the server does not list newest first: the asc end walks alone
                return None
            if end == DESC and c.desc is None and self._starts_at_oldest(page):
                c.desc_done = True  # its "newest" record is one the asc end began with: `order` ignored
                return None
            kept: list[dict[str, Any]] = []
            stop = False
            for record in page.records:
                record_id = record.get("id")
                if not isinstance(record_id, str):  # kept (the flattener rejects it), never a seam
                    kept.append(record)
                    continue
                h = hash(record_id)
                key = self.key(record)
                if end in self.tie:
                    if key != self.tie[end]:
                        stop = True
                        break
                elif h in self.taken[other] or self._beyond(end, key):
                    self.tie[end] = key  # crossed: the other end stops; this one finishes the group
                    setattr(c, f"{other}_done", True)
                    if h in self.taken[other]:
                        continue
                if h in self.taken[end] or h in self.taken[other]:
                    continue
                self.taken[end].add(h)
                kept.append(record)
            self._advance(end, page, kept)
            if stop or page.after is None:
                setattr(c, f"{end}_done", True)
            if end == ASC and page.after is None and not stop and end not in self.tie:
                c.desc_done = True  # the asc end reached the newest record: nothing is left for desc
            if end == DESC and page.after is None and not stop and end not in self.tie:
                c.asc_done = True
            return WalkPage(kept, dataclasses.replace(c), page.nbytes)

    def _descending(self, page: Page) -> bool:
        """Whether a desc page really goes from newer to older (and continues the previous one): a
        server that ignores `order` would otherwise make both ends walk from the oldest and "meet"
        at once, leaving the rest of the day unwalked."""
        keys = [k for r in page.records if isinstance(r.get("id"), str) and (k := self.key(r)) is not None]
        if self.desc_low is not None:
            keys.insert(0, self.desc_low)
        if any(a < b for a, b in itertools.pairwise(keys)):
            return False
        if keys:
            self.desc_low = keys[-1]
        return True

    def _starts_at_oldest(self, page: Page) -> bool:
        """The desc end's first page begins with a record the asc end already took, while the asc end
        is still walking: no real newest-first listing does that (the desc end starts only once the
        asc end has seen more than a page)."""
        first = next((r["id"] for r in page.records if isinstance(r.get("id"), str)), None)
        return first is not None and hash(first) in self.taken[ASC]

    def _beyond(self, end: str, key: Any) -> bool:
        """After a resume, the other end's earlier records are not in `taken`: its frontier tells."""
        c = self.cursors
        frontier = c.desc_key if end == ASC else c.asc_key
        if key is None or frontier is None:
            return False
        started = (c.desc if end == ASC else c.asc) is not None
        return started and (key > frontier if end == ASC else key < frontier)

    def _advance(self, end: str, page: Page, kept: list[dict[str, Any]]) -> None:
        c = self.cursors
        if not page.records:
            return
        last = page.records[-1]
        setattr(c, end, last.get("id"))
        setattr(c, f"{end}_key", self.key(last))
        if end == DESC and c.newest is None:
            c.newest = page.records[0].get("id")
        if end == ASC and page.after is None:
            c.newest = last.get("id")


def walk_day(
    list_pages: ListPages,
    cursors: WalkCursors,
    key: Key,
    *,
    still_open: Callable[[], bool] | None = None,
) -> Iterator[WalkPage]:
    """The day's records from `cursors` on: both ends at once when the desc end is not done, then
    a tail walk from the newest record when the day is open (`still_open`, asked once the ends
    have met: was the day not over when the walk began?). Closing the iterator stops the walkers."""
    seam = _Seam(dataclasses.replace(cursors), key)
    yield from _both_ends(list_pages, seam)
    c = seam.cursors
    if not c.tail_done and still_open is not None and not still_open():
        c.tail_done = True
        yield WalkPage([], dataclasses.replace(c), 0)
    if not c.tail_done:
        start = c.newest if c.newest is not None else c.asc
        for page in list_pages(ASC, start):
            if page.records:
                c.asc = page.records[-1].get("id")
                c.asc_key = key(page.records[-1])
                c.newest = c.asc
            if page.after is None:
                c.tail_done = True
            yield WalkPage(list(page.records), dataclasses.replace(c), page.nbytes)
        c.tail_done = True
        yield WalkPage([], dataclasses.replace(c), 0)


def _both_ends(list_pages: ListPages, seam: _Seam) -> Iterator[WalkPage]:
    """Pages of the asc and desc ends as they come, until both have stopped. The desc end starts
    once the asc end's first page shows there is more than a page (or at once after a resume)."""
    c = seam.cursors
    ends = [end for end in (ASC, DESC) if not getattr(c, f"{end}_done")]
    if not ends:
        return
    if len(ends) == 1:  # one end: walk it in this thread
        end = ends[0]
        for page in list_pages(end, getattr(c, end)):
            kept = seam.keep(end, page)
            if kept is None:
                break
            yield kept
        setattr(c, f"{end}_done", True)
        if end == ASC:
            c.desc_done = True
        yield WalkPage([], dataclasses.replace(c), 0)
        return
    out: queue.Queue[WalkPage | BaseException | str] = queue.Queue(maxsize=4)
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(end: str) -> None:
        thread = threading.Thread(target=run, args=(end,), name=f"walk-{end}", daemon=True)
        threads.append(thread)
        thread.start()

    def run(end: str) -> None:
        pages = list_pages(end, getattr(c, end))
        try:
            for page in pages:
                if stop.is_set():
                    return
                with seam.handover:  # kept and queued in one step: the queue's order is the keeping order
                    kept = seam.keep(end, page)
                    if kept is None:
                        return
                    if (
                        end == ASC
                        and not resumed
                        and len(threads) == 1
                        and page.after is not None
                        and not c.desc_done
                    ):
                        start(DESC)  # before this end can finish: the consumer counts the threads
                    _put(out, kept, stop)
            with seam.lock:
                setattr(c, f"{end}_done", True)  # its listing ended
                if end == ASC:
                    c.desc_done = True  # the asc end reached the newest record: nothing is left beyond
        except BaseException as error:  # handed to the consumer, which raises it
            _put(out, error, stop)
        finally:
            pages.close()  # type: ignore[attr-defined]
            _put(out, end, stop)

    resumed = c.desc is not None  # read before the asc end can start the desc end itself
    start(ASC)
    if resumed:
        start(DESC)
    try:
        finished = 0
        while finished < len(threads):
            item = out.get()
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, str):
                finished += 1
                continue
            yield item
        with seam.lock:
            last = WalkPage([], dataclasses.replace(c), 0)
        yield last
    finally:
        stop.set()
        for thread in list(threads):
            while thread.is_alive():
                _drain(out)
                thread.join(timeout=0.05)


def _put(out: queue.Queue[Any], item: Any, stop: threading.Event) -> None:
    """Hand an item to the consumer unless it has gone."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _drain(out: queue.Queue[Any]) -> None:
    while True:
        try:
            out.get_nowait()
        except queue.Empty:
            return
