"""Shared fixtures: `simulator`, `make_simulator(**overrides)` (retab_sim/testing.py), `postgres`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from postgres_cluster import PostgresCluster, running_cluster
from warehouses import BACKENDS, make_warehouse

from pipelines.config import Warehouse
from retab_sim.testing import make_simulator, simulator

__all__ = ["make_simulator", "postgres", "simulator", "warehouse"]

# The reliability suite's summary table (cases tried, survived, rows lost) is printed by the xdist
# controller, which loads only this top-level conftest.
pytest_plugins = ["reliability.summary"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster on a free loopback port, for the whole session (per worker)."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture(params=BACKENDS)
def warehouse(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """A new empty warehouse: a DuckDB file (`file`), or a DuckLake on the PostgreSQL cluster (`lake`)."""
    postgres = request.getfixturevalue("postgres") if request.param == "lake" else None
    return make_warehouse(request.param, tmp_path_factory.mktemp(request.param), postgres)
