"""A load process killed with SIGKILL leaves a file that opens, with the day's previous content."""

from __future__ import annotations

import random
import signal
import time
from datetime import date
from pathlib import Path

import pytest

from pipelines.load.connections import open_writer
from pipelines.load.partitions import mark_interrupted

from .conftest import start_child, wait_for_line
from .loading import load_day, snapshot
from .partition_rows import rejected, run_documents, run_ids, workflow_runs

D1, D2 = date(2026, 5, 1), date(2026, 5, 2)

# Loads 300k new rows for D1 (several row groups written to the file), then stalls inside the scan.
STALL_CODE = """
    import sys, time
    from datetime import date
    from pathlib import Path
    import pyarrow as pa
    from load.loading import partition_load
    from load.partition_rows import run_ids, workflow_runs
    from pipelines.load.partitions import record_sync_start, replace_partition
    from pipelines.load.connections import open_writer

    path, day = Path(sys.argv[1]), date.fromisoformat(sys.argv[2])
    batch = workflow_runs(day, run_ids(day, range(50_000)), version=9, pad=200)
    load = partition_load("runs", day, {})

    def stalling():
        for _ in range(6):
            yield from batch.to_batches()
        print("mid-insert", flush=True)
        time.sleep(120)

    class StallingSpool:
        def rows(self, table):
            return 300_000 if table == "workflow_runs" else 0
        def reader(self, table):
            if table == "workflow_runs":
                return pa.RecordBatchReader.from_batches(batch.schema, stalling())
            return load.spool.reader(table)

    load.spool = StallingSpool()
    with open_writer(path) as con:
        record_sync_start(con, [load.log])
        replace_partition(con, load)
"""

# Replaces D1 with content A, then B, then A ... until killed; says when each swap committed.
LOOP_CODE = """
    import sys
    from datetime import date
    from pathlib import Path
    from load.loading import load_day
    from load.partition_rows import rejected, run_documents, run_ids, workflow_runs
    from pipelines.load.connections import open_writer

    path, day = Path(sys.argv[1]), date.fromisoformat(sys.argv[2])
    contents = []
    for version, numbers in ((1, range(0, 40_000)), (2, range(20_000, 60_000))):
        ids = run_ids(day, numbers)
        contents.append({
            "workflow_runs": workflow_runs(day, ids, version=version),
            "workflow_run_documents": run_documents(day, ids, version=version),
            "rejected_records": rejected("runs", day, [f"v{version}"]),
        })
    print("ready", flush=True)
    n = 0
    while True:
        with open_writer(path) as con:
            load_day(con, "runs", day, contents[n % 2])
        n += 1
        print(f"committed {n}", flush=True)
"""


def seed_warehouse(path: Path) -> None:
    """D1 and D2 with an original content (version 0)."""
    with open_writer(path) as con:
        for day in (D1, D2):
            ids = run_ids(day, range(20_000))
            load_day(
                con,
                "runs",
                day,
                {
                    "workflow_runs": workflow_runs(day, ids),
                    "workflow_run_documents": run_documents(day, ids),
                    "rejected_records": rejected("runs", day, ["v0"]),
                },
            )


def day_versions(path: Path) -> dict[str, object]:
    """Which content D1 holds, and whether any id repeats anywhere."""
    tables = snapshot(path)
    runs = tables["workflow_runs"]
    ids = [row[0] for row in runs]
    d1 = sorted({row[2] for row in runs if row[18] == D1})
    return {"d1_versions": d1, "duplicates": len(ids) - len(set(ids)), "tables": tables}


def test_sigkill_mid_insert_leaves_the_old_day_and_a_trace(warehouse_path: Path) -> None:
    seed_warehouse(warehouse_path)
    before = snapshot(warehouse_path)
    child = start_child(STALL_CODE, str(warehouse_path), D1.isoformat())
    try:
        wait_for_line(child, "mid-insert")
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        child.kill()
        child.communicate(timeout=30)
    assert snapshot(warehouse_path) == before
    with open_writer(warehouse_path) as con:
        assert con.execute("SELECT outcome FROM retab.sync_log WHERE pid = ?", [child.pid]).fetchall() == [
            ("running",)
        ]
        assert mark_interrupted(con) == 1
        assert con.execute("SELECT outcome FROM retab.sync_log WHERE pid = ?", [child.pid]).fetchall() == [
            ("interrupted",)
        ]
        load_day(con, "runs", D1, {"workflow_runs": workflow_runs(D1, run_ids(D1, range(3)))})
    assert len([r for r in snapshot(warehouse_path)["workflow_runs"] if r[18] == D1]) == 3


@pytest.mark.parametrize("seed", [1, 2, 3, 4], ids=lambda s: f"seed{s}")
def test_sigkill_at_a_random_moment_leaves_one_whole_version_of_the_day(
    warehouse_path: Path, seed: int
) -> None:
    seed_warehouse(warehouse_path)
    d2_before = [r for r in snapshot(warehouse_path)["workflow_runs"] if r[18] == D2]
    child = start_child(LOOP_CODE, str(warehouse_path), D1.isoformat())
    try:
        wait_for_line(child, "ready")
        wait_for_line(child, "committed 1")
        began = time.monotonic()
        wait_for_line(child, "committed 2")
        cycle = time.monotonic() - began  # one open + swap + close
        time.sleep(random.Random(seed).uniform(0.0, cycle))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
        child.communicate(timeout=30)
    state = day_versions(warehouse_path)
    assert state["duplicates"] == 0
    assert state["d1_versions"] in (["ver_1"], ["ver_2"])
    expected = 40_000
    tables = state["tables"]
    assert len([r for r in tables["workflow_runs"] if r[18] == D1]) == expected
    assert len([r for r in tables["workflow_run_documents"] if r[5] == D1]) == expected
    assert [r for r in tables["workflow_runs"] if r[18] == D2] == d2_before
    with open_writer(warehouse_path) as con:  # still writable
        con.execute("CHECKPOINT")
