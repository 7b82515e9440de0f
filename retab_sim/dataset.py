"""What exists at a given instant: visible positions per day, deletions, and rendered records.

Records are generated a chunk at a time (a small LRU of chunks). Finished records never
change, so their JSON is kept, per chunk, in an LRU under a byte budget (`cache_mb`);
in-flight records are rendered again on every request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import date
from typing import Any

import orjson

from retab_sim.catalog import Catalog
from retab_sim.chunk import Chunk
from retab_sim.config import SimConfig
from retab_sim.data import (
    CHUNK,
    DAY_MS,
    EXPERIMENT_RUNS,
    EXPERIMENT_STATUSES,
    PREFIX,
    RUN_STATUSES,
    RUNS,
    Generator,
    LateChanges,
)
from retab_sim.ids import decode_id
from retab_sim.shapes import SHAPE_MODES, render_chunk

Position = tuple[int, int]
Entry = tuple[str, bytes]
STATUS_NAMES = {RUNS: RUN_STATUSES, EXPERIMENT_RUNS: EXPERIMENT_STATUSES}
_MAX_CHUNKS = 32


class Dataset:
    """Both endpoints' records over time, generated on demand."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.catalog = Catalog(cfg.seed)
        per_day = {RUNS: cfg.runs_per_day, EXPERIMENT_RUNS: cfg.experiment_runs_per_day}
        self.gen = Generator(
            cfg.seed,
            self.catalog,
            cfg.start,
            per_day,
            changes=LateChanges(
                cfg.long_review_rate,
                cfg.long_review_max_days,
                cfg.rescore_rate,
                cfg.rescore_max_days,
                cfg.instant_runs,
            ),
        )
        self.start_ordinal = cfg.start.toordinal()
        self.mode = SHAPE_MODES[cfg.shape]
        self._deleted: set[tuple[str, int, int]] = set()
        self._chunks: OrderedDict[tuple[str, int, int], Chunk] = OrderedDict()
        self._rendered: OrderedDict[tuple[str, int, int], list[Entry | None]] = OrderedDict()
        self._rendered_bytes = 0
        self._budget = max(1, cfg.cache_mb) * 1024 * 1024
        self._visible: dict[tuple[str, int], tuple[int, int]] = {}
        self._lock = threading.Lock()

    def chunk(self, kind: str, day: int, number: int) -> Chunk:
        """Chunk `number` of a day (records number*CHUNK onwards), generated on first use."""
        key = (kind, day, number)
        with self._lock:
            ch = self._chunks.get(key)
            if ch is not None:
                self._chunks.move_to_end(key)
                return ch
        start = number * CHUNK
        n = min(CHUNK, self.gen.count(kind, day) - start)
        if n <= 0:
            raise IndexError(f"no chunk {number} on day {day}")
        cols = self.gen.columns(kind, day, start, n)
        ch = Chunk(cols)
        with self._lock:
            self._chunks[key] = ch
            while len(self._chunks) > _MAX_CHUNKS:
                self._chunks.popitem(last=False)
        return ch

    def n_visible(self, kind: str, day: int, now: int) -> int:
        """How many records of that day exist at `now` (a prefix of the day's positions)."""
        n = self.gen.count(kind, day)
        if n == 0:
            return 0
        start = self.gen.day_start_ms(day)
        if now >= start + DAY_MS:
            return n
        if now < start:
            return 0
        cached = self._visible.get((kind, day))
        if cached is not None and cached[0] == now:
            return cached[1]
        lo, hi = 0, n  # the first index created after now
        while lo < hi:
            mid = (lo + hi) // 2
            if self.gen.created_ms(kind, day, mid) <= now:
                lo = mid + 1
            else:
                hi = mid
        self._visible[(kind, day)] = (now, lo)
        return lo

    def position(self, kind: str, run_id: str) -> Position | None:
        """(day, index) of an id this simulator could have issued, else None."""
        decoded = decode_id(PREFIX[kind], run_id)
        if decoded is None:
            return None
        day, index, tag = decoded
        if not 0 <= index < self.gen.count(kind, day) or self.gen.tag(kind, day, index) != tag:
            return None
        return day, index

    def exists(self, kind: str, pos: Position, now: int) -> bool:
        """Whether the record at that position exists at `now` (created, not deleted)."""
        return pos[1] < self.n_visible(kind, pos[0], now) and (kind, *pos) not in self._deleted

    def is_deleted(self, kind: str, day: int, index: int) -> bool:
        """Whether the record was deleted."""
        return (kind, day, index) in self._deleted

    def has_deletions(self) -> bool:
        """Whether anything was deleted at all (a fast path for listings)."""
        return bool(self._deleted)

    def delete(self, kind: str, run_id: str, now: int) -> bool:
        """Make a record disappear from listings and GETs; False if it does not exist."""
        pos = self.position(kind, run_id)
        if pos is None or not self.exists(kind, pos, now):
            return False
        with self._lock:
            self._deleted.add((kind, *pos))
        return True

    def entries(self, kind: str, positions: list[Position], now: int) -> list[Entry]:
        """(id, JSON bytes) of records as served at `now`, without fault perturbations."""
        out: list[Entry] = []
        i, total = 0, len(positions)
        while i < total:
            day, index = positions[i]
            number = index // CHUNK
            base = number * CHUNK
            j = i + 1
            while j < total and positions[j][0] == day and base <= positions[j][1] < base + CHUNK:
                j += 1
            out.extend(self._chunk_entries(kind, day, number, [p[1] - base for p in positions[i:j]], now))
            i = j
        return out

    def _chunk_entries(self, kind: str, day: int, number: int, offsets: list[int], now: int) -> list[Entry]:
        key = (kind, day, number)
        done = self._rendered.get(key)
        if done is None:
            done = [None] * CHUNK
        if all(done[o] is not None for o in offsets):
            return [done[o] for o in offsets]  # type: ignore[misc]
        missing = [o for o in offsets if done[o] is None]
        ch = self.chunk(kind, day, number)
        texts = render_chunk(ch, missing, now, self.mode, self.catalog)
        settled, ids = ch.settled_list(now), ch.ids
        fresh: dict[int, Entry] = {}
        added = 0
        for o, text in zip(missing, texts, strict=True):
            entry = fresh[o] = (ids[o], text.encode())
            if settled[o]:
                done[o] = entry
                added += len(entry[1]) + 100
        if added:
            self._remember(key, done, added)
        return [done[o] or fresh[o] for o in offsets]

    def _remember(self, key: tuple[str, int, int], done: list[Entry | None], added: int) -> None:
        with self._lock:
            self._rendered[key] = done
            self._rendered.move_to_end(key)
            self._rendered_bytes += added
            while self._rendered_bytes > self._budget and len(self._rendered) > 1:
                _, dropped = self._rendered.popitem(last=False)
                self._rendered_bytes -= sum(len(e[1]) + 100 for e in dropped if e is not None)

    def _visible_positions(self, kind: str, day: date, now: int) -> list[Position]:
        d = day.toordinal()
        return [(d, i) for i in range(self.n_visible(kind, d, now)) if (kind, d, i) not in self._deleted]

    def truth(self, kind: str, day: date, now: int) -> list[dict[str, Any]]:
        """A day's records as currently visible, in served form, oldest first."""
        return [
            orjson.loads(body) for _, body in self.entries(kind, self._visible_positions(kind, day, now), now)
        ]

    def truth_ids(self, kind: str, day: date, now: int) -> dict[str, str]:
        """id -> status of a day's records as currently visible."""
        names = STATUS_NAMES[kind]
        out: dict[str, str] = {}
        d = day.toordinal()
        n = self.n_visible(kind, d, now)
        for number in range((n + CHUNK - 1) // CHUNK):
            ch = self.chunk(kind, d, number)
            status = ch.status_list(now)
            for offset, run_id in enumerate(ch.ids[: n - number * CHUNK]):
                if (kind, d, number * CHUNK + offset) not in self._deleted:
                    out[run_id] = names[status[offset]]
        return out
