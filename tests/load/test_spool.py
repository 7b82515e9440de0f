"""The spool: bounded memory, spill files past the bound, and the same rows back in the same order."""

from __future__ import annotations

import resource
from dataclasses import replace
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.config import TUNING
from pipelines.errors import SpillFailed, SpoolSchemaError
from pipelines.load.spool import Spool
from pipelines.schemas import REJECTED_RECORDS_SCHEMA, WORKFLOW_RUNS_SCHEMA

from .partition_rows import rejected, run_ids, workflow_runs

DAY = date(2026, 5, 1)
TABLES = {"workflow_runs": WORKFLOW_RUNS_SCHEMA, "rejected_records": REJECTED_RECORDS_SCHEMA}


def pages(count: int, size: int = 100, pad: int = 300) -> list[pa.Table]:
    """`count` page-sized batches of distinct runs."""
    return [workflow_runs(DAY, run_ids(DAY, range(i * size, (i + 1) * size)), pad=pad) for i in range(count)]


def read_all(spool: Spool, table: str) -> pa.Table:
    return spool.reader(table).read_all()


@pytest.mark.parametrize("compression", [None, "lz4"], ids=["uncompressed", "lz4"])
def test_past_the_bound_it_spills_and_reads_back_identical_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: str | None
) -> None:
    batches = pages(60)
    bound = 3 * batches[0].nbytes
    tuning = replace(TUNING, spool_memory_bytes=bound, spill_compression=compression)
    with Spool(TABLES, spill_dir=tmp_path, tuning=tuning) as spool:
        for i, batch in enumerate(batches):
            spool.append("workflow_runs", batch)
            spool.append("rejected_records", rejected("runs", DAY, [f"reason {i}"]))
            assert spool.memory_bytes <= bound
        assert len(spool.spilled_files) >= 10
        assert all(path.parent.parent == tmp_path for path in spool.spilled_files)
        assert spool.rows("workflow_runs") == 6000
        assert read_all(spool, "workflow_runs").equals(pa.concat_tables(batches))
        assert read_all(spool, "rejected_records")["reason"].to_pylist() == [f"reason {i}" for i in range(60)]


def test_under_the_bound_nothing_touches_the_disk(tmp_path: Path) -> None:
    batches = pages(5)
    with Spool(TABLES, spill_dir=tmp_path / "spill") as spool:
        for batch in batches:
            spool.append("workflow_runs", batch)
        assert spool.spilled_files == []
        assert not (tmp_path / "spill").exists()
        assert read_all(spool, "workflow_runs").equals(pa.concat_tables(batches))


def test_rows_appended_after_a_spill_come_after_the_spilled_ones(tmp_path: Path) -> None:
    first, second, third = pages(3)
    with Spool(TABLES, spill_dir=tmp_path) as spool:
        spool.append("workflow_runs", first)
        spool.spill()
        spool.append("workflow_runs", second)
        spool.spill()
        spool.append("workflow_runs", third)
        assert len(spool.spilled_files) == 2
        assert read_all(spool, "workflow_runs").equals(pa.concat_tables([first, second, third]))
        assert read_all(spool, "workflow_runs").equals(pa.concat_tables([first, second, third])), (
            "re-readable"
        )


def test_page_sized_batches_come_back_coalesced_and_big_ones_cut(tmp_path: Path) -> None:
    with Spool(TABLES, spill_dir=tmp_path, tuning=replace(TUNING, spool_chunk_rows=1000)) as spool:
        for batch in pages(30, pad=0):
            spool.append("workflow_runs", batch)
        spool.append("workflow_runs", workflow_runs(DAY, run_ids(DAY, range(10_000, 14_500))))
        sizes = [batch.num_rows for batch in spool.reader("workflow_runs")]
    assert sum(sizes) == 7500
    assert max(sizes) <= 1000
    assert len(sizes) <= 9


def test_close_deletes_the_spill_files(tmp_path: Path) -> None:
    spool = Spool(TABLES, spill_dir=tmp_path, tuning=replace(TUNING, spool_memory_bytes=1))
    spool.append("workflow_runs", pages(1)[0])
    files = spool.spilled_files
    assert files and all(path.exists() for path in files)
    spool.close()
    assert not any(path.exists() for path in files)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="closed"):
        spool.reader("workflow_runs")


def test_a_batch_with_another_schema_is_refused() -> None:
    with Spool(TABLES) as spool:
        wrong = workflow_runs(DAY, run_ids(DAY, range(3))).drop_columns(["raw"])
        with pytest.raises(SpoolSchemaError, match="workflow_runs: batch schema differs"):
            spool.append("workflow_runs", wrong)
        retyped = workflow_runs(DAY, run_ids(DAY, range(3)))
        retyped = retyped.set_column(16, "document_count", retyped["document_count"].cast(pa.int64()))
        with pytest.raises(SpoolSchemaError):
            spool.append("workflow_runs", retyped)
        assert spool.rows("workflow_runs") == 0


def test_a_batch_differing_only_in_nullability_is_relabelled() -> None:
    rows = workflow_runs(DAY, run_ids(DAY, range(3)))
    loose = pa.schema([field.with_nullable(True) for field in rows.schema])
    with Spool(TABLES) as spool:
        spool.append("workflow_runs", rows.cast(loose))
        assert spool.reader("workflow_runs").schema.equals(WORKFLOW_RUNS_SCHEMA)
        assert read_all(spool, "workflow_runs").equals(rows)


def test_an_unknown_table_is_named_in_the_error() -> None:
    with Spool(TABLES) as spool, pytest.raises(KeyError, match="experiment_runs"):
        spool.append("experiment_runs", pages(1)[0])


def test_an_empty_table_reads_as_an_empty_stream() -> None:
    with Spool(TABLES) as spool:
        table = read_all(spool, "rejected_records")
    assert table.num_rows == 0 and table.schema.equals(REJECTED_RECORDS_SCHEMA)


def test_a_spill_that_cannot_be_written_says_where_and_what_to_do(tmp_path: Path) -> None:
    batches = pages(20)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    spool = Spool(
        TABLES, spill_dir=tmp_path, tuning=replace(TUNING, spool_memory_bytes=3 * batches[0].nbytes)
    )
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))  # Python ignores SIGXFSZ: writes get EFBIG
    try:
        with pytest.raises(SpillFailed) as raised:
            for batch in batches:
                spool.append("workflow_runs", batch)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        spool.close()
    message = str(raised.value)
    assert "File too large" in message and str(tmp_path) in message
    assert "free some space" in message and "RETAB_DUCKDB_PATH" in message
    assert not list(tmp_path.iterdir())  # close() removed the partial spill files
