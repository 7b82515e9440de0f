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
from datetime import datetime
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
    """What both walkers share: each end's frontier, and who has stopped.

    An end has taken (or passed) every record beyond its frontier key, and, at the frontier key
    itself, the ids in its frontier group: so "did the other end take this record?" needs no set
    of the day's ids (a day of 1M runs would hold ~70 MB of them), only the frontier's tie group.
    """

    def __init__(self, cursors: WalkCursors, key: Key) -> None:
        self.lock = threading.Lock()
        self.handover = threading.Lock()
        self.cursors = cursors
        self.key = key
        # after a resume, each end's frontier is its saved cursor (its group holds just that id)
        self.front: dict[str, Any] = {ASC: cursors.asc_key, DESC: cursors.desc_key}
        self.group: dict[str, set[int]] = {
            ASC: {hash(cursors.asc)} if cursors.asc else set(),
            DESC: {hash(cursors.desc)} if cursors.desc else set(),
        }
        self.loose: dict[str, set[int]] = {ASC: set(), DESC: set()}  # ids whose created_at is unreadable
        self.tie: dict[str, Any] = {}  # end -> the created_at group it is finishing after crossing
        self.desc_low: Any = cursors.desc_key  # the lowest created_at the desc end has listed

    def taken_by(self, end: str, record: dict[str, Any], key: Any = None) -> bool:
        """Whether `end` has taken (or walked past) this record (`key`: its created_at, if known)."""
        h, k = hash(record.get("id")), self.key(record) if key is None else key
        if k is None:
            return h in self.loose[end]
        front = self.front[end]
        if front is None:
            return False
        beyond = k > front if end == DESC else k < front
        return beyond or (k == front and h in self.group[end])

    def _take(self, end: str, record: dict[str, Any], key: Any = None) -> None:
        h, k = hash(record.get("id")), self.key(record) if key is None else key
        if k is None:
            self.loose[end].add(h)
        elif k != self.front[end]:
            self.front[end], self.group[end] = k, {h}
        else:
            self.group[end].add(h)

    def _clear_of(self, other: str, page: Page) -> bool:
        """Whether no record of the page can be one `other` took: the page, in its end's order,
        stays short of the other end's frontier."""
        records = [r for r in page.records if isinstance(r.get("id"), str)]
        front = self.front[other]
        if not records or (front is None and not self.loose[other]):
            return True
        first, last = self.key(records[0]), self.key(records[-1])
        if first is None or last is None or front is None or self.loose[other]:
            return False
        if other == DESC:  # the page is asc's
            return first <= last < front
        return first >= last > front

    def _take_page(self, end: str, records: list[dict[str, Any]]) -> None:
        """Move `end`'s frontier to the page's last key; its group: the page's records at that key."""
        ids = [r for r in records if isinstance(r.get("id"), str)]
        if not ids:
            return
        last = self.key(ids[-1])
        if last is None:
            for record in ids:
                self._take(end, record)
            return
        trailing = set()
        for record in reversed(ids):
            if self.key(record) != last:
                break
            trailing.add(hash(record["id"]))
        if last == self.front[end]:
            self.group[end] |= trailing
        else:
            self.front[end], self.group[end] = last, trailing

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
            if end not in self.tie and self._clear_of(other, page):
                kept = list(page.records)  # the usual page, far from the other end: 2 keys read, not 100
                self._take_page(end, kept)
                self._advance(end, page, kept)
                if page.after is None:
                    setattr(c, f"{end}_done", True)
                    setattr(c, f"{other}_done", True)  # this end reached the other's far side
                return WalkPage(kept, dataclasses.replace(c), page.nbytes)
            kept = []
            stop = False
            for record in page.records:
                if not isinstance(record.get("id"), str):  # kept (the flattener rejects it), never a seam
                    kept.append(record)
                    continue
                key = self.key(record)
                taken = self.taken_by(other, record, key)
                if end in self.tie:
                    if key != self.tie[end]:
                        stop = True
                        break
                elif taken:
                    self.tie[end] = key  # crossed: the other end stops; this one finishes the group
                    setattr(c, f"{other}_done", True)
                if taken:
                    continue
                self._take(end, record, key)
                kept.append(record)
            self._advance(end, page, kept)
            if stop or page.after is None:
                setattr(c, f"{end}_done", True)
            if end == ASC and page.after is None and not stop and end not in self.tie:
                c.desc_done = True  # the asc end reached the newest record: nothing is left for desc
            if end == DESC and page.after is None and not stop and end not in self.tie:
                c.asc_done = True
            if end == DESC and not c.desc_done and not self.tie and self._asc_within_a_page(page):
                c.desc_done = True  # the asc end's next page reaches here: one request, not two at once
            return WalkPage(kept, dataclasses.replace(c), page.nbytes)

    def _asc_within_a_page(self, page: Page) -> bool:
        """Whether the gap left between the two ends spans less time than the desc end's last page:
        the asc end's next page then most likely closes it, and a desc request would only double it.
        Only the desc end steps back (the asc end walks on until it meets the desc end's records),
        so a wrong guess costs a page's wait, never a record."""
        low, high = self.front[ASC], self.front[DESC]
        keys = [k for r in page.records if (k := self.key(r)) is not None]
        if low is None or high is None or len(keys) < 2:
            return False
        try:
            gap = _instant(high) - _instant(low)
            span = _instant(keys[0]) - _instant(keys[-1])
        except (TypeError, ValueError):
            return False
        return gap <= span

    def _descending(self, page: Page) -> bool:
        """Whether a desc page really goes from newer to older (and continues the previous one): a
        server that ignores `order` would otherwise make both ends walk from the oldest and "meet"
        at once, leaving the rest of the day unwalked."""
        records = [r for r in page.records if isinstance(r.get("id"), str)]
        keys = [k for r in records[:1] + records[-1:] if (k := self.key(r)) is not None]
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
        first = next((r for r in page.records if isinstance(r.get("id"), str)), None)
        return first is not None and self.taken_by(ASC, first)

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
            while not getattr(c, f"{end}_done"):  # checked before each request: a stopped end asks no more
                page = next(pages, None)
                if page is None:
                    break
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


def _instant(key: Any) -> datetime:
    """A created_at key (pipelines.transform.timestamps.created_key) as a datetime."""
    return datetime.fromisoformat(str(key).replace("Z", "+00:00"))


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
