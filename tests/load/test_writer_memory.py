"""The writer's small memory limit, raised for a load that needs more (pipelines.load.memory)."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from warehouses import make_warehouse

from pipelines.config import DuckLake, Warehouse
from pipelines.errors import LoadOutOfMemory
from pipelines.load import memory
from pipelines.load.connections import LAKE_WRITER_SETTINGS, WRITER_SETTINGS, open_reader, open_writer
from pipelines.load.partitions import replace_partition
from pipelines.load.transfer import copy_into_lake

from .loading import load_day, partition_load
from .partition_rows import rejected, run_documents, run_ids, workflow_runs

DAY = date(2026, 5, 1)
LARGE = 40_000  # bytes of padding a record: past what a first load fits in 64 MB (~32 kB)


def large_runs(numbers: range, *, version: int) -> dict:
    ids = run_ids(DAY, numbers)
    return {
        "workflow_runs": workflow_runs(DAY, ids, version=version, pad=LARGE),
        "workflow_run_documents": run_documents(DAY, ids, version=version),
        "rejected_records": rejected("runs", DAY, []),
    }


def limit_of(con: duckdb.DuckDBPyConnection) -> float:
    row = con.execute("SELECT current_setting('memory_limit')").fetchone()
    assert row is not None
    return memory.memory_limit_mib(row[0])


def configured(warehouse: Warehouse) -> float:
    settings = LAKE_WRITER_SETTINGS if isinstance(warehouse, DuckLake) else WRITER_SETTINGS
    with duckdb.connect() as con:
        con.execute(f"SET memory_limit = '{settings['memory_limit']}'")
        return limit_of(con)


def test_a_day_of_large_records_loads_with_more_memory_then_the_limit_is_set_back(warehouse) -> None:
    with open_writer(warehouse) as con:
        default = limit_of(con)
        assert default == configured(warehouse)
        load_day(con, "runs", DAY, large_runs(range(0, 3_000), version=1))
        assert limit_of(con) == default
        again = partition_load("runs", DAY, large_runs(range(1_000, 4_000), version=2))
        with again.spool:
            replace_partition(con, again)  # walked again: the changes are counted
        assert limit_of(con) == default
        log = again.log
        assert (log.rows, log.added, log.changed, log.removed) == (3_000, 1_000, 2_000, 1_000)
        held = con.execute(
            "SELECT count(*), min(id), max(id) FROM retab.workflow_runs WHERE created_date = ?", [DAY]
        ).fetchone()
        assert held == (3_000, run_ids(DAY, [1_000])[0], run_ids(DAY, [3_999])[0])
    with open_reader(warehouse) as reader:  # a reader's limit is DuckDB's default
        sizes = reader.execute("SELECT min(length(raw)) FROM retab.workflow_runs").fetchone()
        assert sizes is not None and sizes[0] > LARGE


def test_a_load_past_the_ceiling_fails_alone_and_keeps_the_day(migrated_path, monkeypatch) -> None:
    monkeypatch.setattr(memory, "WRITER_MEMORY_CEILING_MIB", 100.0)
    with open_writer(migrated_path) as con:
        load_day(con, "runs", DAY, large_runs(range(0, 10), version=1))
        before = con.execute("SELECT id, raw FROM retab.workflow_runs ORDER BY id").fetchall()
        too_large = partition_load("runs", DAY, large_runs(range(0, 3_000), version=2))
        with too_large.spool, pytest.raises(LoadOutOfMemory, match=r"runs 2026-05-01: .* at most 100 MiB"):
            replace_partition(con, too_large)
        assert con.execute("SELECT id, raw FROM retab.workflow_runs ORDER BY id").fetchall() == before
        assert limit_of(con) == configured(migrated_path)


@pytest.mark.parametrize(
    ("shown", "mib"),
    [("61.0 MiB", 61.0), ("1.8 GiB", 1.8 * 1024), ("976.5 KiB", 976.5 / 1024), ("512 bytes", 512 / 2**20)],
)
def test_duckdbs_display_of_a_memory_limit_reads_as_mib(shown: str, mib: float) -> None:
    assert memory.memory_limit_mib(shown) == pytest.approx(mib)


def test_a_file_of_large_records_is_copied_into_a_lake_with_more_memory(tmp_path, postgres) -> None:
    source = tmp_path / "large.duckdb"
    with open_writer(source) as con:
        load_day(con, "runs", DAY, large_runs(range(0, 3_000), version=1))
    lake = make_warehouse("lake", tmp_path / "lake", postgres)
    counts = {c.table: (c.file_rows, c.lake_rows) for c in copy_into_lake(source, lake)}
    assert counts["workflow_runs"] == (3_000, 3_000)
    with open_writer(lake) as con:
        assert limit_of(con) == configured(lake)
