"""The adaptive rate's arithmetic on a fake clock (no sleeps), and the rate-limit headers it reads."""

from __future__ import annotations

import math

import pytest
from requests.structures import CaseInsensitiveDict

from pipelines.extract.throttle import AdaptiveRate, QuotaHint, parse_rate_headers


class FakeClock:
    """A clock that only moves when told to, or when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def send(rate: AdaptiveRate, clock: FakeClock, n: int, every: float) -> list[float]:
    """n requests, one every `every` seconds of the caller's own pace; their start times."""
    starts = []
    for _ in range(n):
        starts.append(rate.acquire())
        clock.now += every
    return starts


def test_the_rate_is_unbounded_until_the_api_pushes_back() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(clock=clock, sleep=clock.sleep)
    send(rate, clock, 500, 0.001)
    assert rate.rate == math.inf
    assert clock.slept == []


def served(rate: AdaptiveRate, clock: FakeClock, n: int, every: float) -> list[float]:
    """n requests at the caller's pace (or the limiter's, when slower), each accepted by the API."""
    starts = []
    for _ in range(n):
        starts.append(rate.acquire())
        rate.on_success()
        clock.now += every
    return starts


def refuse(rate: AdaptiveRate, starts: list[float], retry_after: float | None = None) -> None:
    """The API refuses the requests started at `starts` (a quota refuses those in flight together)."""
    for sent in starts:
        rate.on_throttle(sent, retry_after)


def test_a_refusal_holds_everyone_and_cuts_the_rate_to_beta_of_the_measured_rate() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(clock=clock, sleep=clock.sleep)
    starts = served(rate, clock, 100, 0.02)  # 50 requests/s, all accepted
    refuse(rate, starts[-3:], retry_after=1.0)
    assert rate.rate == pytest.approx(0.7 * 50, rel=0.05)  # below 95 % of the accepted 50/s
    before = clock.now
    rate.acquire()
    assert clock.now - before == pytest.approx(1.0)  # the hold, for whichever window asks next


def test_a_first_refusal_after_few_acceptances_cuts_to_what_was_accepted() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(clock=clock, sleep=clock.sleep)
    starts = [rate.acquire() for _ in range(40)]  # a burst at the windows' concurrency ...
    for _ in range(5):
        rate.on_success()  # ... of which the API accepted 5 (its quota's burst) before refusing
    clock.now += 0.2
    rate.on_throttle(starts[-1], retry_after=1.0)
    assert rate.rate == pytest.approx(0.95 * 5 / 1.0)  # 5 accepted in (at least) a second: a burst


def test_a_refusal_of_the_very_first_requests_does_not_collapse_the_rate() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(clock=clock, sleep=clock.sleep)
    starts = [rate.acquire() for _ in range(12)]  # the first requests of 12 walkers, none answered yet
    clock.now += 0.05
    rate.on_throttle(starts[0], retry_after=0.2)  # a 429 with nothing accepted: no evidence of a limit
    assert math.isinf(rate.rate)  # was cut to the floor (0.5/s): a nightly then crawled for minutes
    before = clock.now
    rate.acquire()
    assert clock.now - before == pytest.approx(0.2)  # but the Retry-After is honoured by everyone
    served(rate, clock, 10, 0.02)  # then evidence: 10 accepted in 0.2 s (+ the hold) ...
    refuse(rate, [rate.acquire() for _ in range(3)], retry_after=1.0)
    assert rate.decreases == 1 and rate.rate < 60  # ... and the next refusal sets the rate by it


