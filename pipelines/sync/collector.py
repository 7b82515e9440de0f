"""Fewer cyclic garbage collections while a sync churns through parsed JSON.

A page parses into thousands of young dicts and lists that all stay alive until their batch is
flattened, so CPython's default gen-0 threshold (700 allocations) starts a collection every few
records and each one finds nothing to free; every tenth of those walks the older generation, and
every full collection walks all of the process's long-lived objects (pyarrow, DuckDB, and Dagster
when an asset runs the sync). While a sync runs, the objects that existed before it are frozen
(moved out of the collector's sight, `gc.freeze()`) and the gen-0 threshold is raised; both are
restored when the last sync of the process ends. Reference counting still frees everything that
is not in a cycle at once, so memory use does not change (measured: bench/flatten_load.py).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pipelines.config import TUNING

SYNC_GEN0_THRESHOLD = TUNING.gen0_threshold  # pipelines.config.Tuning

_lock = threading.Lock()
_depth = 0
_saved_thresholds: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def relaxed_collection(gen0_threshold: int = SYNC_GEN0_THRESHOLD) -> Iterator[None]:
    """Freeze the objects alive now and collect gen 0 less often, until the outermost block ends.

    Nested and concurrent blocks (two syncs in one process) share one relaxed period.
    """
    global _depth, _saved_thresholds
    with _lock:
        if _depth == 0:
            _saved_thresholds = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(gen0_threshold, _saved_thresholds[0]), *_saved_thresholds[1:])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.set_threshold(*_saved_thresholds)
                gc.unfreeze()
