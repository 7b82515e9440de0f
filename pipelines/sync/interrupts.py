"""Ctrl-C that a library swallowed, raised again at the sync's next safe point.

duckdb 1.5 runs Python code inside C++ that discards whatever it raises: for every bound parameter
it tries `import pandas` (pandas is not installed here) and ignores the failure, KeyboardInterrupt
included (`PythonImportCacheItem::LoadModule`). A SIGINT whose handler runs there is lost, and the
sync went on to the end as if nobody had pressed Ctrl-C (1 in ~40 interrupted syncs in
tests/reliability/test_crashes.py).

While a sync runs in the main thread under Python's default handler, `noticing_interrupts`
installs one that does the same (raise KeyboardInterrupt) and also remembers the signal; the sync
calls `Interrupts.check()` between loads, which raises it again when it was swallowed. Under
another handler (Dagster's run worker, a notebook's) nothing is changed.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Interrupts:
    """Whether a SIGINT arrived while the sync ran."""

    def __init__(self) -> None:
        self.seen = False

    def check(self) -> None:
        """Raise KeyboardInterrupt if a SIGINT arrived (even one whose exception was swallowed)."""
        if self.seen:
            raise KeyboardInterrupt("interrupted (the signal arrived during a DuckDB call)")


@contextmanager
def noticing_interrupts() -> Iterator[Interrupts]:
    """Remember every SIGINT until the block ends, when this thread may and the default handler is set."""
    interrupts = Interrupts()
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield interrupts
        return

    def remember(signum: int, frame: FrameType | None) -> None:
        interrupts.seen = True
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, remember)
    try:
        yield interrupts
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
