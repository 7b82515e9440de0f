"""iter_windows: several day windows at once, outcomes as they finish, bounded and cancellable."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ALL_COMPLETED, wait
from datetime import date

import pytest

from pipelines.endpoints import EXPERIMENT_RUNS, WORKFLOW_RUNS
from pipelines.errors import AuthError, WindowCancelled
from pipelines.extract import windows as extract
from pipelines.extract.client import ClientConfig, Page, RetabClient, WindowStats
from pipelines.extract.ratelimit import RateLimiter
from pipelines.extract.windows import iter_window_groups, iter_windows, split_days

from .conftest import MakeClient
from .fake_retab import MARKER_KEY, FakeRetab, Reply, Seen, make_records

DAYS = split_days(date(2026, 5, 1), date(2026, 5, 6))
COUNTS = [250, 0, 1, 100, 101, 37]  # several pages, empty, one record, exact page multiples


def collect_ids(day: date, pages: Iterator[Page], stats: WindowStats) -> list[str]:
    return [record["id"] for page in pages for record in page.records]


@pytest.fixture
def records(server: FakeRetab) -> dict[date, list[str]]:
    by_day = {day: make_records(day, count) for day, count in zip(DAYS, COUNTS, strict=True)}
    server.records[WORKFLOW_RUNS.path] = by_day
    server.records[EXPERIMENT_RUNS.path] = {day: make_records(day, 7, "exprun") for day in DAYS}
    return {day: [r["id"] for r in rs] for day, rs in by_day.items()}


def test_split_days_is_inclusive() -> None:
    assert split_days(date(2026, 2, 27), date(2026, 3, 1)) == [
        date(2026, 2, 27),
        date(2026, 2, 28),
        date(2026, 3, 1),
    ]
    assert split_days(date(2026, 5, 1), date(2026, 5, 1)) == [date(2026, 5, 1)]
    with pytest.raises(ValueError, match="before"):
        split_days(date(2026, 5, 2), date(2026, 5, 1))


@pytest.mark.parametrize("concurrency", [1, 2, 4, 8])
def test_concurrent_and_sequential_fetches_return_the_same_records(
    make_client: MakeClient, records: dict[date, list[str]], concurrency: int
) -> None:
    client, _ = make_client()
    outcomes = list(iter_windows(client, WORKFLOW_RUNS, DAYS, collect_ids, concurrency=concurrency))
    assert all(o.ok for o in outcomes)
    assert {o.day: o.result for o in outcomes} == records
    assert sorted(o.day for o in outcomes) == DAYS
    for outcome in outcomes:
        expected = len(records[outcome.day])
        assert (outcome.stats.records, outcome.stats.complete) == (expected, True)
        assert outcome.stats.pages == max(1, -(-expected // 100))


def test_a_failing_window_does_not_stop_the_others(
    server: FakeRetab, make_client: MakeClient, records: dict[date, list[str]]
) -> None:
    bad = DAYS[2]
    server.handler = lambda seen: (
        Reply(401, {"detail": "nope"}) if seen.query.get("from_date") == str(bad) else None
    )
    client, _ = make_client()
    outcomes = {o.day: o for o in iter_windows(client, WORKFLOW_RUNS, DAYS, collect_ids, concurrency=3)}
    assert isinstance(outcomes[bad].error, AuthError) and outcomes[bad].result is None
    assert not outcomes[bad].stats.complete
    assert {d: o.result for d, o in outcomes.items() if d != bad} == {
        d: ids for d, ids in records.items() if d != bad
    }


def test_an_error_in_the_processor_is_the_windows_outcome(
    make_client: MakeClient, records: dict[date, list[str]]
) -> None:
    def picky(day: date, pages: Iterator[Page], stats: WindowStats) -> int:
        if day == DAYS[0]:
            raise RuntimeError("cannot flatten")
        return sum(len(p.records) for p in pages)

    client, _ = make_client()
    outcomes = {o.day: o for o in iter_windows(client, EXPERIMENT_RUNS, DAYS, picky, concurrency=2)}
    assert isinstance(outcomes[DAYS[0]].error, RuntimeError)
    assert all(outcomes[d].result == 7 for d in DAYS[1:])


def test_outcomes_come_in_completion_order(make_client: MakeClient, records: dict[date, list[str]]) -> None:
    first_may_finish = threading.Event()

    def slow_first(day: date, pages: Iterator[Page], stats: WindowStats) -> list[str]:
        if day == DAYS[0]:
            assert first_may_finish.wait(5)
        return collect_ids(day, pages, stats)

    client, _ = make_client()
    windows = iter_windows(client, WORKFLOW_RUNS, DAYS[:2], slow_first, concurrency=2)
    assert next(windows).day == DAYS[1]
    first_may_finish.set()
    assert next(windows).day == DAYS[0]
    assert next(windows, None) is None


def test_a_window_starts_only_when_the_consumer_frees_a_slot(
    make_client: MakeClient, records: dict[date, list[str]]
) -> None:
    lock = threading.Lock()
    started: list[date] = []
    another_started = threading.Event()
    consumed = 0
    most_in_flight = 0

    def tracked(day: date, pages: Iterator[Page], stats: WindowStats) -> list[str]:
        nonlocal most_in_flight
        with lock:
            started.append(day)
            most_in_flight = max(most_in_flight, len(started) - consumed)
        another_started.set()
        return collect_ids(day, pages, stats)

    client, _ = make_client()
    windows = iter_windows(client, WORKFLOW_RUNS, DAYS, tracked, concurrency=2)
    next(windows)
    another_started.clear()
    assert not another_started.wait(0.1)  # holding an outcome keeps its slot
    assert len(started) == 2
    with lock:
        consumed += 1
    for _ in windows:
        with lock:
            consumed += 1
    assert most_in_flight == 2
    assert sorted(started) == DAYS


def test_closing_early_starts_no_new_window_and_stops_the_running_ones(
    server: FakeRetab, make_client: MakeClient
) -> None:
    big = make_records(DAYS[1], 10_000)  # 100 pages: far more than can go by before the close
    server.records[WORKFLOW_RUNS.path] = {DAYS[0]: make_records(DAYS[0], 1), DAYS[1]: big}
    endings: dict[date, BaseException | None] = {}

    def slow_reader(day: date, pages: Iterator[Page], stats: WindowStats) -> int:
        try:
            n = 0
            for page in pages:
                n += len(page.records)
                time.sleep(0.01)
            endings[day] = None
            return n
        except BaseException as error:
            endings[day] = error
            raise

    client, _ = make_client()
    windows = iter_windows(client, WORKFLOW_RUNS, DAYS, slow_reader, concurrency=2)
    assert next(windows).day == DAYS[0]
    deadline = time.monotonic() + 10
    while not any(seen.query.get("from_date") == str(DAYS[1]) for seen in server.list_requests()):
        assert time.monotonic() < deadline, "the second window never asked for a page"
        time.sleep(0.01)
    windows.close()  # returns once the running window has stopped
    assert isinstance(endings[DAYS[1]], WindowCancelled)
    asked = {seen.query["from_date"] for seen in server.list_requests()}
    assert asked == {str(DAYS[0]), str(DAYS[1])}
    assert len(server.list_requests()) < 1 + 100


def test_the_rate_limit_is_shared_by_all_windows(server: FakeRetab, records: dict[date, list[str]]) -> None:
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    limiter = RateLimiter(10.0, clock=lambda: 50.0, sleep=record)  # time stands still: every request queues
    config = ClientConfig(api_key=MARKER_KEY, base_url=server.base_url)
    with RetabClient(config, sleep=record, rate_limiter=limiter) as client:
        list(iter_windows(client, WORKFLOW_RUNS, DAYS, collect_ids, concurrency=4))
    requests = len(server.list_requests())
    assert sorted(waits) == pytest.approx([n / 10 for n in range(1, requests)])


def test_many_windows_reuse_their_connections(
    server: FakeRetab, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    days = split_days(date(2026, 4, 1), date(2026, 4, 16))
    server.records[WORKFLOW_RUNS.path] = {day: make_records(day, 300) for day in days}
    client, _ = make_client()
    with caplog.at_level(logging.WARNING, logger="urllib3"):
        outcomes = list(iter_windows(client, WORKFLOW_RUNS, days, collect_ids, concurrency=8))
    assert all(o.ok and o.stats.records == 300 for o in outcomes)
    assert "pool is full" not in caplog.text


def test_concurrency_must_be_positive(make_client: MakeClient) -> None:
    client, _ = make_client()
    with pytest.raises(ValueError):
        next(iter_windows(client, WORKFLOW_RUNS, DAYS, collect_ids, concurrency=0))


def test_retries_of_a_window_are_counted_in_its_stats(
    server: FakeRetab, make_client: MakeClient, records: dict[date, list[str]]
) -> None:
    failed: set[str] = set()

    def once_per_day(seen: Seen) -> Reply | None:
        day = seen.query.get("from_date", "")
        if day in failed:
            return None
        failed.add(day)
        return Reply(503 if day == str(DAYS[0]) else 429)

    server.handler = once_per_day
    client, _ = make_client()
    outcomes = {o.day: o for o in iter_windows(client, WORKFLOW_RUNS, DAYS, collect_ids, concurrency=3)}
    assert outcomes[DAYS[0]].stats.retries == {"503": 1}
    assert all(outcomes[d].stats.retries == {"429": 1} for d in DAYS[1:])
    assert {d: o.result for d, o in outcomes.items()} == records


def test_a_429_holds_the_shared_rate_limit_for_every_window(
    server: FakeRetab, records: dict[date, list[str]]
) -> None:
    limiter_waits: list[float] = []
    limiter = RateLimiter(math.inf, clock=lambda: 50.0, sleep=limiter_waits.append)  # time stands still
    throttled_day: list[str] = []
    hold_in_force = threading.Event()  # set when the throttled window retries, i.e. after the hold began

    def throttle_first_request(seen: Seen) -> Reply | None:
        day = seen.query.get("from_date", "")
        with lock:
            first = not throttled_day
            if first:
                throttled_day.append(day)
        if first:
            return Reply(429, b"", {"Retry-After": "7"})
        if day == throttled_day[0]:
            hold_in_force.set()
        else:
            # requests of the other windows already past the limiter wait here until the hold is in force,
            # so no window can race ahead of the 429 with more requests
            assert hold_in_force.wait(10), "the throttled window never retried"
        return None

    lock = threading.Lock()
    server.handler = throttle_first_request
    config = ClientConfig(api_key=MARKER_KEY, base_url=server.base_url)
    with RetabClient(config, sleep=lambda seconds: None, rate_limiter=limiter) as client:
        outcomes = list(iter_windows(client, WORKFLOW_RUNS, DAYS, collect_ids, concurrency=3))
    assert {o.day: o.result for o in outcomes} == records
    # every request waited but the 429 itself and the (at most two) first requests of the other windows
    assert len(limiter_waits) >= len(server.list_requests()) - 3
    assert set(limiter_waits) == {7.0}


@pytest.mark.parametrize(
    ("headers", "held"), [({"Retry-After": "7"}, True), ({}, False)], ids=["retry-after", "no-retry-after"]
)
def test_a_503_holds_the_other_windows_only_when_it_says_retry_after(
    server: FakeRetab, records: dict[date, list[str]], headers: dict[str, str], held: bool
) -> None:
    # A 503 with Retry-After is the server pushing back, like a 429: the whole client waits (#13).
    limiter_waits: list[float] = []
    limiter = RateLimiter(math.inf, clock=lambda: 50.0, sleep=limiter_waits.append)
    server.queue(Reply(503, b"", headers))
    config = ClientConfig(api_key=MARKER_KEY, base_url=server.base_url)
    with RetabClient(config, sleep=lambda seconds: None, rate_limiter=limiter) as client:
        list(iter_windows(client, WORKFLOW_RUNS, DAYS, collect_ids, concurrency=3))
    assert (max(limiter_waits, default=0.0) == pytest.approx(7.0)) is held
    assert held or limiter_waits == []


def test_windows_that_finished_together_come_in_one_group_oldest_first(
    make_client: MakeClient, records: dict[date, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the consumer asks only once every running window has finished (as if it had been busy)
    monkeypatch.setattr(extract, "wait", lambda fs, return_when: wait(fs, return_when=ALL_COMPLETED))
    client, _ = make_client()
    groups = list(iter_window_groups(client, WORKFLOW_RUNS, DAYS, collect_ids, concurrency=4))
    assert [[o.day for o in group] for group in groups] == [DAYS[:4], DAYS[4:]]
    assert {o.day: o.result for group in groups for o in group} == records
