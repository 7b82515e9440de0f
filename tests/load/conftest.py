"""Fixtures of the load tests: a warehouse path on tmp_path and child processes that hold or load it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.load.connections import open_writer

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    """A warehouse file that does not exist yet; named like the project default (retab.duckdb)."""
    return tmp_path / "warehouse" / "retab.duckdb"


@pytest.fixture
def migrated_path(warehouse_path: Path) -> Path:
    """A warehouse file with the current schema and no rows."""
    with open_writer(warehouse_path):
        pass
    return warehouse_path


def child_env() -> dict[str, str]:
    """The environment of a child Python process that imports the project and the test helpers."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)])}


def start_child(code: str, *args: str) -> subprocess.Popen[str]:
    """Run `code` in a fresh interpreter, with line-buffered pipes."""
    return subprocess.Popen(
        [sys.executable, "-u", "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=str(REPO),
    )


def wait_for_line(child: subprocess.Popen[str], expected: str) -> None:
    """Read the child's stdout until a line equals `expected`; fail with its stderr if it exits."""
    assert child.stdout is not None
    for line in child.stdout:
        if line.strip() == expected:
            return
    child.wait(timeout=10)
    stderr = child.stderr.read() if child.stderr else ""
    pytest.fail(f"child exited with {child.returncode} before printing {expected!r}:\n{stderr}")


HOLD_CODE = """
    import sys, time, duckdb
    path, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    con = duckdb.connect(path, read_only=(mode == "read_only"))
    print("held", flush=True)
    if seconds > 0:
        time.sleep(seconds)
    else:
        sys.stdin.read()  # until the parent closes stdin
    con.close()
    print("released", flush=True)
"""


@pytest.fixture
def hold_file() -> Iterator[object]:
    """Start a child process (a user's DuckDB session) that holds a file read-only or read-write."""
    children: list[subprocess.Popen[str]] = []

    def hold(path: Path, mode: str, seconds: float = 0.0) -> subprocess.Popen[str]:
        child = start_child(HOLD_CODE, str(path), mode, str(seconds))
        children.append(child)
        wait_for_line(child, "held")
        return child

    yield hold
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
        for stream in (child.stdin, child.stdout, child.stderr):
            if stream is not None:
                stream.close()
