"""TurnTaking: one holder at a time; the lowest rank waiting goes next, whatever the arrival order."""

from __future__ import annotations

import threading
import time

import pytest

from pipelines.sync.turns import TurnTaking


def wait_for_waiters(turns: TurnTaking, count: int) -> None:
    deadline = time.monotonic() + 10
    while turns.waiting < count:
        assert time.monotonic() < deadline, f"only {turns.waiting} of {count} callers ever waited"
        time.sleep(0.001)


def test_waiters_are_served_lowest_rank_first() -> None:
    turns = TurnTaking()
    served: list[int] = []

    def take(rank: int) -> None:
        with turns.turn(rank):
            served.append(rank)

    threads = [threading.Thread(target=take, args=(rank,)) for rank in (5, 3, 9, 1, 3)]
    with turns.turn(0):
        for n, thread in enumerate(threads, start=1):
            thread.start()
            wait_for_waiters(turns, n)  # arrivals in list order
    for thread in threads:
        thread.join(10)
    assert served == [1, 3, 3, 5, 9]


def test_never_two_holders_at_once() -> None:
    turns = TurnTaking()
    inside = 0
    most_inside = 0
    lock = threading.Lock()

    def work(rank: int) -> None:
        nonlocal inside, most_inside
        for _ in range(200):
            with turns.turn(rank):
                with lock:
                    inside += 1
                    most_inside = max(most_inside, inside)
                time.sleep(0)
                with lock:
                    inside -= 1

    threads = [threading.Thread(target=work, args=(rank,)) for rank in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert most_inside == 1
    assert turns.waiting == 0


def test_an_error_in_a_turn_passes_the_turn_on() -> None:
    turns = TurnTaking()
    with pytest.raises(RuntimeError), turns.turn(0):
        raise RuntimeError("flatten failed")
    done = threading.Event()

    def take() -> None:
        with turns.turn(1):
            done.set()

    thread = threading.Thread(target=take)
    thread.start()
    assert done.wait(5)
    thread.join(5)
