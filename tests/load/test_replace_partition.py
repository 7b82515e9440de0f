"""replace_partition: the day holds exactly the new content, in one transaction, or keeps the old one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipelines.config import TUNING
from pipelines.errors import IncompletePartition, PartitionMismatch, SourceMismatch
from pipelines.load.connections import open_writer
from pipelines.load.partitions import arrow_stream, record_sync_start, replace_partition
from pipelines.load.spool import Spool
from pipelines.schemas import TABLE_SCHEMAS

from .loading import endpoint_spool, load_day, partition_load, rows_of, snapshot
from .partition_rows import experiment_runs, rejected, run_documents, run_ids, workflow_runs

D1, D2, D3 = date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3)


def runs_day(day: date, numbers: range, *, version: int = 0, status: str = "completed", reasons=()) -> dict:
    ids = run_ids(day, numbers)
    return {
        "workflow_runs": workflow_runs(day, ids, version=version, status=status),
        "workflow_run_documents": run_documents(day, ids, version=version),
        "rejected_records": rejected("runs", day, list(reasons)),
    }


def ids_of(con: duckdb.DuckDBPyConnection, day: date, table: str = "workflow_runs") -> list[str]:
    column = "run_id" if table == "workflow_run_documents" else "id"
    sql = f"SELECT {column} FROM retab.{table} WHERE created_date = ? ORDER BY 1"
    return [row[0] for row in con.execute(sql, [day]).fetchall()]


@pytest.fixture
def con(migrated_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with open_writer(migrated_path) as connection:
        yield connection


def test_replacing_a_day_twice_with_the_same_content_changes_nothing(con) -> None:
    load_day(con, "runs", D1, runs_day(D1, range(50), reasons=["no id"]))
    first = {t: rows_of(con, t) for t in ("workflow_runs", "workflow_run_documents", "rejected_records")}
    load_day(con, "runs", D1, runs_day(D1, range(50), reasons=["no id"]))
    again = {t: rows_of(con, t) for t in ("workflow_runs", "workflow_run_documents", "rejected_records")}
    assert again == first
    assert len(first["workflow_runs"]) == 50 and len(first["rejected_records"]) == 1


def test_a_resync_holds_exactly_the_new_content_of_the_day(con) -> None:
    load_day(con, "runs", D1, runs_day(D1, range(0, 100), version=1, status="running", reasons=["a", "b"]))
    load_day(con, "runs", D1, runs_day(D1, range(50, 120), version=2, reasons=["c"]))
    assert ids_of(con, D1) == run_ids(D1, range(50, 120)), "deleted runs gone, new runs in"
    assert ids_of(con, D1, "workflow_run_documents") == run_ids(D1, range(50, 120))
    versions = con.execute("SELECT DISTINCT workflow_version_id, status FROM retab.workflow_runs").fetchall()
    assert versions == [("ver_2", "completed")], "changed runs updated"
    filenames = con.execute("SELECT DISTINCT filename FROM retab.workflow_run_documents").fetchall()
    assert filenames == [("scan_v2.pdf",)]
    assert [r[3] for r in rows_of(con, "rejected_records", D1)] == ["c"]


def test_other_days_and_the_other_endpoint_are_untouched(con) -> None:
    load_day(con, "runs", D1, runs_day(D1, range(10), reasons=["r1"]))
    load_day(con, "runs", D3, runs_day(D3, range(10), reasons=["r3"]))
    load_day(
        con,
        "experiment-runs",
        D2,
        {
            "experiment_runs": experiment_runs(D2, ["exprun_1"]),
            "rejected_records": rejected("experiment-runs", D2, ["e2"]),
        },
    )
    before = {t: rows_of(con, t) for t in ("workflow_runs", "experiment_runs", "rejected_records")}
    load_day(con, "runs", D2, runs_day(D2, range(5), reasons=["r2"]))
    load_day(
        con,
        "experiment-runs",
        D1,
        {
            "experiment_runs": experiment_runs(D1, ["exprun_9"]),
            "rejected_records": rejected("experiment-runs", D1, ["e1"]),
        },
    )
    assert ids_of(con, D1) == run_ids(D1, range(10)) and ids_of(con, D3) == run_ids(D3, range(10))
    assert set(before["experiment_runs"]) <= set(rows_of(con, "experiment_runs"))
    assert set(before["rejected_records"]) <= set(rows_of(con, "rejected_records"))
    reasons = con.execute("SELECT endpoint, day, reason FROM retab.rejected_records ORDER BY 1, 2").fetchall()
    assert reasons == [
        ("experiment-runs", D1, "e1"),
        ("experiment-runs", D2, "e2"),
        ("runs", D1, "r1"),
        ("runs", D2, "r2"),
        ("runs", D3, "r3"),
    ]


def test_an_empty_listing_empties_the_day(con) -> None:
    load_day(con, "runs", D1, runs_day(D1, range(10), reasons=["x"]))
    load_day(con, "runs", D1, runs_day(D1, range(0)))
    assert ids_of(con, D1) == [] and rows_of(con, "rejected_records") == []


def test_repeated_ids_keep_the_last_appended_copy_even_across_spill_files(con, tmp_path: Path) -> None:
    spool = endpoint_spool("runs", spill_dir=tmp_path, tuning=replace(TUNING, spool_memory_bytes=1 << 20))
    ids = run_ids(D1, range(3000))
    spool.append("workflow_runs", workflow_runs(D1, ids, version=1, pad=400))
    spool.append("workflow_run_documents", run_documents(D1, ids, version=1))
    assert spool.spilled_files, "the first copy is on disk"
    spool.append("workflow_runs", workflow_runs(D1, ids[:10], version=2))
    spool.append("workflow_run_documents", run_documents(D1, ids[:10], version=2))
    load = partition_load("runs", D1, {}, spool=spool)
    with spool:
        replace_partition(con, load)
    assert ids_of(con, D1) == ids
    latest = con.execute(
        "SELECT id FROM retab.workflow_runs WHERE workflow_version_id = 'ver_2' ORDER BY id"
    ).fetchall()
    assert [r[0] for r in latest] == ids[:10]
    docs = con.execute(
        "SELECT count(*), count(*) FILTER (filename = 'scan_v2.pdf') FROM retab.workflow_run_documents"
    )
    assert docs.fetchone() == (3000, 10)


def test_the_sync_log_row_turns_ok_with_its_figures(con) -> None:
    load = partition_load("runs", D1, runs_day(D1, range(7)), source="https://API.retab.com/v1/")
    load.log.retries_by_cause = {"429": 2, "timeout": 1}
    load.log.pages, load.log.rejected, load.log.open_runs = 2, 0, 0  # retries: 3, the sum by cause
    record_sync_start(con, [load.log])
    assert con.execute("SELECT outcome FROM retab.sync_log").fetchall() == [("running",)]
    with load.spool:
        replace_partition(con, load)
    row = con.execute(
        "SELECT outcome, rows, pages, retries, retries_by_cause, complete, source, finished_at IS NOT NULL "
        "FROM retab.sync_log WHERE sync_id = ?",
        [load.log.sync_id],
    ).fetchone()
    assert row is not None
    outcome, rows, pages, retries, by_cause, complete, source, finished = row
    assert (outcome, rows, pages, retries, complete, finished) == ("ok", 7, 2, 3, True, True)
    assert json.loads(by_cause) == {"429": 2, "timeout": 1}
    assert source == "https://api.retab.com"
    assert con.execute("SELECT count(*) FROM retab.sync_log").fetchone() == (1,)


class FailingSpool(Spool):
    """A spool whose stream of one table breaks after some batches, as a lost spill file would."""

    def __init__(self, *args, fail_table: str, after_batches: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fail_table, self.after_batches = fail_table, after_batches

    def reader(self, table_name: str) -> pa.RecordBatchReader:
        inner = super().reader(table_name)
        if table_name != self.fail_table:
            return inner

        def batches():
            for i, batch in enumerate(inner):
                if i == self.after_batches:
                    raise OSError("spill file vanished")
                yield batch

        return pa.RecordBatchReader.from_batches(inner.schema, batches())


@pytest.mark.parametrize(
    ("fail_table", "after_batches"),
    [("workflow_runs", 3), ("workflow_run_documents", 1), ("rejected_records", 0)],
    ids=["mid-runs", "mid-documents", "in-rejected"],
)
def test_a_failure_mid_insert_leaves_the_previous_day_intact(
    con, monkeypatch: pytest.MonkeyPatch, fail_table: str, after_batches: int
) -> None:
    load_day(con, "runs", D1, runs_day(D1, range(0, 500), version=1, reasons=["old"]))
    load_day(con, "runs", D2, runs_day(D2, range(0, 100), version=1))
    before = {t: rows_of(con, t) for t in ("workflow_runs", "workflow_run_documents", "rejected_records")}
    names = ["workflow_runs", "workflow_run_documents", "rejected_records"]
    spool = FailingSpool(
        {n: TABLE_SCHEMAS[n] for n in names},
        fail_table=fail_table,
        after_batches=after_batches,
        tuning=replace(TUNING, spool_chunk_rows=400),
    )
    for name, table in runs_day(D1, range(300, 5300), version=2, reasons=["new", "newer"]).items():
        for piece in table.to_batches(max_chunksize=400):
            spool.append(name, piece)
    load = partition_load("runs", D1, {}, spool=spool)
    record_sync_start(con, [load.log])
    with spool, pytest.raises(duckdb.Error, match="spill file vanished"):
        replace_partition(con, load)
    after = {t: rows_of(con, t) for t in ("workflow_runs", "workflow_run_documents", "rejected_records")}
    assert after == before
    assert con.execute(
        "SELECT outcome FROM retab.sync_log WHERE sync_id = ?", [load.log.sync_id]
    ).fetchall() == [("running",)]
    load_day(con, "runs", D1, runs_day(D1, range(7)))  # the connection is still usable
    assert ids_of(con, D1) == run_ids(D1, range(7))


def test_rows_outside_the_day_fail_the_load_and_change_nothing(con) -> None:
    load_day(con, "runs", D1, runs_day(D1, range(20), version=1))
    tables = runs_day(D1, range(20), version=2)
    tables["workflow_runs"] = pa.concat_tables([tables["workflow_runs"], workflow_runs(D2, run_ids(D2, [1]))])
    load = partition_load("runs", D1, tables)
    with load.spool, pytest.raises(PartitionMismatch, match="1 of 21 spooled rows are outside the partition"):
        replace_partition(con, load)
    assert con.execute("SELECT DISTINCT workflow_version_id FROM retab.workflow_runs").fetchall() == [
        ("ver_1",)
    ]
    assert ids_of(con, D2) == []


def test_rejected_records_of_another_endpoint_fail_the_load(con) -> None:
    tables = runs_day(D1, range(3))
    tables["rejected_records"] = rejected("experiment-runs", D1, ["wrong endpoint"])
    load = partition_load("runs", D1, tables)
    with load.spool, pytest.raises(PartitionMismatch, match="rejected_records"):
        replace_partition(con, load)
    assert ids_of(con, D1) == []


def test_an_incomplete_walk_is_never_swapped_in(con) -> None:
    load_day(con, "runs", D1, runs_day(D1, range(20)))
    load = partition_load("runs", D1, runs_day(D1, range(5)))
    load.log.complete = False
    with load.spool, pytest.raises(IncompletePartition, match="did not reach the end"):
        replace_partition(con, load)
    assert ids_of(con, D1) == run_ids(D1, range(20))


def test_a_load_from_another_source_is_refused_inside_the_swap(con) -> None:
    load_day(con, "runs", D1, runs_day(D1, range(20)))
    load = partition_load("runs", D1, runs_day(D1, range(5)), source="http://127.0.0.1:8765")
    with load.spool, pytest.raises(SourceMismatch):
        replace_partition(con, load)
    assert ids_of(con, D1) == run_ids(D1, range(20))


def test_the_swap_is_visible_to_a_reader_only_after_commit(migrated_path: Path) -> None:
    with open_writer(migrated_path) as con:
        load_day(con, "runs", D1, runs_day(D1, range(30)))
    assert len(snapshot(migrated_path)["workflow_runs"]) == 30


def test_a_rejected_record_delivered_twice_is_kept_once_and_counted_once(con) -> None:
    tables = runs_day(D1, range(3), reasons=["id: missing", "id: missing", "lifecycle.status: 7"])
    load = partition_load("runs", D1, tables)  # the first two: one id-less record, seen by both ends
    load.log.rejected = 3
    with load.spool:
        replace_partition(con, load)
    assert [r[3] for r in rows_of(con, "rejected_records")] == ["id: missing", "lifecycle.status: 7"]
    logged = con.execute(
        "SELECT rejected FROM retab.sync_log WHERE sync_id = ?", [load.log.sync_id]
    ).fetchone()
    assert logged == (2,)


def test_duckdb_pulls_a_spooled_stream_one_batch_at_a_time() -> None:
    # Registered as a RecordBatchReader, duckdb 1.5 scans through pyarrow's Scanner, which read ~40
    # of these 1 MB batches ahead (420 MB of a 1M-run day); the bare C stream is pulled as consumed.
    pool = pa.proxy_memory_pool(pa.default_memory_pool())
    schema = pa.schema([("id", pa.string()), ("raw", pa.string())])

    def batches() -> Iterator[pa.RecordBatch]:
        for n in range(100):
            ids = pa.array([f"{n}-{i}" for i in range(1000)], memory_pool=pool)
            yield pa.record_batch([ids, pa.array(["x" * 1000] * 1000, memory_pool=pool)], schema=schema)

    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.execute("CREATE TABLE t (id VARCHAR, raw VARCHAR)")
    con.register("s", arrow_stream(pa.RecordBatchReader.from_batches(schema, batches())))
    con.execute("INSERT INTO t SELECT * FROM s WHERE id IS NOT NULL")
    assert con.execute("SELECT count(*) FROM t").fetchone() == (100_000,)
    one_batch = 1000 * 1000
    assert pool.max_memory() < 4 * one_batch
