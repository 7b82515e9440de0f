"""Start-up: `retab-warehouse --help` wall time, and which libraries the CLI and the sync path import.

`--help` must not load the data stack; the sync engine (pipelines.sync.orchestrator) must load neither Dagster
nor the plotting, reporting or simulator code it does not use.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.table import Figure, ScenarioResult

TARGET_SECONDS = 0.5
HELP_MUST_NOT_IMPORT = ("dagster", "duckdb", "pyarrow", "numpy", "requests", "matplotlib", "rich")
SYNC_MUST_NOT_IMPORT = ("dagster", "matplotlib", "retab_sim", "dlt", "pandas", "rich", "pyinstrument")


def script() -> Path:
    """The console script next to this interpreter."""
    return Path(sys.executable).parent / "retab-warehouse"


def imported(code: str) -> list[str]:
    """Top-level packages a fresh interpreter has loaded after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return modules


def run(repetitions: int, workdir: Path) -> ScenarioResult:
    """`--help` max(5, repetitions) times after one warm-up; import checks once."""
    result = ScenarioResult("startup")
    command = [str(script()), "--help"]
    subprocess.run(command, capture_output=True, check=True)
    seconds = []
    for _ in range(max(5, repetitions)):
        began = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        seconds.append(time.perf_counter() - began)
    help_modules = imported("from pipelines.cli import build_parser\nbuild_parser()")
    sync_modules = imported("import pipelines.sync.orchestrator")
    help_bad = sorted(set(HELP_MUST_NOT_IMPORT) & set(help_modules))
    sync_bad = sorted(set(SYNC_MUST_NOT_IMPORT) & set(sync_modules))
    result.figures = [
        Figure(
            "startup",
            "retab-warehouse --help",
            "s",
            seconds,
            at_most=TARGET_SECONDS,
            note=f"--help imports {help_bad}" if help_bad else "",
        ),
        Figure(
            "startup",
            "libraries the sync path must not import, imported",
            "count",
            [float(len(sync_bad))],
            at_most=0,
            note=f"pipelines.sync.orchestrator imports {sync_bad}" if sync_bad else "",
        ),
    ]
    result.details = {"help_imports": help_modules, "sync_imports": sync_modules}
    return result
