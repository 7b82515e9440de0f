"""Shared fixtures: `simulator`, `make_simulator(**overrides)` (retab_sim/testing.py), `postgres`."""

from __future__ import annotations

from postgres_cluster import postgres

from retab_sim.testing import make_simulator, simulator

__all__ = ["make_simulator", "postgres", "simulator"]

# The reliability suite's summary table (cases tried, survived, rows lost) is printed by the xdist
# controller, which loads only this top-level conftest.
pytest_plugins = ["reliability.summary"]
