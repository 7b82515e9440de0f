"""One page of a listing: scan positions (day, index) in listing order from a cursor.

Positions order records the way `timing.created_at` does, so a cursor id decodes straight to
where the scan starts: without a filter a page costs O(limit) whatever the day's size.
`after` scans forward in listing order, `before` scans backward and the page is flipped;
`has_after` is false when nothing follows the page, `has_before` when nothing precedes it.
Filters are evaluated a chunk at a time on the generated columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from retab_sim.chunk import Chunk
from retab_sim.data import CHUNK, DAY_MS, UNIX_EPOCH_ORDINAL, ExperimentColumns, RunColumns
from retab_sim.dataset import STATUS_NAMES, Dataset, Position
from retab_sim.query import Query

_END = 1 << 62
Mask = Callable[[Chunk], np.ndarray]


@dataclass(frozen=True)
class Page:
    """The positions of a page in listing order; whether records precede and follow it."""

    positions: list[Position]
    has_before: bool
    has_after: bool


def _filter(ds: Dataset, q: Query, now: int) -> Mask | None:
    """A vectorized predicate over a chunk's columns, or None when nothing is filtered."""
    if not q.has_record_filter:
        return None
    catalog = ds.catalog
    names = STATUS_NAMES[q.kind]
    metadata_table = None if q.metadata is None else catalog.metadata_matches(q.metadata)

    def mask(ch: Chunk) -> np.ndarray:
        c = ch.cols
        m = np.ones(c.n, dtype=bool)
        if q.workflow_id is not None:
            m &= c.wf == catalog.workflow_index.get(q.workflow_id, -1)
        if isinstance(c, ExperimentColumns):
            if q.experiment_id is not None:
                m &= c.exp == catalog.experiment_index.get(q.experiment_id, -1)
            if q.block_id is not None:
                m &= catalog.block_code_table[c.exp, c.block] == catalog.block_codes.get(q.block_id, -2)
        if q.trigger_type is not None:
            m &= c.trigger == catalog.trigger_code.get(q.trigger_type, -2)
        if q.status is not None or q.exclude_status is not None:
            status = ch.status(now)
            if q.status is not None:
                m &= status == (names.index(q.status) if q.status in names else -1)
            if q.exclude_status is not None:
                m &= status != (names.index(q.exclude_status) if q.exclude_status in names else -1)
        if q.min_duration_ms is not None or q.max_duration_ms is not None:
            duration = c.duration(now)
            m &= duration >= max(0, q.min_duration_ms or 0)
            if q.max_duration_ms is not None:
                m &= duration <= q.max_duration_ms
        if metadata_table is not None:
            m &= metadata_table[c.wf, c.metadata + 1] if isinstance(c, RunColumns) else False
        if q.search is not None:
            needle = q.search
            m &= np.array([needle in run_id for run_id in ch.ids], dtype=bool)
        return m

    return mask


class Scanner:
    """Walks one endpoint's visible positions within the query's days, skipping deletions and misses."""

    def __init__(self, ds: Dataset, q: Query, now: int) -> None:
        self.ds, self.kind, self.now = ds, q.kind, now
        last_day = now // DAY_MS + UNIX_EPOCH_ORDINAL
        self.lo = max(ds.start_ordinal, q.from_date if q.from_date is not None else ds.start_ordinal)
        self.hi = min(last_day, q.to_date if q.to_date is not None else last_day)
        self.mask = _filter(ds, q, now)
        self.mask_key = repr(replace(q, before=None, after=None, limit=0))  # the same for a whole walk
        self.asc = q.order == "asc"

    def scan(self, day: int, idx: int, step: int, limit: int, stop: Position | None = None) -> list[Position]:
        """Up to `limit` matching positions from (day, idx) inclusive, moving by `step`, before `stop`."""
        out: list[Position] = []
        ds, kind = self.ds, self.kind
        deletions = ds.has_deletions()
        if step > 0 and day < self.lo:
            day, idx = self.lo, 0
        if step < 0 and day > self.hi:
            day, idx = self.hi, _END
        while self.lo <= day <= self.hi and len(out) < limit:
            if stop is not None and (day > stop[0] if step > 0 else day < stop[0]):
                break
            n = ds.n_visible(kind, day, self.now)
            if step > 0:
                end = stop[1] if stop is not None and day == stop[0] else n
                indices = range(max(idx, 0), min(n, end))
            else:
                end = stop[1] if stop is not None and day == stop[0] else -1
                indices = range(min(idx, n - 1), end, -1)
            if self.mask is None and not deletions:
                out.extend((day, i) for i in indices[: limit - len(out)])
            else:
                self._scan_filtered(day, indices, limit, out, deletions)
            day, idx = (day + 1, 0) if step > 0 else (day - 1, _END)
        return out

    def _scan_filtered(
        self, day: int, indices: range, limit: int, out: list[Position], deletions: bool
    ) -> None:
        ds, kind, mask = self.ds, self.kind, self.mask
        number, matches = -1, None
        for i in indices:
            if mask is not None:
                if i // CHUNK != number:
                    number = i // CHUNK
                    matches = ds.chunk(kind, day, number).mask(self.mask_key, self.now, mask)
                assert matches is not None
                if not matches[i - number * CHUNK]:
                    continue
            if deletions and ds.is_deleted(kind, day, i):
                continue
            out.append((day, i))
            if len(out) >= limit:
                return

    def forward(self, after: Position | None, limit: int, stop: Position | None = None) -> list[Position]:
        """Matching positions in listing order, from the head or strictly after `after`."""
        if self.asc:
            day, idx = (self.lo, 0) if after is None else (after[0], after[1] + 1)
            return self.scan(day, idx, 1, limit, stop)
        day, idx = (self.hi, _END) if after is None else (after[0], after[1] - 1)
        return self.scan(day, idx, -1, limit, stop)

    def backward(self, before: Position, limit: int) -> list[Position]:
        """Matching positions in reverse listing order, strictly before `before`."""
        if self.asc:
            return self.scan(before[0], before[1] - 1, -1, limit)
        return self.scan(before[0], before[1] + 1, 1, limit)


def list_page(ds: Dataset, q: Query, now: int, after: Position | None, before: Position | None) -> Page:
    """The page a list request asks for; `after`/`before` are decoded cursor positions."""
    s = Scanner(ds, q, now)
    if s.lo > s.hi:
        return Page([], False, False)
    if after is not None or before is None:
        got = s.forward(after, q.limit + 1, before)
        positions = got[: q.limit]
        has_before = bool(positions) and bool(s.backward(positions[0], 1))
        return Page(positions, has_before, len(got) > q.limit)
    got = s.backward(before, q.limit + 1)
    positions = got[: q.limit][::-1]
    has_after = bool(positions) and bool(s.forward(positions[-1], 1))
    return Page(positions, len(got) > q.limit, has_after)
