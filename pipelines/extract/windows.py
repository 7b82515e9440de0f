"""Several day windows fetched at once, each handed to a processor in its worker thread.

    caller thread                       worker threads (at most `concurrency`)
    iter_windows ── submit day ───────▶ process(day, pages, stats) ◀── client.iter_window_pages
         ◀──────── WindowOutcome ────── (records flow page by page into `process`)

A slot stays taken until the consumer has taken the window's outcome, so at most `concurrency`
windows (fetching, or finished and waiting) hold memory at any time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Generic, TypeVar

from pipelines.endpoints import Endpoint
from pipelines.errors import WindowCancelled
from pipelines.extract.client import DEFAULT_CONCURRENCY, Page, RetabClient, WindowStats

T = TypeVar("T")


@dataclass
class WindowOutcome(Generic[T]):
    """How one day window ended: the processor's result, or the error that stopped it."""

    day: date
    stats: WindowStats
    result: T | None
    error: BaseException | None

    @property
    def ok(self) -> bool:
        """True when the processor returned."""
        return self.error is None


def split_days(start: date, end: date) -> list[date]:
    """The days from `start` to `end`, both included."""
    if end < start:
        raise ValueError(f"the end day {end} is before the start day {start}")
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def iter_windows(
    client: RetabClient,
    endpoint: Endpoint,
    days: Sequence[date],
    process: Callable[[date, Iterator[Page], WindowStats], T],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> Iterator[WindowOutcome[T]]:
    """Run `process(day, pages, stats)` for each day in worker threads; yield outcomes as windows finish.

    A failing window does not stop the others: its outcome carries the error. Closing the generator
    early starts no further window and stops the running ones at their next page, then waits for them.
    """
    groups = iter_window_groups(client, endpoint, days, process, concurrency=concurrency)
    try:
        for group in groups:
            yield from group
    finally:
        groups.close()  # type: ignore[attr-defined]


def iter_window_groups(
    client: RetabClient,
    endpoint: Endpoint,
    days: Sequence[date],
    process: Callable[[date, Iterator[Page], WindowStats], T],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> Iterator[list[WindowOutcome[T]]]:
    """Like iter_windows, but each item is every window that had finished when the consumer asked,
    oldest day first (at least one), so that the consumer can handle them together (one writer
    session for several loads). Their slots are freed when the consumer asks for the next group.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency!r}")
    client.ensure_pool(concurrency)
    cancelled = threading.Event()
    pending = iter(days)
    running: dict[Future[T], tuple[date, WindowStats]] = {}

    def work(day: date, stats: WindowStats) -> T:
        pages = client.iter_window_pages(endpoint, day, stats)
        guarded = _iter_until_cancelled(pages, cancelled, f"{endpoint.name} {day.isoformat()}")
        try:
            return process(day, guarded, stats)
        finally:
            guarded.close()
            pages.close()

    def submit_next(pool: ThreadPoolExecutor) -> None:
        day = next(pending, None)
        if day is not None:
            stats = WindowStats(endpoint=endpoint.name, day=day)
            running[pool.submit(work, day, stats)] = (day, stats)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"window-{endpoint.name}") as pool:
        try:
            for _ in range(concurrency):
                submit_next(pool)
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                group = []
                for future in sorted(done, key=lambda f: running[f][0]):
                    day, stats = running.pop(future)
                    error = future.exception()
                    group.append(WindowOutcome(day, stats, future.result() if error is None else None, error))
                yield group
                for _ in group:
                    submit_next(pool)  # the consumer has taken the outcomes: their slots are free
        finally:
            cancelled.set()  # only matters when the consumer stopped early or raised


def _iter_until_cancelled(
    pages: Iterator[Page], cancelled: threading.Event, label: str
) -> Generator[Page, None, None]:
    """Pass pages through, refusing to fetch another once `cancelled` is set."""
    while True:
        if cancelled.is_set():
            raise WindowCancelled(f"{label}: abandoned because the consumer stopped early")
        page = next(pages, None)
        if page is None:
            return
        yield page
