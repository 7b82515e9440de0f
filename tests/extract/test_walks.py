"""Two-ended walks: every record exactly covered, whatever the page size, ties, thread timing,
resume point, or a server that ignores `order`."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.extract.pagination import Page
from pipelines.extract.walks import WalkCursors, walk_day

Record = dict[str, Any]


def day_of(n: int, tie_share: float, seed: int) -> list[Record]:
    """n records in creation order; a share of them created in the same instant as the previous one."""
    rng = random.Random(seed)
    records, t = [], 0
    for i in range(n):
        if rng.random() >= tie_share:
            t += rng.choice((1, 1, 2, 30))  # uneven: the walk's guess of where the ends meet can be wrong
        records.append({"id": f"r{i:05d}", "t": instant(t), "n": t})
    return records


def instant(seconds: int) -> str:
    """A created_at key as pipelines.transform.timestamps.created_key writes it."""
    return (datetime(2026, 5, 1, tzinfo=UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def key(record: Record) -> str:
    return record["t"]


class Listing:
    """A day's listing by cursor in both orders, counting the pages it serves.

    `exact_reverse=False` orders ties the same way in both directions (desc is not the exact reverse
    of asc); `ignores_order` serves asc whatever is asked; `jitter` sleeps up to that many seconds.
    """

    def __init__(
        self,
        records: list[Record],
        limit: int,
        *,
        exact_reverse: bool = True,
        ignores_order: bool = False,
        jitter: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.asc = records
        self.desc = records[::-1] if exact_reverse else sorted(records, key=lambda r: (-r["n"], r["id"]))
        self.limit, self.ignores_order, self.jitter = limit, ignores_order, jitter
        self.rng = random.Random(seed)
        self.pages = 0

    def __call__(self, order: str, after: str | None) -> Iterator[Page]:
        sequence = self.asc if order == "asc" or self.ignores_order else self.desc
        ids = [r["id"] for r in sequence]
        i = 0 if after is None else ids.index(after) + 1
        while True:
            chunk = sequence[i : i + self.limit]
            if self.jitter:
                time.sleep(self.rng.random() * self.jitter)
            self.pages += 1
            following = chunk[-1]["id"] if chunk and i + self.limit < len(sequence) else None
            yield Page(list(chunk), following, 100)
            if following is None:
                return
            i += self.limit


def walk(
    listing: Listing, cursors: WalkCursors, stop_after: int | None = None
) -> tuple[list[str], WalkCursors]:
    """The ids a walk yields (up to `stop_after` pages, then closed), and its last cursors."""
    ids: list[str] = []
    last = cursors
    pages = walk_day(listing, cursors, key)
    try:
        for n, page in enumerate(pages):
            ids += [r["id"] for r in page.records]
            last = page.cursors
            if stop_after is not None and n >= stop_after:
                break
    finally:
        pages.close()  # type: ignore[attr-defined]
    return ids, last


days = st.builds(
    lambda n, ties, seed: day_of(n, ties, seed),
    st.integers(0, 400),
    st.sampled_from([0.0, 0.5, 0.9]),
    st.integers(0, 10_000),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=days, limit=st.integers(1, 40), exact=st.booleans(), seed=st.integers(0, 1000))
def test_a_closed_day_walked_from_both_ends_yields_every_record(records, limit, exact, seed) -> None:
    listing = Listing(records, limit, exact_reverse=exact, jitter=0.0005 if seed % 7 == 0 else 0, seed=seed)
    ids, last = walk(listing, WalkCursors.fresh(two_ended=True, open_day=False))
    assert set(ids) == {r["id"] for r in records}
    assert last.done
    assert len(ids) - len(set(ids)) <= 2 * limit  # at most the seam's pages come twice


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=days, limit=st.integers(1, 40), exact=st.booleans(), stop=st.integers(0, 15))
def test_a_walk_stopped_anywhere_resumes_from_its_cursors_without_losing_a_record(
    records, limit, exact, stop
) -> None:
    first, cursors = walk(
        Listing(records, limit, exact_reverse=exact), WalkCursors.fresh(two_ended=True, open_day=False), stop
    )
    rest, last = walk(Listing(records, limit, exact_reverse=exact), cursors)
    assert set(first) | set(rest) == {r["id"] for r in records}
    assert last.done


@settings(max_examples=80, deadline=None)
@given(records=days, limit=st.integers(1, 40))
def test_a_server_that_ignores_order_is_walked_from_one_end(records, limit) -> None:
    listing = Listing(records, limit, ignores_order=True)
    ids, _ = walk(listing, WalkCursors.fresh(two_ended=True, open_day=False))
    assert set(ids) == {r["id"] for r in records}


def test_the_two_ends_meet_in_the_middle() -> None:
    records = day_of(2000, 0.3, seed=1)
    listing = Listing(records, 100, jitter=0.002)
    ids, last = walk(listing, WalkCursors.fresh(two_ended=True, open_day=False))
    assert set(ids) == {r["id"] for r in records}
    assert listing.pages <= 20 + 2  # 20 pages of the day, plus the seam
    assert last.newest == records[-1]["id"]


def test_a_one_page_day_costs_one_request() -> None:
    listing = Listing(day_of(30, 0.0, seed=2), 100)
    ids, last = walk(listing, WalkCursors.fresh(two_ended=True, open_day=False))
    assert len(ids) == 30 and listing.pages == 1 and last.newest == "r00029"


def test_an_open_day_catches_the_runs_created_during_the_walk() -> None:
    records = day_of(500, 0.0, seed=3)
    listing = Listing(records, 50)
    pages = walk_day(listing, WalkCursors.fresh(two_ended=True, open_day=True), key)
    ids: list[str] = []
    for n, page in enumerate(pages):
        ids += [r["id"] for r in page.records]
        if n == 3:  # runs created while the walk is under way land at the tail of the listing
            for i in range(500, 530):
                records.append({"id": f"r{i:05d}", "t": instant(100_000 + i), "n": 100_000 + i})
            listing.asc = records
            listing.desc = records[::-1]
    assert set(ids) == {r["id"] for r in records}
    assert page.cursors.newest == "r00529"


def test_a_tail_walk_from_the_newest_record_fetches_only_what_is_new() -> None:
    records = day_of(10_000, 0.0, seed=4)
    listing = Listing(records, 100)
    tail = WalkCursors(asc=records[-4]["id"], desc_done=True, tail_done=True)
    ids, last = walk(listing, tail)
    assert ids == [r["id"] for r in records[-3:]] and listing.pages == 1
    assert last.asc == records[-1]["id"]
