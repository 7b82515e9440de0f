"""pytest fixtures: `simulator` (a small default world) and `make_simulator(**overrides)`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from retab_sim.config import SimConfig
from retab_sim.runner import Simulator, run_simulator

TEST_CONFIG = SimConfig(seed=7, end=date(2026, 5, 10), days=3, runs_per_day=200, experiment_runs_per_day=20)
"""The fixtures' default world: 3 days to 2026-05-10, 200 runs and 20 experiment runs a day."""


@pytest.fixture
def make_simulator() -> Iterator[Callable[..., Simulator]]:
    """A factory: `make_simulator(seed=3, faults="hostile")` starts one; all stop after the test."""
    with ExitStack() as stack:

        def make(**overrides: Any) -> Simulator:
            return stack.enter_context(run_simulator(replace(TEST_CONFIG, **overrides)))

        yield make


@pytest.fixture
def simulator(make_simulator: Callable[..., Simulator]) -> Simulator:
    """A simulator with the default test world, stopped after the test."""
    return make_simulator()
