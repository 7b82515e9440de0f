"""A day of 1,000,000 runs: its first and middle pages come quickly, without materialising the day."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from retab_sim import Simulator

from .rawapi import RawApi

Make = Callable[..., Simulator]
NOON = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)


def rss_mb() -> float:
    """Resident set size of this process (the simulator runs in a thread of it)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def timed_page(api: RawApi, **params: object) -> tuple[dict[str, object], float]:
    started = time.perf_counter()
    body = api.page("runs", **params)
    return body, time.perf_counter() - started


def test_a_million_run_day_serves_first_and_middle_pages_in_small_memory(make_simulator: Make) -> None:
    sim = make_simulator(days=1, runs_per_day=1_000_000, experiment_runs_per_day=0, now=NOON)
    api = RawApi(sim)
    api.page("runs", limit=1)  # warm up imports and the connection
    baseline = rss_mb()
    # at noon, the head of the day's desc listing is the middle of the day
    middle, took_middle = timed_page(api, limit=100)
    ids = [r["id"] for r in middle["data"]]  # type: ignore[union-attr]
    assert len(ids) == 100 and ids == sorted(ids, reverse=True)
    sim.advance(minutes=24 * 60)
    first, took_first = timed_page(api, limit=100, order="asc", from_date="2026-05-10")
    assert first["list_metadata"]["before"] is None  # type: ignore[index]
    later, took_later = timed_page(api, limit=100, after=ids[-1])  # desc: older than the middle page
    earlier, took_earlier = timed_page(api, limit=100, order="asc", after=ids[0])  # asc: newer than it
    assert later["list_metadata"]["before"] == later["data"][0]["id"] < ids[-1]  # type: ignore[index]
    assert earlier["data"][0]["id"] > ids[0]  # type: ignore[index]
    newest, took_newest = timed_page(api, limit=100, to_date="2026-05-10")
    assert newest["data"][0]["timing"]["created_at"].startswith("2026-05-10T23:59")  # type: ignore[index]
    # materialising the day would take far longer; the bound leaves room for a stalled, shared machine
    assert max(took_middle, took_first, took_later, took_earlier, took_newest) < 5.0
    assert rss_mb() - baseline < 64, "serving a few pages must not materialise the day"