def test_a_first_refusal_before_most_of_the_burst_is_answered_cuts_by_beta_not_to_the_few_accepted() -> None:
    """A 429 comes back before the pages sent with it: 1 accepted of a burst of 6 is no estimate."""
    clock = FakeClock()
    rate = AdaptiveRate(clock=clock, sleep=clock.sleep)
    starts = [rate.acquire() for _ in range(6)]  # the first page of 6 day walks, 20 ms apart below
    for _ in range(5):
        clock.now += 0.02
        rate.acquire()
    rate.on_success()  # one page answered so far; the others are still being served
    rate.on_throttle(starts[-1], retry_after=1.0)
    # was 0.95 x 1 accepted / 1 s = 0.95/s: a 62-request sync under a 5/s quota then took 51 s, not 14
    assert rate.rate == pytest.approx(0.7 * 11 / 0.25, rel=0.01)  # beta x the rate it was sending at
    assert rate.decreases == 1


def test_refusals_of_requests_already_in_flight_are_one_event() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(clock=clock, sleep=clock.sleep)
    starts = served(rate, clock, 100, 0.02)
    for sent in starts[-8:]:  # eight windows' requests, all out before the first refusal came back
        rate.on_throttle(sent, retry_after=1.0)
    assert rate.throttles == 8 and rate.decreases == 1
    assert rate.rate == pytest.approx(35, rel=0.05)


def test_after_a_refusal_the_rate_grows_slowly_while_requests_succeed() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(clock=clock, sleep=clock.sleep)
    starts = served(rate, clock, 100, 0.02)
    refuse(rate, starts[-3:])
    cut = rate.rate
    served(rate, clock, 400, 0.0)  # as fast as the limiter lets them go: ~12 s at ~35/s
    grown = rate.rate
    assert cut < grown <= cut * (1 + 0.005 * 13)  # 0.5 % a second, probing the limit gently


def test_a_second_refusal_sets_the_rate_under_what_the_api_accepted_in_between() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(clock=clock, sleep=clock.sleep)
    starts = served(rate, clock, 100, 0.02)
    refuse(rate, starts[-3:])
    refused_at = clock.now
    served(rate, clock, 120, 0.05)  # the API accepted 20/s for 6 s
    interval = clock.now - refused_at
    refuse(rate, [rate.acquire() for _ in range(3)])  # then refused 3 in a row: its limit went down
    assert rate.decreases == 2
    assert rate.rate == pytest.approx(0.95 * 120 / interval, rel=0.02)


def test_the_rate_never_runs_away_from_what_the_client_really_sends() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(clock=clock, sleep=clock.sleep)
    starts = served(rate, clock, 4, 1.0)  # 4 accepted in 4 s: the refusals set ~1 request/s
    refuse(rate, starts[-3:])
    assert rate.rate < 1
    for _ in range(100):  # a slow client: 2 requests/s for 50 s
        rate.acquire()
        rate.on_success()
        clock.now += 0.5
    assert rate.rate <= 2 * 3 + 1e-9  # twice the 2-3 requests of its trailing second, not 20


def test_lone_refusals_below_the_limit_found_do_not_ratchet_the_rate_down() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(clock=clock, sleep=clock.sleep)
    refuse(rate, served(rate, clock, 100, 0.02)[-3:], retry_after=1.0)  # a limit found: 35/s
    cut = rate.rate
    for n in range(1, 1501):  # ~60 s as fast as the rate allows, 2 % refused one at a time
        sent = rate.acquire()
        if n % 50 == 0:
            rate.on_throttle(sent, retry_after=1.0)
        else:
            rate.on_success()
    assert rate.rate >= 0.95 * cut  # was cut 30 times, down to ~5 requests/s (a demo took 89 s)
    assert clock.slept.count(pytest.approx(1.0, abs=0.05)) >= 25  # every refusal still held


def test_a_probe_past_the_limit_found_is_refused_and_cut_back() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(clock=clock, sleep=clock.sleep)
    refuse(rate, served(rate, clock, 100, 0.02)[-3:], retry_after=1.0)
    served(rate, clock, 500, 0.0)  # ~14 s at the rate: it grows past the 35 / 0.95 found ...
    probed = rate.rate
    assert probed > 35 / 0.95
    rate.on_throttle(rate.acquire(), retry_after=1.0)  # ... where one refusal is the quota's again
    assert rate.decreases == 2 and rate.rate < probed


