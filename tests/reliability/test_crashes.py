"""`retab-warehouse sync` killed with SIGKILL at random points of fetch, flatten and commit, then re-run.

Each case seeds a warehouse, changes the simulator's world (runs deleted, the clock moved on),
then runs the real CLI in a child process that kills itself at the Nth point of one stage
(reliability/crashing_sync.py). Right after the kill the file must open and every partition must
hold either its previous content or the new one, whole; after a plain re-run it must equal the
truth, hold no duplicate, and sync_log must show the killed attempt as interrupted.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.config import Settings
from pipelines.sync.orchestrator import parse_endpoints, sync
from reliability.crashing_sync import STAGES
from reliability.summary import Tally
from reliability.world import (
    ENDPOINT_NAMES,
    REPO,
    cli_env,
    compare,
    days_from,
    run_cli,
    stored_rows,
    sync_args,
    sync_log,
)
from retab_sim import Simulator

END = datetime.now(UTC).date() - timedelta(days=1)  # the CLI refuses days after today
DAYS = days_from(END - timedelta(days=2), 3)


@dataclass(frozen=True)
class CrashPoint:
    stage: str
    fraction: float  # where in the stage's points, 0..1

    def target(self, points: dict[str, int]) -> int:
        return 1 + min(int(self.fraction * points[self.stage]), points[self.stage] - 1)


def crash_points(count: int, salt: int) -> list[CrashPoint]:
    """`count` points, stages in turn, at random places within each stage."""
    draw = random.Random(salt)
    return [CrashPoint(STAGES[n % len(STAGES)], draw.random()) for n in range(count)]


def seeded_world(
    make_simulator: Callable[..., Simulator], path: Path, seed: int, faults: str, latency_ms: int = 0
) -> Simulator:
    """A simulator, a warehouse synced from it, then a world that moved on (deletes, 45 minutes)."""
    sim = make_simulator(
        seed=seed,
        shape="mixed",
        end=END,
        days=3,
        runs_per_day=260,
        experiment_runs_per_day=30,
        faults=faults,
        latency_ms=latency_ms,
    )
    settings = Settings(api_key=sim.key, base_url=sim.base_url, duckdb_path=path, max_retry_seconds=60)
    assert sync(settings, parse_endpoints("all"), DAYS).ok
    draw = random.Random(seed)
    for endpoint in ENDPOINT_NAMES:
        for day in DAYS:
            for run_id in draw.sample(sorted(sim.truth_ids(endpoint, day)), 2):
                sim.delete(endpoint, run_id)
    sim.advance(minutes=45)
    return sim


def partition_states(path: Path) -> dict[tuple[str, date], Counter[tuple[str, str]]]:
    """(id, status) multiset of every partition."""
    return {
        (endpoint, day): Counter(rows)
        for endpoint in ENDPOINT_NAMES
        for day, rows in stored_rows(path, endpoint, DAYS).items()
    }


def count_points(sim: Simulator, path: Path, tmp_path: Path) -> dict[str, int]:
    """Run the CLI with counting only (N = 0) on a copy of the world; the points each stage has."""
    env = cli_env(tmp_path, key=sim.key, base_url=sim.base_url, db=path)
    done = run_cli(["fetch", "0", *sync_args(DAYS[0], DAYS[-1])], env, module="reliability.crashing_sync")
    assert done.returncode == 0, done.stderr
    match = re.search(r"points fetch=(\d+) flatten=(\d+) commit=(\d+)", done.stderr)
    assert match, done.stderr
    return dict(zip(STAGES, map(int, match.groups()), strict=True))


def run_crash_cases(
    points: list[CrashPoint],
    make_simulator: Callable[..., Simulator],
    tmp_path: Path,
    tally: Tally,
    faults: str = "none",
) -> None:
    calibration = tmp_path / "calibration" / "retab.duckdb"
    # Without faults a stage has the fewest points (a retried page is parsed again), so every
    # target drawn from these counts is reached whatever faults the cases run with.
    counts = count_points(seeded_world(make_simulator, calibration, 1, "none"), calibration, tmp_path)
    assert all(counts.values()), counts
    for number, point in enumerate(points):
        with tally.case("crashes") as counted:
            path = tmp_path / f"case{number}" / "retab.duckdb"
            sim = seeded_world(make_simulator, path, 1 + number, faults)
            before = partition_states(path)
            env = cli_env(tmp_path, key=sim.key, base_url=sim.base_url, db=path)
            target = point.target(counts)
            label = f"case {number}: SIGKILL at {point.stage} point {target} of {counts[point.stage]}"

            crashed = run_cli(
                [point.stage, str(target), *sync_args(DAYS[0], DAYS[-1])],
                env,
                module="reliability.crashing_sync",
            )
            assert crashed.returncode == -signal.SIGKILL, (
                f"{label}: the sync was not killed\n{crashed.stderr}"
            )

            truth = {(e, d): Counter(sim.truth_ids(e, d).items()) for e in ENDPOINT_NAMES for d in DAYS}
            after_kill = partition_states(path)  # the file opens read-only right after the kill
            torn = [key for key, rows in after_kill.items() if rows not in (before[key], truth[key])]
            counted.lose(sum(sum(after_kill[key].values()) for key in torn))
            assert not torn, f"{label}: partitions neither old nor new after the kill: {torn}"

            rerun = run_cli(sync_args(DAYS[0], DAYS[-1]), env)
            assert rerun.returncode == 0, f"{label}: the re-run failed\n{rerun.stdout}\n{rerun.stderr}"
            diff = compare(path, sim, DAYS)
            counted.lose(diff.lost)
            assert diff.lost == 0, f"{label}: {diff}"

            pid = int(re.search(r"^pid (\d+)$", crashed.stderr, re.M).group(1))  # type: ignore[union-attr]
            killed = [row for row in sync_log(path) if row["pid"] == pid]
            outcomes = Counter(row["outcome"] for row in killed)
            assert "running" not in outcomes, f"{label}: the killed attempt still looks running: {outcomes}"
            if any(after_kill[key] != truth[key] for key in truth) and killed:
                assert outcomes["interrupted"] > 0, f"{label}: sync_log hides the killed attempt: {outcomes}"
            leftovers = sorted(p.name for p in path.parent.iterdir() if p.name.startswith("retab-spool-"))
            assert not leftovers, (
                f"{label}: the killed sync's spill directories were never removed: {leftovers}"
            )


FAST = crash_points(4, salt=3)
SOAK = crash_points(25, salt=33)


def test_sigkill_during_sync_then_rerun_equals_the_truth(
    make_simulator: Callable[..., Simulator], tmp_path: Path, tally: Tally
) -> None:
    run_crash_cases(FAST, make_simulator, tmp_path, tally)


@pytest.mark.soak
@pytest.mark.parametrize("chunk", range(5), ids=lambda n: f"points{5 * n}-{5 * n + 4}")
def test_soak_25_sigkills_during_sync_then_rerun_equals_the_truth(
    chunk: int, make_simulator: Callable[..., Simulator], tmp_path: Path, tally: Tally
) -> None:
    run_crash_cases(SOAK[5 * chunk : 5 * chunk + 5], make_simulator, tmp_path, tally, faults="mild")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_sync_says_so_and_a_rerun_finishes_it(
    signum: signal.Signals, make_simulator: Callable[..., Simulator], tmp_path: Path, tally: Tally
) -> None:
    """Ctrl-C (or a service manager's SIGTERM) half-way through: no traceback, nothing torn, re-run heals."""
    with tally.case("crashes") as counted:
        path = tmp_path / "retab.duckdb"
        slow = seeded_world(make_simulator, path, 7, "none", latency_ms=120)
        env = cli_env(tmp_path, key=slow.key, base_url=slow.base_url, db=path)
        child = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", *sync_args(DAYS[0], DAYS[-1], "--concurrency", "1")],
            env=env,
            cwd=str(REPO),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        served = slow.counters()["requests_total"]
        deadline = time.monotonic() + 30
        while slow.counters()["requests_total"] < served + 2 and time.monotonic() < deadline:
            time.sleep(0.02)  # until the sync is fetching
        time.sleep(random.Random(int(signum)).uniform(0.0, 0.6))
        child.send_signal(signum)
        out, err = child.communicate(timeout=60)
        output = " ".join((out + err).split())
        rerun = run_cli(sync_args(DAYS[0], DAYS[-1]), env)
        diff = compare(path, slow, DAYS)
        counted.lose(diff.lost)
        if signum == signal.SIGINT:
            assert child.returncode == 130, output
            assert "sync interrupted: the days committed so far are kept" in output, output
        else:
            assert child.returncode == -signal.SIGTERM, output
        assert "Traceback" not in output, output
        assert rerun.returncode == 0, rerun.stderr
        assert diff.lost == 0, str(diff)
        outcomes = Counter(row["outcome"] for row in sync_log(path) if row["pid"] == child.pid)
        assert "running" not in outcomes, outcomes
        # interrupted rows, unless the Ctrl-C was swallowed by DuckDB in the last load and raised after
        # it (pipelines.sync.interrupts): then every day of the sync had committed
        assert outcomes["interrupted"] > 0 or set(outcomes) == {"ok"}, outcomes
