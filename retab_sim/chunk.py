"""A block of CHUNK consecutive records of one endpoint and day, with its derived views cached."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from retab_sim.data import PREFIX, Columns
from retab_sim.ids import ALPHABET, encode_id

_ALPHABET = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)
_P6 = 36 ** np.arange(5, -1, -1, dtype=np.int64)
_P4 = 36 ** np.arange(3, -1, -1, dtype=np.int64)
_TAIL = 10  # index (6) and tag (4) characters


class _Lists(dict[str, list[Any]]):
    """column name -> that column of the chunk as a list, converted when first asked for."""

    def __init__(self, cols: Columns) -> None:
        super().__init__()
        self._cols = cols

    def __missing__(self, name: str) -> list[Any]:
        values: list[Any] = getattr(self._cols, name).tolist()
        self[name] = values
        return values


class Chunk:
    """Generated columns plus lazily built Python lists, ids and per-instant statuses."""

    def __init__(self, cols: Columns) -> None:
        self.cols = cols
        self._lists = _Lists(cols)
        self._ids: list[str] | None = None
        self._status: tuple[int, np.ndarray, list[int], list[bool]] | None = None
        self._masks: dict[Any, tuple[int, list[bool]]] = {}
        self._lock = threading.Lock()
        self.texts: dict[str, list[str]] = {}  # per-record texts that never change (see shapes)

    @property
    def lists(self) -> _Lists:
        """The columns as Python lists, each converted on first use (fast to index one by one)."""
        return self._lists

    @property
    def ids(self) -> list[str]:
        """The records' ids (as `ids.encode_id` writes them, built for the whole chunk at once)."""
        if self._ids is None:
            c = self.cols
            head = encode_id(PREFIX[c.kind], c.day, 0, 0)[:-_TAIL]
            index = np.arange(c.start, c.start + c.n, dtype=np.int64)
            digits = np.concatenate([(index[:, None] // _P6) % 36, (c.tag[:, None] // _P4) % 36], axis=1)
            codes = np.ascontiguousarray(_ALPHABET[digits])
            tails = codes.view(f"S{_TAIL}").ravel().astype(f"U{_TAIL}").tolist()
            self._ids = [head + t for t in tails]
        return self._ids

    def _at(self, now: int) -> tuple[int, np.ndarray, list[int], list[bool]]:
        cached = self._status
        if cached is None or cached[0] != now:
            status = self.cols.status(now)
            cached = (now, status, status.tolist(), self.cols.settled(now).tolist())
            self._status = cached
        return cached

    def status(self, now: int) -> np.ndarray:
        """Status codes at `now`."""
        return self._at(now)[1]

    def status_list(self, now: int) -> list[int]:
        """Status codes at `now`, as a list."""
        return self._at(now)[2]

    def settled_list(self, now: int) -> list[bool]:
        """Whether each record is final at `now`."""
        return self._at(now)[3]

    def mask(self, key: Any, now: int, build: Any) -> list[bool]:
        """A filter's matches in this chunk at `now`, built once per (filter, now)."""
        cached = self._masks.get(key)
        if cached is None or cached[0] != now:
            with self._lock:
                if len(self._masks) > 64:
                    self._masks.clear()
                cached = self._masks[key] = (now, np.asarray(build(self)).tolist())
        return cached[1]
