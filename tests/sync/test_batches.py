"""iter_batches: big batches while pages come fast, smaller ones while they are slow to come."""

from __future__ import annotations

from collections.abc import Iterator

from pipelines.extract.client import Page
from pipelines.sync.orchestrator import iter_batches


def pages(count: int, size: int = 100) -> Iterator[Page]:
    for n in range(count):
        yield Page(records=[{"id": f"run_{n}_{i}"} for i in range(size)], after=None, nbytes=0)


class Clock:
    """Advances by `step` seconds at every reading: each page seems to take step seconds to come."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step / 2
        return self.now


def sizes(batches: Iterator[list[dict]]) -> list[int]:
    return [len(batch) for batch in batches]


def test_fast_pages_make_big_batches_and_every_record_comes_once_in_order() -> None:
    batches = list(iter_batches(pages(23), 500, slow_size=200, slow_page_seconds=0.05, clock=Clock(0.001)))
    assert sizes(iter(batches)) == [500, 500, 500, 500, 300]
    ids = [record["id"] for batch in batches for record in batch]
    assert ids == [f"run_{n}_{i}" for n in range(23) for i in range(100)]


def test_slow_pages_make_small_batches() -> None:
    batches = iter_batches(pages(23), 500, slow_size=200, slow_page_seconds=0.05, clock=Clock(0.2))
    assert sizes(batches) == [200] * 11 + [100]


def test_nothing_in_nothing_out() -> None:
    assert list(iter_batches(pages(0), 500, clock=Clock(0.1))) == []
