"""Shared fixtures: `simulator` and `make_simulator(**overrides)` (see retab_sim/testing.py)."""

from __future__ import annotations

from retab_sim.testing import make_simulator, simulator

__all__ = ["make_simulator", "simulator"]
