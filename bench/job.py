"""Measured jobs in a child process of their own, so that peak RSS and imports are theirs alone.

    parent: run_job({"kind": "sync", ...}) ──stdin: JSON spec──▶ python -m bench.job
            ◀── stdout, last line: JSON result (rows, seconds, peak_rss_mb, ...) ──

Peak RSS is the child's VmHWM, read by the child itself when the job is done: the high-water mark
of its own address space, unlike ru_maxrss, which a vfork'ed child inherits from its parent.
Kinds: `sync` (pipelines.sync.orchestrator.sync against a running simulator), `killed_sync` (the
same, SIGKILLed at its Nth request), `dlt` (dlt's rest_api source
into DuckDB, the comparison of issue 7), and bench.flatten_load's two sides on saved page bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class JobFailed(RuntimeError):
    """A child job exited with an error or printed no result."""


def run_job(spec: dict[str, Any], *, timeout: float = 600.0) -> dict[str, Any]:
    """Run one job in a fresh `python -m bench.job` process; return its result."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    env.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    with tempfile.TemporaryDirectory(prefix="retab-bench-job-") as cwd:  # dlt writes .dlt/ in its cwd
        done = subprocess.run(
            [sys.executable, "-m", "bench.job"],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env=env,
        )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise JobFailed(f"{spec['kind']} job exited with {done.returncode}:\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def sync_job(spec: dict[str, Any]) -> dict[str, Any]:
    """pipelines.sync.orchestrator.sync() of the spec's endpoints and days into a fresh DuckDB file
    (or the lake `db` names, `ducklake:postgres:...`, with its `data_path`)."""
    from pipelines.config import DUCKLAKE_DATA_PATH_ENV, Settings, warehouse_target
    from pipelines.endpoints import ENDPOINTS
    from pipelines.sync.orchestrator import sync

    settings = Settings(
        api_key=spec["key"],
        base_url=spec["base_url"],
        duckdb_path=warehouse_target(spec["db"], {DUCKLAKE_DATA_PATH_ENV: spec.get("data_path", "")}),
        **({"concurrency": spec["concurrency"]} if "concurrency" in spec else {}),
    )  # every other setting at the product's default, as a user runs it
    days = None if spec.get("days") is None else [date.fromisoformat(day) for day in spec["days"]]
    options: dict[str, Any] = {k: spec[k] for k in ("mode", "reconcile_days") if k in spec}
    if "today" in spec:  # a simulated world's day (its clock is not the wall clock)
        options["today"] = date.fromisoformat(spec["today"])
    rss_before = status_mb("VmRSS")
    cpu = time.process_time()
    began = time.perf_counter()
    report = sync(settings, [ENDPOINTS[name] for name in spec["endpoints"]], days, **options)
    seconds = time.perf_counter() - began
    return {
        "rows": sum(p.rows for p in report.partitions),
        "pages": sum(p.pages for p in report.partitions),
        "gets": sum(p.gets for p in report.partitions),
        "resumed_pages": sum(p.resumed_pages for p in report.partitions),
        "ok": report.ok,
        "errors": [p.error for p in report.failed],
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "rss_before_mb": rss_before,
        "peak_rss_mb": status_mb("VmHWM"),
    }


def dlt_job(spec: dict[str, Any]) -> dict[str, Any]:
    """dlt's rest_api source -> DuckDB: Bearer auth, the `after` cursor of list_metadata, a date window.

    `pages` limits each resource to its first N pages (dlt's add_limit counts a page as one item).
    """
    import dlt
    from dlt.sources.rest_api import rest_api_source

    def resource(name: str, path: str) -> dict[str, Any]:
        params = {"from_date": spec["from_date"], "to_date": spec["to_date"], "limit": 100, "order": "asc"}
        return {
            "name": name,
            "endpoint": {
                "path": path,
                "params": params,
                "data_selector": "data",
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "list_metadata.after",
                    "cursor_param": "after",
                },
            },
        }

    config: Any = {
        "client": {"base_url": spec["base_url"], "auth": {"type": "bearer", "token": spec["key"]}},
        "resources": [
            resource("workflow_runs", "/v1/workflows/runs"),
            resource("experiment_runs", "/v1/workflows/experiments/runs"),
        ],
    }
    source = rest_api_source(config)
    for name, pages in spec.get("pages", {}).items():
        source.resources[name].add_limit(pages)
    pipeline = dlt.pipeline(
        pipeline_name="retab_bench",
        pipelines_dir=spec["dir"],
        destination=dlt.destinations.duckdb(spec["db"]),
        dataset_name="retab",
    )
    rss_before = status_mb("VmRSS")
    began = time.perf_counter()
    pipeline.run(source)
    seconds = time.perf_counter() - began
    trace = pipeline.last_trace
    normalized = trace.last_normalize_info if trace is not None else None
    counts = dict(normalized.row_counts) if normalized is not None else {}
    return {
        "rows": counts.get("workflow_runs", 0) + counts.get("experiment_runs", 0),
        "row_counts": counts,
        "seconds": seconds,
        "rss_before_mb": rss_before,
        "peak_rss_mb": status_mb("VmHWM"),
    }


def flatten_ours_job(spec: dict[str, Any]) -> dict[str, Any]:
    """bench.flatten_load's sync from page bytes."""
    from bench.flatten_load import ours_job

    return ours_job(spec)


def flatten_ceiling_job(spec: dict[str, Any]) -> dict[str, Any]:
    """bench.flatten_load's C++ ceiling on the same bytes."""
    from bench.flatten_load import ceiling_job

    return ceiling_job(spec)


def killed_sync_job(spec: dict[str, Any]) -> dict[str, Any]:
    """A sync that SIGKILLs its own process as its `kill_at_request`-th request goes out (a crash
    mid-walk, as an OOM kill or a deploy does); it never returns."""
    import signal

    from pipelines.extract.client import RetabClient

    send, calls = RetabClient._send, [0]

    def killing(self: RetabClient, *args: Any, **kwargs: Any) -> bytes:
        calls[0] += 1
        if calls[0] == spec["kill_at_request"]:
            os.kill(os.getpid(), signal.SIGKILL)
        return send(self, *args, **kwargs)

    RetabClient._send = killing  # type: ignore[method-assign]
    return sync_job(spec)


JOBS = {
    "sync": sync_job,
    "killed_sync": killed_sync_job,
    "dlt": dlt_job,
    "flatten_ours": flatten_ours_job,
    "flatten_ceiling": flatten_ceiling_job,
}


def main() -> None:
    """Child side: read the spec from stdin, run it, print the result as the last stdout line."""
    spec = json.loads(sys.stdin.read())
    result = JOBS[spec["kind"]](spec)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
