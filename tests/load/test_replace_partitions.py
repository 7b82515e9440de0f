"""replace_partitions: small partitions share a commit; a bad one fails alone and the others land."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.errors import IncompletePartition
from pipelines.load import partitions
from pipelines.load.connections import open_writer
from pipelines.load.partitions import PartitionLoad, replace_partitions

from .loading import partition_load
from .partition_rows import rejected, run_documents, run_ids, workflow_runs

DAYS = [date(2026, 5, d) for d in (1, 2, 3, 4)]


def runs_day(day: date, count: int) -> dict:
    ids = run_ids(day, range(count))
    return {
        "workflow_runs": workflow_runs(day, ids),
        "workflow_run_documents": run_documents(day, ids),
        "rejected_records": rejected("runs", day, []),
    }


def counts(con: duckdb.DuckDBPyConnection) -> dict[date, int]:
    rows = con.execute("SELECT created_date, count(*) FROM retab.workflow_runs GROUP BY 1").fetchall()
    return dict(rows)


def outcomes(con: duckdb.DuckDBPyConnection) -> list[tuple[date, str]]:
    return con.execute("SELECT day, outcome FROM retab.sync_log ORDER BY day").fetchall()


@pytest.fixture
def con(migrated_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with open_writer(migrated_path) as connection:
        yield connection


def loads_of(sizes: list[int]) -> list[PartitionLoad]:
    return [partition_load("runs", day, runs_day(day, n)) for day, n in zip(DAYS, sizes, strict=True)]


def test_every_partition_lands_whatever_the_grouping(con: duckdb.DuckDBPyConnection) -> None:
    loads = loads_of([30, 40, 50, 60])
    assert replace_partitions(con, loads, max_rows=150) == {}  # several transactions
    assert counts(con) == dict(zip(DAYS, [30, 40, 50, 60], strict=True))
    assert outcomes(con) == [(day, "ok") for day in DAYS]


def test_a_bad_partition_fails_alone_and_the_rest_of_its_group_lands(
    con: duckdb.DuckDBPyConnection, caplog: pytest.LogCaptureFixture
) -> None:
    loads = loads_of([10, 20, 30, 40])
    loads[2].log.complete = False  # a page walk that did not finish: must be refused
    with caplog.at_level(logging.WARNING, logger="pipelines.load.partitions"):
        failures = replace_partitions(con, loads)
    assert list(failures) == [2] and isinstance(failures[2], IncompletePartition)
    assert "one at a time" in caplog.text
    assert counts(con) == {DAYS[0]: 10, DAYS[1]: 20, DAYS[3]: 40}
    assert outcomes(con) == [(DAYS[0], "ok"), (DAYS[1], "ok"), (DAYS[3], "ok")]


def test_a_failure_in_the_shared_transaction_keeps_nothing_of_it_half_done(
    con: duckdb.DuckDBPyConnection,
) -> None:
    before = replace_partitions(con, loads_of([5, 5, 5, 5]))
    assert before == {}
    loads = loads_of([7, 8, 9, 10])
    loads[3].log.source = "https://somewhere.else"  # refused inside the transaction, after the others' swaps
    failures = replace_partitions(con, loads)
    assert list(failures) == [3]
    assert counts(con) == {DAYS[0]: 7, DAYS[1]: 8, DAYS[2]: 9, DAYS[3]: 5}


@pytest.fixture
def ctrl_c_during_the_swap(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every swap ends with a long query, and a Ctrl-C (SIGINT) arrives while it runs."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    real_swap = partitions._swap

    def slow_swap(con: duckdb.DuckDBPyConnection, load: PartitionLoad) -> None:
        real_swap(con, load)
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        con.execute("SELECT count(*) FROM range(100_000_000_000) t(i) WHERE i % 7 = 3").fetchall()

    monkeypatch.setattr(partitions, "_swap", slow_swap)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("max_rows", [1_000, 0], ids=["shared-transaction", "one-at-a-time"])
def test_ctrl_c_while_duckdb_loads_stops_the_sync_and_keeps_every_day(
    max_rows: int, migrated_path: Path, ctrl_c_during_the_swap: None
) -> None:
    """duckdb 1.5 turns Ctrl-C into RuntimeError("Query interrupted"): an interruption, not a failed day."""
    with open_writer(migrated_path) as con:
        with pytest.raises(KeyboardInterrupt) as raised:
            replace_partitions(con, loads_of([5, 6, 7, 8]), max_rows=max_rows)
        assert str(raised.value.__cause__) == "Query interrupted"  # DuckDB's, not Python's own
        assert counts(con) == {}
        assert outcomes(con) == []
