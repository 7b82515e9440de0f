"""Fixtures of the simulator tests: `api`, a raw client of the default `simulator`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from retab_sim import Simulator

from .rawapi import RawApi


@pytest.fixture
def api(simulator: Simulator) -> Iterator[RawApi]:
    """A raw client of the default `simulator`."""
    client = RawApi(simulator)
    yield client
    client.session.close()
