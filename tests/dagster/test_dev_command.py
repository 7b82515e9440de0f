"""`retab-warehouse dev` prepares a separate home, points the code location at the simulator and says so."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import yaml
from sim_world import PROJECT_ROOT

from assets.dev import LOCATION_NAME, banner, dev_environment, prepare_home
from pipelines.errors import EXIT_FIX_FIRST

QUICK = 15.0  # seconds: far less than the simulator, the seed and dagster dev take to start


def test_the_code_location_gets_the_simulator_and_a_separate_warehouse_and_home(tmp_path: Path) -> None:
    env = dev_environment(
        {"PATH": "/usr/bin", "RETAB_API_KEY": "real-key"},
        base_url="http://127.0.0.1:4321",
        key="sim-key",
        warehouse=tmp_path / "dev.duckdb",
        home=tmp_path / "home",
        first_day=date(2026, 5, 1),
    )
    assert env["RETAB_API_BASE_URL"] == "http://127.0.0.1:4321"
    assert env["RETAB_API_KEY"] == "sim-key", "the real key is not used against the simulator"
    assert env["RETAB_DUCKDB_PATH"] == str(tmp_path / "dev.duckdb")
    assert env["DAGSTER_HOME"] == str(tmp_path / "home")
    assert env["RETAB_PARTITIONS_START"] == "2026-05-01"
    assert env["PATH"] == "/usr/bin"


def test_the_dev_home_gets_the_project_instance_settings_and_a_labelled_workspace(tmp_path: Path) -> None:
    workspace = prepare_home(tmp_path / "home")

    assert (tmp_path / "home" / "dagster.yaml").read_bytes() == (PROJECT_ROOT / "dagster.yaml").read_bytes()
    (entry,) = yaml.safe_load(workspace.read_text())["load_from"]
    assert entry["python_module"]["module_name"] == "assets.definitions"
    assert entry["python_module"]["location_name"] == LOCATION_NAME
    assert "simulator" in LOCATION_NAME


def test_the_banner_says_it_is_the_simulator_not_the_real_api(tmp_path: Path) -> None:
    text = banner(
        sim_url="http://127.0.0.1:4321",
        seed=1,
        days=14,
        faults="mild",
        warehouse=tmp_path / "dev.duckdb",
        home=tmp_path / "home",
        ui_url="http://127.0.0.1:3000",
    )
    assert "EMBEDDED SIMULATOR" in text and "NOT the real Retab API" in text
    assert "http://127.0.0.1:4321" in text and str(tmp_path / "dev.duckdb") in text


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another process listens on, as a dagster dev still running would."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def run_quickly(command: list[str]) -> tuple[int | None, str, str, float]:
    """Run a command in its own process group; after QUICK seconds stop the whole group (exit code None)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETAB_", "DAGSTER_"))}
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=QUICK)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        code = None
    return code, out, err, time.monotonic() - started


def test_a_taken_port_stops_dev_at_once_naming_the_port_and_nothing_starts(
    tmp_path: Path, taken_port: int
) -> None:
    home, warehouse = tmp_path / "home", tmp_path / "dev.duckdb"
    command = [sys.executable, "-m", "assets.dev", "--port", str(taken_port), "--home", str(home)]
    code, out, err, seconds = run_quickly([*command, "--warehouse", str(warehouse)])

    assert code == EXIT_FIX_FIRST, (code, out[-2000:], err[-2000:])
    assert f"port {taken_port} is in use (another dagster dev?)" in err
    assert "stop it or run `retab-warehouse dev --port " in err
    assert seconds < QUICK
    assert "EMBEDDED SIMULATOR" not in out, "no banner: the simulator did not start"
    assert not home.exists() and not warehouse.exists(), "no dev home, no warehouse file"


def test_retab_warehouse_dev_passes_its_port_on(taken_port: int) -> None:
    code, _, err, _ = run_quickly([sys.executable, "-m", "pipelines.cli", "dev", "--port", str(taken_port)])

    assert code == EXIT_FIX_FIRST
    assert f"port {taken_port} is in use" in err, err[-2000:]
