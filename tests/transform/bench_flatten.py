"""Flatten throughput on already-parsed records: a script to run by hand, not a test.

    .venv/bin/python tests/flatten/bench_flatten.py [records] [repetitions]

For each endpoint and record form: records/s flattening `records` records in batches of 5,000 (what
pipelines.sync.orchestrator uses) and as one batch, best and median of the repetitions. For scale on the same
machine in the same run: orjson.loads of the same records (one JSON text per record, as a page
parse would do) and pyarrow's C++ JSON reader on the same records as NDJSON. The machine is shared:
the load average is printed, and the ratios are steadier than the absolute figures.
"""

from __future__ import annotations

import gc
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
import pyarrow.json as pa_json
from flatten_records import DAY, SYNCED_AT, synthetic_experiment_runs, synthetic_runs

from pipelines.sync.collector import relaxed_collection
from pipelines.transform import flatten_experiment_runs, flatten_workflow_runs

BATCH = 5_000


def timed(work: Callable[[], Any], repetitions: int) -> list[float]:
    """Seconds taken by each repetition of `work` (after one warm-up)."""
    seconds = []
    with relaxed_collection():  # as the sync runs the flatteners
        work()
        for _ in range(repetitions):
            began = time.perf_counter()
            work()
            seconds.append(time.perf_counter() - began)
    return seconds


def main() -> None:
    """Print records/s per endpoint, form and batch size, with the parse references."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    repetitions = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    load = os.getloadavg()[0]
    print(f"{n:,} records, {repetitions} repetitions, load average {load:.2f}, {os.cpu_count()} CPUs")
    measure("runs", "sdk", flatten_workflow_runs, synthetic_runs(n, form="sdk"), repetitions)
    measure("runs", "docs", flatten_workflow_runs, synthetic_runs(n, form="docs"), repetitions)
    measure(
        "experiment-runs",
        "sdk",
        flatten_experiment_runs,
        synthetic_experiment_runs(n, form="sdk"),
        repetitions,
    )
    measure(
        "experiment-runs",
        "docs",
        flatten_experiment_runs,
        synthetic_experiment_runs(n, form="docs"),
        repetitions,
    )


def measure(
    endpoint: str, form: str, flatten: Callable[..., Any], built: list[Any], repetitions: int
) -> None:
    """Time flattening the records, and the two parse references on the same records."""
    n = len(built)
    texts = [orjson.dumps(record) for record in built]
    records = [orjson.loads(text) for text in texts]  # what a page parse hands the flattener
    ndjson = b"\n".join(texts)
    batches = [records[i : i + BATCH] for i in range(0, n, BATCH)]
    figures = {
        f"flatten, {BATCH:,}-record batches": timed(
            lambda: [flatten(batch, day=DAY, synced_at=SYNCED_AT) for batch in batches], repetitions
        ),
        "flatten, one batch": timed(lambda: flatten(records, day=DAY, synced_at=SYNCED_AT), repetitions),
        "reference: orjson.loads per record": timed(
            lambda: [orjson.loads(text) for text in texts], repetitions
        ),
        "reference: pyarrow C++ JSON reader": timed(
            lambda: pa_json.read_json(io.BytesIO(ndjson)), repetitions
        ),
    }
    gc.collect()
    print(f"\n{endpoint} ({form} form), {len(ndjson) / n:.0f} bytes of JSON per record")
    for label, seconds in figures.items():
        best, median = n / min(seconds), n / statistics.median(seconds)
        print(f"  {label:40} best {best:10,.0f} rec/s   median {median:10,.0f} rec/s")


if __name__ == "__main__":
    main()
