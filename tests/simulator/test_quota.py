"""The simulator's server-side quota: a token bucket, 429 + Retry-After above it, announced on request."""

from __future__ import annotations

import time

import pytest
import requests

from retab_sim import SimConfig, run_simulator
from retab_sim.quota import Quota


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_admits_a_second_of_burst_then_the_rate() -> None:
    clock = Clock()
    quota = Quota(10, clock=clock)
    assert all(quota.admit().allowed for _ in range(10))
    refused = quota.admit()
    assert not refused.allowed and refused.retry_after == 1  # whole seconds, at least one
    clock.now += 0.1  # one token earned
    assert quota.admit().allowed and not quota.admit().allowed


def test_a_lower_rate_takes_effect_at_once() -> None:
    clock = Clock()
    quota = Quota(10, clock=clock)
    quota.set_rate(2)
    assert [quota.admit().allowed for _ in range(3)] == [True, True, False]
    with pytest.raises(ValueError, match="quota"):
        quota.set_rate(0)


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        ("ietf", {"RateLimit-Policy": "5;w=1", "RateLimit": "limit=5, remaining=4, reset=1"}),
        ("x", {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4", "X-RateLimit-Reset": "1"}),
        ("none", {}),
    ],
    ids=["ietf", "x", "none"],
)
def test_the_quota_is_announced_in_either_header_family(family: str, expected: dict[str, str]) -> None:
    quota = Quota(5, headers=family, clock=Clock())
    assert dict(quota.admit().headers) == expected


def test_the_server_refuses_above_its_quota_counts_the_429s_and_changes_quota_live() -> None:
    config = SimConfig(seed=1, days=1, runs_per_day=10, quota_rps=3, quota_headers="ietf")
    with run_simulator(config) as sim:
        url = f"{sim.base_url}/v1/workflows/runs"
        answers = [requests.get(url, headers={"Api-Key": sim.key}, timeout=10) for _ in range(5)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
        assert answers[3].headers["Retry-After"] == "1" and "limit=3" in answers[3].headers["RateLimit"]
        assert sim.counters()["faults"]["quota_429"] == 2
        sim.set_quota(1000)
        time.sleep(0.01)  # the emptied bucket refills at the new rate: 10 tokens in 10 ms
        assert requests.get(url, headers={"Api-Key": sim.key}, timeout=10).status_code == 200


def test_a_short_burst_refuses_requests_closer_than_the_rate_allows() -> None:
    clock = Clock()
    quota = Quota(10, burst=0.25, clock=clock)
    assert [quota.admit().allowed for _ in range(4)] == [True, True, False, False]  # 2.5 tokens
    clock.now += 0.1
    assert quota.admit().allowed  # the rate is still 10/s
    with pytest.raises(ValueError, match="whole-second"):
        Quota(10, burst=0.25, headers="ietf", clock=clock)
    with pytest.raises(ValueError, match="burst"):
        Quota(10, burst=0, clock=clock)
