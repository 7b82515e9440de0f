"""Hostile API faults: for many seeds and all three record shapes, the warehouse equals the truth.

Each case syncs three days through the hostile profile (429 with Retry-After, 5xx, disconnects,
truncated bodies, slow pages, stale `after` cursors, the clock jumping mid-walk, unknown and
missing fields), then deletes runs, lets the clock run on and syncs again: every day must hold
exactly the simulator's ids, once each, with the status each run had when it was served.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from postgres_cluster import PostgresCluster
from warehouses import make_warehouse

from pipelines.config import Settings, Warehouse
from pipelines.sync.orchestrator import parse_endpoints, sync
from reliability.summary import Tally
from reliability.world import ENDPOINT_NAMES, compare, days_from, moments_between
from retab_sim import Simulator

SHAPES = ("sdk", "docs", "mixed")
END = date(2026, 5, 10)
DAYS = days_from(END - timedelta(days=2), 3)


@dataclass(frozen=True)
class FaultCase:
    seed: int
    shape: str

    @property
    def id(self) -> str:
        return f"{self.shape}-seed{self.seed}"


def cases(count: int, salt: int) -> list[FaultCase]:
    """`count` cases cycling through the shapes, with seeds drawn from `salt` (reproducible)."""
    draw = random.Random(salt)
    return [FaultCase(draw.randrange(1, 1 << 30), SHAPES[n % len(SHAPES)]) for n in range(count)]


FAST = cases(6, salt=8)
SOAK = cases(36, salt=88)


def synced_under_faults(
    sim: Simulator, path: Warehouse, concurrency: int
) -> tuple[bool, list[str], list, int]:
    """Sync DAYS once; returns (ok, errors, clock moments passed, rejected count)."""
    before = sim.counters()["faults"].get("head_insert", 0)
    start = sim.now
    settings = Settings(
        api_key=sim.key,
        base_url=sim.base_url,
        duckdb_path=path,
        concurrency=concurrency,
        max_retry_seconds=60,
        lock_wait=30,
    )
    report = sync(settings, parse_endpoints("all"), DAYS, today=END + timedelta(days=1))
    steps = sim.counters()["faults"].get("head_insert", 0) - before
    moments = moments_between(start, steps, sim.config.fault_head_insert_seconds or 120.0)
    errors = [f"{p.endpoint} {p.day}: {p.error}" for p in report.failed]
    return report.ok, errors, moments, sum(p.rejected for p in report.partitions)


def run_case(
    case: FaultCase, make_simulator: Callable[..., Simulator], path: Warehouse, tally: Tally
) -> None:
    draw = random.Random(case.seed)
    sim = make_simulator(
        seed=case.seed,
        shape=case.shape,
        faults="hostile",
        end=END,
        days=3,
        runs_per_day=draw.choice((120, 250, 420)),
        experiment_runs_per_day=draw.choice((15, 40, 130)),
    )
    with tally.case("faults") as counted:
        for attempt in ("first sync", "re-sync after deletes and 30 simulated minutes"):
            ok, errors, moments, rejected = synced_under_faults(sim, path, concurrency=draw.randint(1, 4))
            diff = compare(path, sim, DAYS, moments=moments)
            counted.lose(diff.lost + rejected)
            assert ok, f"{case.id} {attempt}: partitions failed under faults the client must absorb: {errors}"
            assert rejected == 0, f"{case.id} {attempt}: {rejected} simulator records were rejected"
            assert diff.lost == 0, f"{case.id} {attempt}: {diff}"
            assert diff.checked > 0
            for endpoint in ENDPOINT_NAMES:  # deleted runs must disappear on the next sync
                day = draw.choice(DAYS)
                for run_id in draw.sample(sorted(sim.truth_ids(endpoint, day)), 2):
                    sim.delete(endpoint, run_id)
            sim.advance(minutes=30)


@pytest.mark.parametrize("case", FAST, ids=[c.id for c in FAST])
def test_hostile_faults_leave_the_warehouse_equal_to_the_truth(
    case: FaultCase, make_simulator: Callable[..., Simulator], tmp_path: Path, tally: Tally
) -> None:
    run_case(case, make_simulator, tmp_path / "retab.duckdb", tally)


def test_hostile_faults_leave_a_lake_equal_to_the_truth(
    make_simulator: Callable[..., Simulator], postgres: PostgresCluster, tmp_path: Path, tally: Tally
) -> None:
    run_case(FAST[0], make_simulator, make_warehouse("lake", tmp_path, postgres), tally)


@pytest.mark.soak
@pytest.mark.parametrize("case", SOAK, ids=[c.id for c in SOAK])
def test_soak_hostile_faults_leave_the_warehouse_equal_to_the_truth(
    case: FaultCase, make_simulator: Callable[..., Simulator], tmp_path: Path, tally: Tally
) -> None:
    run_case(case, make_simulator, tmp_path / "retab.duckdb", tally)
