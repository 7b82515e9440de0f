"""A Ctrl-C that DuckDB swallows still stops the sync, at the next load."""

from __future__ import annotations

import importlib.abc
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.config import Settings
from pipelines.endpoints import WORKFLOW_RUNS
from pipelines.load import partitions
from pipelines.load.partitions import PartitionLoad
from pipelines.sync.interrupts import noticing_interrupts
from pipelines.sync.orchestrator import sync
from retab_sim import SimConfig, run_simulator

END = date(2026, 5, 10)
DAYS = [END - timedelta(days=n) for n in (3, 2, 1, 0)]


class CtrlCDuringPandasImport(importlib.abc.MetaPathFinder):
    """Once armed, the next lookup of `pandas` receives a SIGINT, as a Ctrl-C at that moment would."""

    def __init__(self) -> None:
        self.armed = False
        self.fired = 0

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "pandas" and self.armed:
            self.armed = False
            self.fired += 1
            signal.raise_signal(signal.SIGINT)  # its handler raises KeyboardInterrupt here
        return None


@pytest.fixture
def default_sigint() -> Iterator[None]:
    """Python's own SIGINT handler, whatever the test runner installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def ctrl_c(default_sigint: None) -> Iterator[CtrlCDuringPandasImport]:
    assert "pandas" not in sys.modules, "these tests need pandas not imported (duckdb then looks for it)"
    finder = CtrlCDuringPandasImport()
    sys.meta_path.insert(0, finder)
    yield finder
    sys.meta_path.remove(finder)


def test_duckdb_swallows_a_ctrl_c_that_lands_in_its_look_for_pandas(ctrl_c: CtrlCDuringPandasImport) -> None:
    """The upstream behaviour the sync works around; when this fails, duckdb fixed it: drop the workaround."""
    con = duckdb.connect()
    ctrl_c.armed = True
    assert con.execute("SELECT ?", [date(2026, 5, 1)]).fetchone() == (date(2026, 5, 1),)
    assert ctrl_c.fired == 1


def test_a_swallowed_ctrl_c_is_raised_at_the_next_check(ctrl_c: CtrlCDuringPandasImport) -> None:
    con = duckdb.connect()
    with noticing_interrupts() as interrupts:
        interrupts.check()  # nothing yet
        ctrl_c.armed = True
        con.execute("SELECT ?", [1]).fetchone()
        assert ctrl_c.fired == 1
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_outside_duckdb_is_raised_at_once_as_before(default_sigint: None) -> None:
    with noticing_interrupts() as interrupts, pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    assert interrupts.seen
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_another_handler_or_thread_is_left_alone(default_sigint: None) -> None:
    def own(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, own)
    with noticing_interrupts():
        assert signal.getsignal(signal.SIGINT) is own  # Dagster's, a notebook's: theirs to handle
    seen_in_thread: list[object] = []

    def in_thread() -> None:
        with noticing_interrupts() as interrupts:
            interrupts.check()
            seen_in_thread.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert seen_in_thread == [own]


def test_a_sync_whose_ctrl_c_duckdb_swallowed_still_stops(
    tmp_path: Path, ctrl_c: CtrlCDuringPandasImport, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_swap = partitions._swap

    def swap_then_ctrl_c(con: duckdb.DuckDBPyConnection, load: PartitionLoad) -> None:
        ctrl_c.armed = True  # the swap's statements bind the day: duckdb looks for pandas, gets the Ctrl-C
        real_swap(con, load)

    monkeypatch.setattr(partitions, "_swap", swap_then_ctrl_c)
    db = tmp_path / "warehouse.duckdb"
    with run_simulator(SimConfig(seed=9, end=END, days=4, runs_per_day=300)) as sim:
        settings = Settings(api_key=sim.key, base_url=sim.base_url, duckdb_path=db, concurrency=1)
        with pytest.raises(KeyboardInterrupt):
            sync(settings, [WORKFLOW_RUNS], DAYS)
    assert ctrl_c.fired == 1  # one Ctrl-C, swallowed by DuckDB in the first load, raised after it
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
