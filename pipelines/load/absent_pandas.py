"""Statements with bound parameters, sped up where pandas is not installed.

duckdb 1.5 asks for pandas for every parameter it binds (is the value a DataFrame?). With pandas
absent each ask is a failed import that searches every folder of sys.path again: ~0.15 ms a
parameter, so the ~40 parameters of a sync_log row cost ~6 ms a statement, and a latency-bound sync
of ~5 s spent ~0.25 s on them (bench scenario `latency`: 5.3-6.0 -> 5.1-5.3 s in process).
Recording the absence in sys.modules, as the import system itself allows, makes each ask fail at
once. Nothing changes for a process that has pandas: the probe is skipped, and duckdb imports it once.
"""

from __future__ import annotations

import importlib.util
import sys


def remember_pandas_is_absent() -> None:
    """When pandas cannot be imported, make every later `import pandas` fail at once."""
    if "pandas" in sys.modules:
        return
    if importlib.util.find_spec("pandas") is None:
        sys.modules["pandas"] = None  # type: ignore[assignment]  # the import system's "known absent"
