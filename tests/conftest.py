"""Shared fixtures: `simulator` and `make_simulator(**overrides)` (see retab_sim/testing.py)."""

from __future__ import annotations

from retab_sim.testing import make_simulator, simulator

__all__ = ["make_simulator", "simulator"]

# The reliability suite's summary table (cases tried, survived, rows lost) is printed by the xdist
# controller, which loads only this top-level conftest.
pytest_plugins = ["reliability.summary"]
