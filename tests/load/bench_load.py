"""Load throughput and peak memory for one day of workflow_runs (a script, not a test).

Run: /usr/bin/time -v .venv/bin/python tests/load/bench_load.py [rows] [--compression none|lz4]
     [--threads N] [--memory-limit 128MB] [--chunk 1000] [--notes 300]
Builds `rows` synthetic runs (raw JSON ~500 bytes, plus --notes characters) in chunks of --chunk
rows, appends them to a Spool (which spills past 64 MB), then times replace_partition into a fresh
file and twice as a re-sync of the same day. Prints rows/s (wall and per CPU-second), the peak RSS
of each phase and of the process. The machine is shared: run it a few times and read the best.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.config import TUNING
from pipelines.load import connections as warehouse
from pipelines.load.partitions import PartitionLoad, SyncLogEntry, replace_partition
from pipelines.load.spool import Spool
from pipelines.schemas import TABLE_SCHEMAS, WORKFLOW_RUNS_SCHEMA

DAY = date(2026, 5, 1)
NOTES = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore "
    "et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut "
    "aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse. "
) * 4
STATUSES = np.array(["completed", "error", "running", "awaiting_review", "cancelled", "pending"])


def synthetic_runs(start: int, n: int, rng: np.random.Generator, notes: int = 0) -> pa.Table:
    """n workflow_runs rows built column-wise; raw is an API-like JSON document plus `notes` chars."""
    numbers = pa.array(np.arange(start, start + n)).cast(pa.string())
    ids = pc.binary_join_element_wise("run_20260501_", pc.utf8_lpad(numbers, 9, "0"), "")
    midnight = int(datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC).timestamp() * 1_000_000)
    created = midnight + rng.integers(0, 86_400_000_000, n)
    started = created + rng.integers(0, 3_000_000, n)
    completed = started + rng.integers(0, 60_000_000, n)
    ts = WORKFLOW_RUNS_SCHEMA.field("created_at").type
    created_a, started_a, completed_a = (pa.array(x, ts) for x in (created, started, completed))
    status = pa.array(STATUSES[rng.integers(0, len(STATUSES), n)])
    workflow = pc.binary_join_element_wise("wf_", pa.array(rng.integers(0, 40, n)).cast(pa.string()), "")
    iso = [pc.strftime(a, "%Y-%m-%dT%H:%M:%SZ") for a in (created_a, started_a, completed_a)]
    raw = pc.binary_join_element_wise(
        '{"id": "',
        ids,
        '", "workflow": {"workflow_id": "',
        workflow,
        '", "version_id": "ver_abc123xyz"}, "trigger": {"type": "api"}, "lifecycle": {"status": "',
        status,
        '"}, "timing": {"created_at": "',
        iso[0],
        '", "started_at": "',
        iso[1],
        '", "completed_at": "',
        iso[2],
        '"}, "inputs": {"documents": {"start-1": {"id": "file_456", "filename": "scan_blurry.pdf", '
        '"mime_type": "application/pdf"}}, "json_data": {"notes": "' + NOTES[:notes] + '"}}, '
        '"metadata": {"team": "ops"}}',
        "",
    )
    nulls = pa.nulls(n, pa.string())
    columns = {
        "id": ids,
        "workflow_id": workflow,
        "workflow_version_id": pa.array(["ver_abc123xyz"] * n),
        "trigger_type": pa.array(["api"] * n),
        "status": status,
        "error_message": nulls,
        "error_stage": nulls,
        "error_category": nulls,
        "error_details": nulls,
        "failing_step_id": nulls,
        "waiting_for_block_ids": pa.nulls(n, pa.list_(pa.string())),
        "cancel_reason": nulls,
        "created_at": created_a,
        "started_at": started_a,
        "completed_at": completed_a,
        "duration_ms": pa.array((completed - started) // 1000),
        "document_count": pa.array(np.ones(n, "int32")),
        "metadata": pa.array(['{"team": "ops"}'] * n),
        "created_date": pa.array([DAY] * n, pa.date32()),
        "raw": raw,
        "synced_at": pa.array(np.full(n, midnight), ts),
    }
    return pa.Table.from_pydict(columns, schema=WORKFLOW_RUNS_SCHEMA)


class TimedSpool(Spool):
    """A Spool that adds up the seconds spent writing spill files."""

    spill_seconds = 0.0

    def spill(self) -> None:
        began = time.perf_counter()
        super().spill()
        self.spill_seconds += time.perf_counter() - began


def fill_spool(spool: Spool, rows: int, chunk: int, notes: int = 0) -> None:
    """Append `rows` synthetic runs in chunks of `chunk` rows, as the flattener would."""
    rng = np.random.default_rng(7)
    for start in range(0, rows, chunk):
        spool.append("workflow_runs", synthetic_runs(start, min(chunk, rows - start), rng, notes))


def timed_load(path: Path, spool: Spool, rows: int) -> tuple[float, float]:
    """Wall and CPU seconds of replace_partition (the writer is already open, as in the sync)."""
    entry = SyncLogEntry(
        uuid.uuid4().hex, "runs", DAY, datetime.now(UTC), "https://api.retab.com", rows=rows, complete=True
    )
    with warehouse.open_writer(path) as con:
        began, cpu = time.perf_counter(), time.process_time()
        replace_partition(con, PartitionLoad("runs", DAY, spool, entry))
        return time.perf_counter() - began, time.process_time() - cpu


class PeakSampler(threading.Thread):
    """Samples VmRSS every 20 ms; `take()` returns the peak since the last take."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0.0

    def run(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.02)

    def take(self) -> float:
        peak, self.peak = max(self.peak, rss_mb()), 0.0
        return peak


