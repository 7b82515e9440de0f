"""A local stand-in for the Retab API: both run listings and GETs, a clock, faults, ground truth.

Imports are lazy: `import retab_sim.cli` (for the command's arguments) loads neither numpy nor
the server until something is served.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retab_sim.config import SimConfig
    from retab_sim.runner import RemoteSimulator, Simulator, run_simulator, start_simulator_process

__all__ = ["RemoteSimulator", "SimConfig", "Simulator", "run_simulator", "start_simulator_process"]
_HOMES = {"SimConfig": "retab_sim.config"} | dict.fromkeys(__all__[:1] + __all__[2:], "retab_sim.runner")


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'retab_sim' has no attribute {name!r}")
