"""Turn-taking for the CPU-bound step of concurrent windows: one at a time, the oldest window first.

Windows run in threads so that their HTTP waits overlap, but their flattening is Python holding the
GIL: run side by side, every window advances at the same pace and all of them finish together,
after which their loads (DuckDB, which runs without the GIL) queue up with nothing left to overlap.
Taking turns, lowest rank first, lets the oldest window finish early and load while the next ones
are flattened, and spares the threads their fights over the GIL.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TurnTaking:
    """A lock whose waiters are served by rank (lowest first), then in arrival order."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._held = False
        self._waiting: list[tuple[int, int]] = []
        self._arrivals = itertools.count()

    @property
    def waiting(self) -> int:
        """Callers waiting for their turn now."""
        with self._condition:
            return len(self._waiting)

    @contextmanager
    def turn(self, rank: int) -> Iterator[None]:
        """Hold the lock for the block, once every waiter of a lower rank has had its turn."""
        ticket = (rank, next(self._arrivals))
        with self._condition:
            heapq.heappush(self._waiting, ticket)
            while self._held or self._waiting[0] != ticket:
                self._condition.wait()
            heapq.heappop(self._waiting)
            self._held = True
        try:
            yield
        finally:
            with self._condition:
                self._held = False
                self._condition.notify_all()