def rss_mb() -> float:
    """The current resident set size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--compression", choices=["none", "lz4"], default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--memory-limit", default=None)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--notes", type=int, default=0, help="extra characters in each raw document")
    args = parser.parse_args()
    compression = TUNING.spill_compression
    if args.compression:
        compression = None if args.compression == "none" else args.compression
    if args.threads:
        warehouse.WRITER_SETTINGS["threads"] = args.threads
    if args.memory_limit:
        warehouse.WRITER_SETTINGS["memory_limit"] = args.memory_limit
    tuning = replace(TUNING, spill_compression=compression)
    print(f"settings: spill={tuning.spill_compression} writer={warehouse.WRITER_SETTINGS}")
    tables = {n: TABLE_SCHEMAS[n] for n in ("workflow_runs", "workflow_run_documents", "rejected_records")}
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        path = Path(tmp) / "retab.duckdb"
        sampler = PeakSampler()
        sampler.start()
        print(f"RSS after imports: {sampler.take():.0f} MB")
        with TimedSpool(tables, spill_dir=Path(tmp) / "spool", tuning=tuning) as spool:
            began = time.perf_counter()
            fill_spool(spool, args.rows, args.chunk, args.notes)
            spooled = time.perf_counter() - began
            size = sum(p.stat().st_size for p in spool.spilled_files)
            raw = sum(
                len(r)
                for r in synthetic_runs(0, 1000, np.random.default_rng(1), args.notes)["raw"].to_pylist()
            )
            print(f"raw: {raw / 1000:.0f} bytes per run on average")
            print(
                f"spool: {args.rows} rows in {spooled:.2f}s (generation included), "
                f"{len(spool.spilled_files)} files, {size / 1e6:.0f} MB on disk, "
                f"{spool.spill_seconds:.2f}s writing them"
            )
            began = time.perf_counter()
            read = sum(b.num_rows for b in spool.reader("workflow_runs"))
            print(f"read back: {read / (time.perf_counter() - began):,.0f} rows/s")
            print(f"peak RSS while spooling and reading back: {sampler.take():.0f} MB, now {rss_mb():.0f} MB")
            for label in ("first load", "re-sync (delete + insert)", "re-sync again"):
                seconds, cpu = timed_load(path, spool, args.rows)
                print(
                    f"{label}: {args.rows / seconds:,.0f} rows/s wall ({seconds:.2f}s), "
                    f"{args.rows / cpu:,.0f} rows per CPU-second, file {os.path.getsize(path) / 1e6:.0f} MB, "
                    f"peak RSS {sampler.take():.0f} MB"
                )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
