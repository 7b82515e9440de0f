"""Scenario 9: the DuckLake backend, on a PostgreSQL cluster of its own (tests/postgres_cluster.py).

1. The end-to-end sync (7 days x (50,000 runs + 5,000 experiment runs), as bench.end_to_end) into a
   fresh lake and into a fresh file, alternating in the same run, each from a child process: the
   lake's rows/s against the file's.
2. analytics.workflow_daily_health over 10,000,000 runs held in a lake (generated as bench.views does,
   Parquet files partitioned by day), read whole through open_reader.

Every sync runs at the product's defaults; the only setting a lake needs is printed: its URI
(RETAB_DUCKDB_PATH=ducklake:postgres:...) and RETAB_DUCKLAKE_DATA_PATH.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from bench.job import ROOT, run_job
from bench.table import Figure, ScenarioResult
from bench.views import RUNS, TIMED, build_warehouse
from bench.worlds import last_days, world
from pipelines.config import DuckLake
from pipelines.load.connections import open_reader
from retab_sim import start_simulator_process

DAYS = 7
RUNS_PER_DAY_E2E = 50_000
EXPERIMENT_RUNS_PER_DAY = 5_000


def new_lake(cluster: object, workdir: Path, name: str) -> DuckLake:
    """A new lake: a new database on the cluster, a data folder under workdir."""
    data = workdir / f"{name}-data"
    data.mkdir()
    database = cluster.create_database(name)  # type: ignore[attr-defined]
    return DuckLake(f"ducklake:postgres:{cluster.libpq(database)}", str(data))  # type: ignore[attr-defined]


def run(repetitions: int, workdir: Path) -> ScenarioResult:
    """The sync into a lake vs a file, then the view over 10M runs in a lake."""
    sys.path.insert(0, str(ROOT / "tests"))
    from postgres_cluster import running_cluster

    result = ScenarioResult("lake")
    config = world(days=DAYS, runs_per_day=RUNS_PER_DAY_E2E, experiment_runs_per_day=EXPERIMENT_RUNS_PER_DAY)
    lake_jobs: list[dict] = []
    file_jobs: list[dict] = []
    with running_cluster() as cluster:
        print(f"   lake: PostgreSQL 127.0.0.1:{cluster.port}; RETAB_DUCKDB_PATH=ducklake:postgres:dbname=... "
              f"host=127.0.0.1 port={cluster.port} user={cluster.user}, RETAB_DUCKLAKE_DATA_PATH={workdir}/"
              f"<name>-data; every other setting at its default", file=sys.stderr, flush=True)  # fmt: skip
        with start_simulator_process(config) as sim:
            for n in range(repetitions):
                lake = new_lake(cluster, workdir, f"e2e_{n}")
                spec = {"kind": "sync", "base_url": sim.base_url, "key": sim.key,
                        "endpoints": ["runs", "experiment-runs"],
                        "days": [d.isoformat() for d in last_days(DAYS)]}  # fmt: skip
                for jobs, db, data in (
                    (lake_jobs, lake.uri, lake.data_path),
                    (file_jobs, str(workdir / f"e2e-{n}.duckdb"), None),
                ):
                    jobs.append(run_job({**spec, "db": db, **({"data_path": data} if data else {})}))
                    if not jobs[-1]["ok"]:
                        raise RuntimeError(f"the sync into {db.split(':')[0]} failed: {jobs[-1]['errors']}")
        big = new_lake(cluster, workdir, "views")
        generated = build_warehouse(big)
        name, sql = "workflow_daily_health", TIMED["workflow_daily_health"]
        seconds: list[float] = []
        with open_reader(big) as con:
            for _ in range(repetitions):
                began = time.perf_counter()
                out = con.sql(sql).to_arrow_table().num_rows
                seconds.append(time.perf_counter() - began)
    lake_rate = [j["rows"] / j["seconds"] for j in lake_jobs]
    file_rate = [j["rows"] / j["seconds"] for j in file_jobs]
    ratios = [a / b for a, b in zip(lake_rate, file_rate, strict=True)]
    result.figures = [
        Figure("lake", f"sync {DAYS} d x ({RUNS_PER_DAY_E2E:,} + {EXPERIMENT_RUNS_PER_DAY:,}) into a lake",
               "rows/s", lake_rate),
        Figure("lake", "the same sync into a file, same run: rows/s", "rows/s", file_rate),
        Figure("lake", "lake / file rows/s", "ratio", ratios,
               note=f"repetition n of each paired; ratio of the medians "
               f"{statistics.median(lake_rate) / statistics.median(file_rate):.2f}x"),
        Figure("lake", "sync into a lake: peak RSS", "MB", [j["peak_rss_mb"] for j in lake_jobs]),
        Figure("lake", f"{name} over {RUNS:,} runs in a lake ({out:,} rows out)", "s", seconds,
               note=f"generating the 10M runs into the lake took {generated:.0f} s"),
    ]  # fmt: skip
    result.details = {"lake": lake_jobs, "file": file_jobs, "generate_seconds": generated}
    return result
