"""The shared rate limiter, on an injected clock."""

from __future__ import annotations

import math
import threading

import pytest

from pipelines.extract.ratelimit import RateLimiter


class FakeClock:
    """A clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)


def test_requests_are_spaced_by_the_interval() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4.0, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert clock.sleeps == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_time_that_passed_counts_toward_the_next_slot() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, clock=clock, sleep=clock.sleep)
    assert limiter.acquire() == 0.0
    clock.now += 0.2
    assert limiter.acquire() == pytest.approx(0.3)
    clock.now += 10.0  # idle: no credit is hoarded beyond the burst
    assert [limiter.acquire(), limiter.acquire()] == pytest.approx([0.0, 0.5])


def test_a_burst_goes_through_then_the_rate_applies() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10.0, burst=3, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2])


def test_threads_share_one_schedule() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10.0, clock=clock, sleep=clock.sleep)
    barrier = threading.Barrier(8)

    def take() -> None:
        barrier.wait()
        for _ in range(5):
            limiter.acquire()

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 40 requests at the same instant: each got its own slot 0.1 s after the previous one
    assert sorted(clock.sleeps) == pytest.approx([n / 10 for n in range(1, 40)])


def test_infinite_rate_never_waits() -> None:
    clock = FakeClock()
    limiter = RateLimiter(math.inf, clock=clock, sleep=clock.sleep)
    assert [limiter.acquire() for _ in range(100)] == [0.0] * 100
    assert clock.sleeps == []


@pytest.mark.parametrize("rate", [0.0, -1.0, math.nan])
def test_a_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate)


@pytest.mark.parametrize("rate", [4.0, math.inf], ids=["limited", "unlimited"])
def test_a_hold_makes_every_caller_wait_until_it_ends(rate: float) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate, clock=clock, sleep=clock.sleep)
    limiter.hold(5.0)
    limiter.hold(2.0)  # a shorter hold does not cut a longer one short
    assert limiter.acquire() == pytest.approx(5.0)
    clock.now += 5.0
    second = limiter.acquire()
    assert second == pytest.approx(0.25 if rate == 4.0 else 0.0)
