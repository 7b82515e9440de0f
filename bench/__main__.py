"""`python -m bench`: run the scenarios, print the table, write bench/results.json."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench.machine import describe_machine
from bench.table import ScenarioResult, render_table

SCENARIOS = (
    "startup",
    "views",
    "flatten_load",
    "latency",
    "end_to_end",
    "big_day",
    "quota",
    "incremental",
    "lake",
)
RESULTS = Path(__file__).resolve().parent / "results.json"


def run_scenario(name: str, repetitions: int, workdir: Path) -> ScenarioResult:
    """One scenario in its own scratch folder; an exception becomes the result's error."""
    scenario = importlib.import_module(f"bench.{name}")
    folder = workdir / name
    folder.mkdir()
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    try:
        result: ScenarioResult = scenario.run(repetitions, folder)
    except Exception as error:
        traceback.print_exc()
        result = ScenarioResult(name, error=f"{type(error).__name__}: {error}")
    result.seconds = time.perf_counter() - began
    result.load_average = (load_before, os.getloadavg()[0])
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios; exit 1 when a scenario fails (or, with --strict, misses a target)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated, of {SCENARIOS}")
    parser.add_argument("--repetitions", type=int, default=3, help="per figure; the median is reported")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed, too")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {SCENARIOS}")
    if args.repetitions < 1:
        parser.error("--repetitions must be at least 1")

    machine = describe_machine()
    packages = machine["packages"]
    commit = (machine["git_commit"] or "?")[:12] + (" (dirty)" if machine["git_dirty"] else "")
    print(
        f"{machine['cpu_model']}, {machine['cores']} cores, {machine['memory_gb']} GB; "
        f"python {machine['python']}, duckdb {packages['duckdb']}, pyarrow {packages['pyarrow']}; "
        f"commit {commit}",
        flush=True,
    )
    started_at = datetime.now(UTC)
    began = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="retab-bench-") as scratch:
        for name in chosen:
            print(f"-- {name} ...", file=sys.stderr, flush=True)
            results.append(run_scenario(name, args.repetitions, Path(scratch)))
            print(f"   {name}: {results[-1].seconds:.0f} s", file=sys.stderr, flush=True)
    total = time.perf_counter() - began

    print()
    print(render_table(results))
    print(f"\n{len(chosen)} scenarios, {args.repetitions} repetitions, {total:.0f} s in all")
    loads = ", ".join(f"{r.name} {r.load_average[0]:.1f}->{r.load_average[1]:.1f}" for r in results)
    print(f"1-minute load average at the start and end of each scenario ({os.cpu_count()} cores): {loads}")
    report = {
        "started_at": started_at.isoformat(),
        "seconds": total,
        "repetitions": args.repetitions,
        "machine": machine,
        "figures": [figure.to_json() for result in results for figure in result.figures],
        "scenarios": {
            r.name: {
                "seconds": r.seconds,
                "load_average": r.load_average,
                "error": r.error,
                "details": r.details,
            }
            for r in results
        },
    }
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")
    missed = [f for r in results for f in r.figures if f.passed is False]
    return 1 if any(r.error for r in results) or (args.strict and missed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
