"""The extract layer against the real simulator over HTTP, hostile faults on: every record arrives once."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import pytest

from pipelines.endpoints import ENDPOINTS, EXPERIMENT_RUNS, WORKFLOW_RUNS, Endpoint
from pipelines.extract.client import ClientConfig, Page, RetabClient, WindowStats
from pipelines.extract.ratelimit import RateLimiter
from pipelines.extract.windows import WindowOutcome, iter_windows, split_days
from retab_sim import SimConfig, run_simulator

pytestmark = pytest.mark.slow

HOSTILE = SimConfig(
    seed=1,
    shape="sdk",
    end=date(2026, 5, 10),
    days=3,
    runs_per_day=300,
    experiment_runs_per_day=30,
    faults="hostile",
)
DAYS = split_days(date(2026, 5, 8), date(2026, 5, 10))
CONNECTION_FAULTS = {"429", "500", "502", "503", "504", "disconnect", "truncated"}
CAUSE_OF_FAULT = {"disconnect": "connection", "truncated": "bad_body"}  # the rest keep their name


def collect_ids(day: date, pages: Iterator[Page], stats: WindowStats) -> list[str]:
    return [record["id"] for page in pages for record in page.records]


def fetch(
    base_url: str, key: str, endpoint: Endpoint, *, concurrency: int, **settings: float
) -> tuple[list[WindowOutcome[list[str]]], list[float]]:
    """Walk DAYS of `endpoint`; waits are recorded, not slept (the simulator does not enforce them)."""
    sleeps: list[float] = []
    config = ClientConfig(api_key=key, base_url=base_url, **settings)  # type: ignore[arg-type]
    unlimited = RateLimiter(math.inf, sleep=lambda seconds: None)  # a 429's hold must not sleep either
    with RetabClient(config, sleep=sleeps.append, rate_limiter=unlimited) as client:
        outcomes = list(iter_windows(client, endpoint, DAYS, collect_ids, concurrency=concurrency))
    return outcomes, sleeps


def assert_exactly_the_truth(outcomes: list[WindowOutcome[list[str]]], truth: dict[date, set[str]]) -> None:
    assert sorted(o.day for o in outcomes) == DAYS
    for outcome in outcomes:
        assert outcome.error is None, f"{outcome.day}: {outcome.error!r}"
        assert outcome.result is not None and outcome.stats.complete
        assert len(outcome.result) == len(set(outcome.result)), f"{outcome.day}: a record arrived twice"
        assert set(outcome.result) == truth[outcome.day], f"{outcome.day}: records missing or extra"
        assert outcome.stats.records == len(truth[outcome.day]) and outcome.stats.duplicates == 0


@pytest.mark.parametrize("concurrency", [1, 3], ids=["sequential", "concurrent"])
@pytest.mark.parametrize("endpoint", [WORKFLOW_RUNS, EXPERIMENT_RUNS], ids=lambda e: e.name)
def test_every_record_arrives_exactly_once_despite_hostile_faults(
    endpoint: Endpoint, concurrency: int
) -> None:
    with run_simulator(HOSTILE) as sim:
        outcomes, sleeps = fetch(sim.base_url, sim.key, endpoint, concurrency=concurrency)
        truth = {day: set(sim.truth_ids(endpoint.name, day)) for day in DAYS}
        injected = Counter(sim.counters()["faults"])
    assert_exactly_the_truth(outcomes, truth)
    assert sum(len(ids) for ids in truth.values()) == len(DAYS) * (
        HOSTILE.runs_per_day if endpoint is WORKFLOW_RUNS else HOSTILE.experiment_runs_per_day
    )
    # each failure the simulator injected was met by exactly one retry of the matching cause
    retried = sum((o.stats.retries for o in outcomes), Counter[str]())
    expected = Counter(
        {CAUSE_OF_FAULT.get(kind, kind): n for kind, n in injected.items() if kind in CONNECTION_FAULTS}
    )
    assert retried == expected
    assert len(sleeps) == retried.total()
    assert all(0 <= wait <= 30.0 for wait in sleeps)  # Retry-After of at most 1 s, or backoff under its cap


def test_the_hostile_profile_injects_every_fault_kind_and_all_are_survived() -> None:
    """Both endpoints in one simulator session, concurrently, with a read timeout short enough to trip."""
    config = replace(HOSTILE, runs_per_day=5_000)
    outcomes: dict[str, list[WindowOutcome[list[str]]]] = {}
    with run_simulator(config) as sim:
        for name, endpoint in ENDPOINTS.items():
            outcomes[name], _ = fetch(
                sim.base_url, sim.key, endpoint, concurrency=3, read_timeout=0.25, max_attempts=30
            )  # waits are recorded, not slept: extra attempts cost nothing, and absorb a stalled box
        truth = {name: {day: set(sim.truth_ids(name, day)) for day in DAYS} for name in ENDPOINTS}
        injected = Counter(sim.counters()["faults"])
    for name in ENDPOINTS:
        assert_exactly_the_truth(outcomes[name], truth[name])
    kinds = {"429", "disconnect", "truncated", "slow", "stale_after", "head_insert", "unknown_fields"}
    assert kinds <= set(injected), f"the profile did not exercise {kinds - set(injected)}"
    assert injected["missing_fields"] > 0
    assert {"500", "502", "503", "504"} & set(injected)
    retried = sum((o.stats.retries for windows in outcomes.values() for o in windows), Counter[str]())
    assert retried["read_timeout"] >= 1  # slow replies (400 ms) outlived the 250 ms read timeout
    # stale_after fires on every last page: each window ended on an empty page despite a non-null after
    for windows in outcomes.values():
        for outcome in windows:
            assert outcome.stats.pages == math.ceil(outcome.stats.records / 100) + 1
