"""`retab-warehouse dev` prepares a separate home, points the code location at the simulator and says so."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml
from sim_world import PROJECT_ROOT

from assets.dev import LOCATION_NAME, banner, dev_environment, prepare_home


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