def test_a_request_waiting_for_its_slot_waits_for_a_hold_that_came_meanwhile() -> None:
    clock = FakeClock()
    refused: list[float] = []

    def sleep(seconds: float) -> None:  # while this window waits, another one's request is refused
        if not refused:
            refused.append(first)
            rate.on_throttle(first, retry_after=1.0)
        clock.sleep(seconds)

    rate = AdaptiveRate(10.0, clock=clock, sleep=sleep)  # one request every 0.1 s
    first = rate.acquire()
    started = rate.acquire()
    assert started >= first + 1.0  # started at first + 0.1, inside the hold (the quota refused it too)


def test_a_cut_after_a_hold_reads_the_rate_sent_before_the_hold() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(clock=clock, sleep=clock.sleep)
    served(rate, clock, 100, 0.02)  # 50 requests/s ...
    rate.hold(1.0)  # ... then a retry's Retry-After holds every window for a second ...
    refuse(rate, [rate.acquire() for _ in range(3)], retry_after=1.0)  # ... and the first ones refused
    assert rate.rate == pytest.approx(0.7 * 50, rel=0.1)  # was 0.7 x the 3 sent in the held second


def test_a_user_ceiling_caps_everything() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(5.0, clock=clock, sleep=clock.sleep)
    starts = [rate.acquire() for _ in range(11)]
    assert starts[-1] - starts[0] == pytest.approx(2.0)
    assert rate.rate == 5.0
    with pytest.raises(ValueError, match="max_rps"):
        AdaptiveRate(0)


def test_an_announced_policy_paces_before_any_refusal() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(clock=clock, sleep=clock.sleep)
    rate.on_success(QuotaHint(limit=30, window=1, remaining=25, reset=1))
    assert rate.rate == pytest.approx(0.95 * 30)  # the policy's limit per window, with a margin


def test_without_a_policy_what_remains_is_spread_until_the_reset() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(clock=clock, sleep=clock.sleep)
    rate.on_success(QuotaHint(limit=60, remaining=12, reset=4))  # X-RateLimit-*: no window given
    assert rate.rate == pytest.approx(3)
    clock.now += 5
    assert rate.rate == math.inf  # past the reset: unbounded again


def test_remaining_zero_holds_until_the_reset() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(clock=clock, sleep=clock.sleep)
    rate.on_success(QuotaHint(remaining=0, reset=2))
    before = clock.now
    rate.acquire()
    assert clock.now - before == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"RateLimit-Policy": "30;w=1", "RateLimit": "limit=30, remaining=12, reset=1"},
            QuotaHint(limit=30, window=1, remaining=12, reset=1),
        ),
        (
            {"RateLimit-Policy": '"default";q=100;w=10', "RateLimit": '"default";r=7;t=3'},
            QuotaHint(limit=100, window=10, remaining=7, reset=3),
        ),
        (
            {"RateLimit-Policy": "1000;w=3600, 30;w=1"},
            QuotaHint(limit=30, window=1),
        ),
        (
            {"RateLimit-Limit": "50", "RateLimit-Remaining": "3", "RateLimit-Reset": "2"},
            QuotaHint(limit=50, remaining=3, reset=2),
        ),
        (
            {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "5"},
            QuotaHint(limit=60, remaining=0, reset=5),
        ),
        (
            {"x-ratelimit-remaining": "9", "x-ratelimit-reset": "1700000030"},
            QuotaHint(remaining=9, reset=30),
        ),
        ({"Content-Type": "application/json"}, None),
        ({"X-RateLimit-Remaining": "lots"}, None),
    ],
    ids=[
        "ietf-07",
        "ietf-structured",
        "ietf-two-policies",
        "ietf-03",
        "x-family",
        "x-epoch-reset",
        "none",
        "junk",
    ],
)
def test_rate_limit_headers_of_both_families_are_read(
    headers: dict[str, str], expected: QuotaHint | None
) -> None:
    assert parse_rate_headers(CaseInsensitiveDict(headers), now=1_700_000_000) == expected
