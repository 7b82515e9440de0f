"""Starting the simulator three ways (thread, process, command line) and stopping it cleanly."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import requests

from retab_sim import SimConfig, run_simulator, start_simulator_process
from retab_sim.cli import add_arguments, config_from_args
from retab_sim.testing import TEST_CONFIG

ROOT = Path(__file__).resolve().parents[2]


def port_of(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1])


def refuses(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_run_simulator_stops_cleanly_even_with_a_keep_alive_client() -> None:
    session = requests.Session()
    with run_simulator(TEST_CONFIG) as sim:
        assert sim.base_url.startswith("http://127.0.0.1:") and not sim.base_url.endswith("/v1")
        response = session.get(sim.base_url + "/v1/workflows/runs", headers={"Api-Key": sim.key}, timeout=10)
        assert response.status_code == 200
    assert refuses(port_of(sim.base_url))
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(sim.base_url + "/v1/workflows/runs", headers={"Api-Key": sim.key}, timeout=10)


def test_two_simulators_run_side_by_side_on_free_ports() -> None:
    with run_simulator(TEST_CONFIG) as a, run_simulator(SimConfig(seed=8, end=date(2026, 5, 10))) as b:
        assert a.base_url != b.base_url
        assert a.truth_ids("runs", "2026-05-10") != b.truth_ids("runs", "2026-05-10")


def test_the_process_simulator_offers_the_same_admin_calls_over_http() -> None:
    with start_simulator_process(TEST_CONFIG) as sim:
        assert sim.now == datetime(2026, 5, 11, tzinfo=UTC)
        assert sim.advance(minutes=30) == datetime(2026, 5, 11, 0, 30, tzinfo=UTC)
        ids = sim.truth_ids("runs", date(2026, 5, 10))
        assert len(ids) == 200 and len(sim.truth("experiment-runs", "2026-05-10")) == 20
        victim = next(iter(ids))
        sim.delete("runs", victim)
        with pytest.raises(KeyError):
            sim.delete("runs", victim)
        assert victim not in sim.truth_ids("runs", "2026-05-10")
        assert sim.counters()["requests_total"] == 0  # admin calls are not API traffic
        port = port_of(sim.base_url)
    assert refuses(port)


def test_the_command_line_prints_the_base_url_serves_and_stops_on_ctrl_c() -> None:
    command = [sys.executable, "-m", "retab_sim", "--seed", "3", "--end", "2026-05-10", "--days", "2"]
    command += ["--runs-per-day", "50", "--key", "k-123"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        response = requests.get(
            base_url + "/v1/workflows/runs", params={"limit": 100}, timeout=10, headers={"Api-Key": "k-123"}
        )
        assert response.status_code == 200 and len(response.json()["data"]) == 100
        assert (
            requests.get(
                base_url + "/v1/workflows/runs", headers={"Api-Key": "sim-key"}, timeout=10
            ).status_code
            == 401
        )
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_defaults_and_the_today_clock() -> None:
    args = parse()
    assert (args.port, args.key, args.shape, args.faults, args.end, args.latency_ms) == (
        0,
        "sim-key",
        "sdk",
        "none",
        None,
        0,
    )
    wall = datetime(2026, 5, 10, 9, 30, tzinfo=UTC)
    today = config_from_args(args, wall=wall)
    assert today.end == wall.date() and today.realtime and today.initial_now == wall
    past = config_from_args(
        parse("--end", "2026-05-01", "--faults", "hostile", "--shape", "mixed"), wall=wall
    )
    assert not past.realtime and past.initial_now == datetime(2026, 5, 2, tzinfo=UTC)
    assert (past.faults, past.shape) == ("hostile", "mixed")


def test_the_realtime_clock_follows_the_wall_clock() -> None:
    wall = datetime.now(UTC)
    with run_simulator(SimConfig(end=wall.date(), now=wall, realtime=True, runs_per_day=1000)) as sim:
        first = sim.now
        assert abs(first - wall) < timedelta(seconds=5)
        sim.advance(minutes=10)
        assert sim.now - first >= timedelta(minutes=10)
        created = sim.truth("runs", wall.date())
        assert all(datetime.fromisoformat(r["timing"]["created_at"]) <= sim.now for r in created)
