"""Concurrency: two syncs on one file, readers during a sync, a DuckDB session holding the file.

DuckDB allows one read-write process or many read-only ones per file. The sync holds the file
only while it loads a day, waits a bounded time for another holder (saying so), then gives up
with a message naming the holder and how to free the file. Every process here is a real one.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.config import Settings
from pipelines.errors import WarehouseLocked
from pipelines.load.connections import open_reader
from pipelines.sync.orchestrator import parse_endpoints, sync
from reliability.summary import Tally
from reliability.world import (
    ENDPOINT_NAMES,
    REPO,
    TABLES,
    changed_rows,
    cli_env,
    compare,
    data_snapshot,
    days_from,
    run_cli,
    sync_args,
    sync_log,
)
from retab_sim import Simulator

END = datetime.now(UTC).date() - timedelta(days=1)
DAYS = days_from(END - timedelta(days=2), 3)

HOLD_CODE = """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    con.execute("SELECT count(*) FROM information_schema.tables").fetchall()
    print("held", flush=True)
    seconds = float(sys.argv[2])
    if seconds > 0:
        time.sleep(seconds)
    else:
        sys.stdin.read()
    con.close()
"""


@pytest.fixture
def hold_file() -> Iterator[Callable[[Path, float], subprocess.Popen[str]]]:
    """Start a child process holding a read-only DuckDB session on a file (an analyst's notebook)."""
    children: list[subprocess.Popen[str]] = []

    def hold(path: Path, seconds: float) -> subprocess.Popen[str]:
        child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(HOLD_CODE), str(path), str(seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        assert child.stdout is not None and child.stdout.readline().strip() == "held", child.communicate()
        return child

    yield hold
    for child in children:
        child.kill()
        child.communicate(timeout=10)


def start_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *args],
        env=env,
        cwd=str(REPO),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def seeded(make_simulator: Callable[..., Simulator], path: Path, **overrides: object) -> Simulator:
    sim = make_simulator(
        seed=3, shape="mixed", end=END, days=3, runs_per_day=400, experiment_runs_per_day=40, **overrides
    )
    assert sync(
        Settings(api_key=sim.key, base_url=sim.base_url, duckdb_path=path), parse_endpoints("all"), DAYS
    ).ok
    return sim


def test_two_syncs_on_one_new_file_at_once_both_succeed(
    make_simulator: Callable[..., Simulator], tmp_path: Path, tally: Tally
) -> None:
    with tally.case("concurrency") as counted:
        sim = make_simulator(
            seed=4, shape="sdk", end=END, days=3, runs_per_day=500, experiment_runs_per_day=50, latency_ms=5
        )
        path = tmp_path / "new" / "retab.duckdb"  # both create and migrate it
        env = cli_env(tmp_path, key=sim.key, base_url=sim.base_url, db=path)
        children = [start_cli(sync_args(DAYS[0], DAYS[-1], "--concurrency", "2"), env) for _ in range(2)]
        outputs = [child.communicate(timeout=120) for child in children]
        diff = compare(path, sim, DAYS)
        counted.lose(diff.lost)
        for child, (out, err) in zip(children, outputs, strict=True):
            assert child.returncode == 0, out + err
        assert diff.lost == 0, str(diff)
        outcomes = Counter((row["pid"], row["outcome"]) for row in sync_log(path))
        assert outcomes == {(child.pid, "ok"): len(DAYS) * 2 for child in children}, outcomes


def stderr_until(child: subprocess.Popen[str], text: str) -> str:
    """The child's stderr read line by line until it has said `text` (wrapped or not), or has ended."""
    assert child.stderr is not None
    seen: list[str] = []
    for line in child.stderr:
        seen.append(line)
        if text in " ".join("".join(seen).split()):
            break
    return "".join(seen)


def test_a_session_holding_the_file_makes_the_sync_wait_and_say_so(
    make_simulator: Callable[..., Simulator],
    tmp_path: Path,
    hold_file: Callable[[Path, float], subprocess.Popen[str]],
    tally: Tally,
) -> None:
    with tally.case("concurrency") as counted:
        path = tmp_path / "retab.duckdb"
        sim = seeded(make_simulator, path)
        sim.advance(minutes=90)
        holder = hold_file(path, 0)  # held until its stdin closes: until the sync says it is waiting
        env = cli_env(tmp_path, key=sim.key, base_url=sim.base_url, db=path)
        with open(tmp_path / "sync.out", "w+") as out:  # a file: a full stdout pipe cannot stall it
            child = subprocess.Popen(
                [sys.executable, "-m", "pipelines.cli", *sync_args(DAYS[0], DAYS[-1], "--lock-wait", "30")],
                env=env,
                cwd=str(REPO),
                stdout=out,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert child.stderr is not None
            try:
                said = stderr_until(child, "waiting up to")
                held_while_waiting = holder.poll() is None
            finally:
                holder.communicate(timeout=30)  # the session closes: the waiting sync can go on
                rest = child.stderr.read()  # not communicate(): it would skip what the reader buffered
                child.wait(timeout=120)
            out.seek(0)
            stdout = out.read()
        diff = compare(path, sim, DAYS)
        counted.lose(diff.lost)
        assert child.returncode == 0, stdout + said + rest
        message = " ".join((said + rest).split())
        assert f"is held by process {holder.pid}" in message, message
        assert "waiting up to 30s for it (close your DuckDB session on this file" in message, message
        assert held_while_waiting, "the session had ended before the sync said it was waiting"
        assert diff.lost == 0, str(diff)


def test_a_session_holding_the_file_too_long_makes_the_sync_give_up_clearly(
    make_simulator: Callable[..., Simulator],
    tmp_path: Path,
    hold_file: Callable[[Path, float], subprocess.Popen[str]],
    tally: Tally,
) -> None:
    with tally.case("concurrency") as counted:
        path = tmp_path / "retab.duckdb"
        sim = seeded(make_simulator, path)
        sim.advance(minutes=90)
        before = data_snapshot(path)
        holder = hold_file(path, 0)
        env = cli_env(tmp_path, key=sim.key, base_url=sim.base_url, db=path)
        done = run_cli(sync_args(DAYS[0], DAYS[-1], "--lock-wait", "1.5"), env)
        message = " ".join((done.stdout + done.stderr).split())
        holder.kill()
        holder.communicate(timeout=10)
        changed = changed_rows(before, data_snapshot(path))
        counted.lose(changed)
        assert done.returncode == 1, message
        assert f"warehouse file {path} is locked: process {holder.pid}" in message, message
        assert "close your DuckDB session on this file" in message and "then retry" in message, message
        waited = re.search(r"Waited (\d+\.\d)s", message)
        assert waited is not None and 1.5 <= float(waited.group(1)) < 5, message
        assert changed == 0
        rerun = run_cli(sync_args(DAYS[0], DAYS[-1]), env)
        assert rerun.returncode == 0, rerun.stderr
        assert compare(path, sim, DAYS).lost == 0


def partition_states(path: Path) -> dict[tuple[str, date], Counter[tuple[str, str]]]:
    """(id, status) multisets per partition, read through the project's waiting reader."""
    with open_reader(path, lock_wait=20) as con:
        states = {}
        for endpoint in ENDPOINT_NAMES:
            for day in DAYS:
                rows = con.execute(
                    f"SELECT id, status FROM retab.{TABLES[endpoint]} WHERE created_date = ?", [day]
                ).fetchall()
                states[(endpoint, day)] = Counter(rows)
        return states


def test_readers_get_in_during_a_sync_and_see_whole_days(
    make_simulator: Callable[..., Simulator], tmp_path: Path, tally: Tally
) -> None:
    with tally.case("concurrency") as counted:
        path = tmp_path / "retab.duckdb"
        sim = seeded(make_simulator, path, latency_ms=25)  # slow pages: the sync lasts seconds
        before = partition_states(path)
        for endpoint in ENDPOINT_NAMES:
            for day in DAYS:
                for run_id in sorted(sim.truth_ids(endpoint, day))[:3]:
                    sim.delete(endpoint, run_id)
        sim.advance(minutes=60)
        after = {(e, d): Counter(sim.truth_ids(e, d).items()) for e in ENDPOINT_NAMES for d in DAYS}
        env = cli_env(tmp_path, key=sim.key, base_url=sim.base_url, db=path)
        child = start_cli(sync_args(DAYS[0], DAYS[-1], "--concurrency", "1"), env)
        reads, torn, waits = 0, 0, []
        try:
            deadline = time.monotonic() + 120
            while child.poll() is None and time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    states = partition_states(path)
                except WarehouseLocked as error:
                    pytest.fail(f"a reader gave up during the sync: {error}")
                waits.append(time.monotonic() - started)
                reads += 1
                torn += sum(state not in (before[key], after[key]) for key, state in states.items())
                time.sleep(0.05)
        finally:
            out, err = child.communicate(timeout=120)
        counted.lose(torn)
        assert child.returncode == 0, out + err
        assert reads >= 3, f"only {reads} reads happened during the sync"
        assert torn == 0, "a reader saw a day neither before nor after the sync"
        assert max(waits) < 10, f"a reader waited {max(waits):.1f}s"
        assert partition_states(path) == after
