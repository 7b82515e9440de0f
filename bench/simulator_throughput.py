"""Throughput of the Retab API simulator: pages of 100 records per second over HTTP/1.1 keep-alive.

The simulator runs in its own process (one core); a requests.Session in this process walks one
UTC day per run with `from_date=to_date=D, order=asc, limit=100, after=...`, as the sync does.
Each cold run walks a day nobody has asked for yet (everything generated and rendered on the
spot); each warm run walks the first day again (finished records come from the render cache).
Besides wall-clock pages/s (which the client's own speed also bounds), it reports what the
server spent: pages per CPU-second of the server process, i.e. its capacity on one core.

    .venv/bin/python bench/simulator_throughput.py [--pages 1000] [--runs 3] [--shape sdk]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date, timedelta

import orjson
import requests

from retab_sim import SimConfig, start_simulator_process
from retab_sim.runner import RemoteSimulator

END = date(2026, 5, 10)


def walk_day(sim: RemoteSimulator, session: requests.Session, day: date, pages: int) -> dict[str, float]:
    """Walk up to `pages` pages of one day; returns wall and server-CPU rates."""
    params: dict[str, str | int] = {
        "from_date": day.isoformat(),
        "to_date": day.isoformat(),
        "order": "asc",
        "limit": 100,
    }
    cpu0 = sim.counters()["process_cpu_seconds"]
    started = time.perf_counter()
    n_pages = n_records = 0
    while n_pages < pages:
        response = session.get(f"{sim.base_url}/v1/workflows/runs", params=params, timeout=60)
        response.raise_for_status()
        content = response.content  # the client does no more than it must: the server is measured
        meta = orjson.loads(content[content.rindex(b'"list_metadata":') + 16 : -1])
        n_pages += 1
        n_records += content.count(b'{"id":"run_')
        after = meta["after"]
        if after is None:
            break
        params["after"] = after
    wall = time.perf_counter() - started
    cpu = sim.counters()["process_cpu_seconds"] - cpu0
    return {
        "pages_per_s": n_pages / wall,
        "records_per_s": n_records / wall,
        "server_pages_per_cpu_s": n_pages / cpu,
        "pages": n_pages,
    }


def report(label: str, runs: list[dict[str, float]]) -> None:
    """Print the median of the runs and the runs themselves."""
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    each = ", ".join(f"{run['pages_per_s']:.0f}" for run in runs)
    print(
        f"{label}: {median['pages_per_s']:.0f} pages/s, {median['records_per_s']:.0f} records/s "
        f"(median of {len(runs)}: {each}); server capacity {median['server_pages_per_cpu_s']:.0f} pages "
        f"per CPU-second ({median['server_pages_per_cpu_s'] * 100:.0f} records)"
    )


def main() -> None:
    """Start the simulator in a process, walk cold days then a warm one, print medians."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=1000, help="pages per run (a day holds this many)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each kind; the median is reported")
    parser.add_argument("--shape", default="sdk", choices=("sdk", "docs", "mixed"))
    args = parser.parse_args()
    config = SimConfig(
        seed=1,
        shape=args.shape,
        end=END,
        days=args.runs,
        runs_per_day=args.pages * 100,
        experiment_runs_per_day=0,
    )
    with start_simulator_process(config) as sim:
        session = requests.Session()
        session.headers["Api-Key"] = sim.key
        walk_day(sim, session, END, 5)  # connection, imports, first chunk
        days = [END - timedelta(days=n) for n in range(args.runs)]
        cold = [walk_day(sim, session, day, args.pages) for day in days]
        warm = [walk_day(sim, session, days[0], args.pages) for _ in range(args.runs)]
    print(f"simulator, {args.pages} pages of 100 {args.shape} records per run, requests.Session client:")
    report("cold (generated and rendered on the spot)", cold)
    report("warm (finished records from the render cache)", warm)


if __name__ == "__main__":
    main()
