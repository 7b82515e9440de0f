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
P = TypeVar("P")


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
    client.ensure_pool(concurrency)

    def work(day: date, stats: WindowStats, cancelled: threading.Event) -> T:
        pages = client.iter_window_pages(endpoint, day, stats)
        guarded = guard_pages(pages, cancelled, f"{endpoint.name} {day.isoformat()}")
        try:
            return process(day, guarded, stats)
        finally:
            guarded.close()
            pages.close()

    tasks = [(day, WindowStats(endpoint=endpoint.name, day=day)) for day in days]
    for group in iter_task_groups(tasks, work, concurrency=concurrency, name=f"window-{endpoint.name}"):
        yield [WindowOutcome(task[0], task[1], result, error) for task, result, error in group]


Task = TypeVar("Task")


def iter_task_groups(
    tasks: Sequence[tuple[Task, WindowStats]],
    work: Callable[[Task, WindowStats, threading.Event], T],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    name: str = "window",
) -> Iterator[list[tuple[tuple[Task, WindowStats], T | None, BaseException | None]]]:
    """Run `work(task, stats, cancelled)` in at most `concurrency` threads, in the order given; yield
    the tasks that have finished each time the consumer asks (at least one), in their given order.
    A slot stays taken until the consumer has taken the task's outcome. Closing the generator early
    starts no further task and sets `cancelled` for the running ones, then waits for them."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency!r}")
    cancelled = threading.Event()
    order = {id(task): n for n, task in enumerate(tasks)}
    pending = iter(tasks)
    running: dict[Future[T], tuple[Task, WindowStats]] = {}

    def submit_next(pool: ThreadPoolExecutor) -> None:
        task = next(pending, None)
        if task is not None:
            running[pool.submit(work, task[0], task[1], cancelled)] = task

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=name) as pool:
        try:
            for _ in range(concurrency):
                submit_next(pool)
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                group = []
                for future in sorted(done, key=lambda f: order[id(running[f])]):
                    task = running.pop(future)
                    error = future.exception()
                    group.append((task, future.result() if error is None else None, error))
                yield group
                for _ in group:
                    submit_next(pool)  # the consumer has taken the outcomes: their slots are free
        finally:
            cancelled.set()  # only matters when the consumer stopped early or raised


def guard_pages(pages: Iterator[P], cancelled: threading.Event, label: str) -> Generator[P, None, None]:
    """Pass pages through, refusing to fetch another once `cancelled` is set."""
    return _iter_until_cancelled(pages, cancelled, label)


def _iter_until_cancelled(
    pages: Iterator[P], cancelled: threading.Event, label: str
) -> Generator[P, None, None]:
    """Pass pages through, refusing to fetch another once `cancelled` is set."""
    while True:
        if cancelled.is_set():
            raise WindowCancelled(f"{label}: abandoned because the consumer stopped early")
        page = next(pages, None)
        if page is None:
            return
        yield page
