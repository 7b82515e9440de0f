"""Fixtures of the Dagster tests: a simulator, a warehouse and a Dagster instance, all on tmp_path."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from sim_world import PROJECT_ROOT, WORLD

from assets.resources import RetabApiResource, WarehouseResource
from retab_sim import Simulator, run_simulator


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No RETAB_* variable or DAGSTER_HOME leaks in from the shell running the tests."""
    for name in ("RETAB_API_KEY", "RETAB_API_BASE_URL", "RETAB_DUCKDB_PATH", "RETAB_REJECTED_SHARE_MAX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))


@pytest.fixture
def make_sim() -> Iterator[Callable[..., Simulator]]:
    """Start simulators of the test world with overrides; all stop after the test."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        yield lambda **overrides: stack.enter_context(run_simulator(replace(WORLD, **overrides)))


@pytest.fixture
def sim(make_sim: Callable[..., Simulator]) -> Simulator:
    """The test world: 5 days to 2026-05-10, 120 workflow runs and 12 experiment runs a day, mixed shape."""
    return make_sim()


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse" / "retab.duckdb"


@pytest.fixture
def resources(sim: Simulator, warehouse_path: Path) -> dict[str, Any]:
    """Resources pointing at the simulator and the tmp warehouse (a plain key: tests only)."""
    return {
        "retab_api": RetabApiResource(api_key=sim.key, base_url=sim.base_url, concurrency=2),
        "warehouse": WarehouseResource(path=str(warehouse_path), lock_wait=20),
    }


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A persistent instance on tmp_path configured by the project's dagster.yaml (pools, retries...)."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance
