"""`retab-warehouse dev` (`make dev`): the Dagster UI against the embedded Retab API simulator.

    this process ─┬─ simulator thread on 127.0.0.1:<free port>  (seeded, mixed shape, 14 days, realtime clock)
                  ├─ seed: sync the simulated days not yet materialized, then the views (assets/dev_seed.py)
                  └─ child: dagster dev -w <home>/workspace.yaml
                             env RETAB_API_BASE_URL / RETAB_API_KEY -> the simulator,
                                 RETAB_DUCKDB_PATH -> warehouse/dev.duckdb, DAGSTER_HOME -> .dagster/dev

The warehouse file and the Dagster history are separate from the real ones (warehouse/warehouse.duckdb,
$DAGSTER_HOME), so simulated data never mixes with real data. No API key is needed.
"""

from __future__ import annotations

import argparse
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType

from pipelines.config import DEFAULT_DEV_PORT
from pipelines.errors import EXIT_FIX_FIRST

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_HOME = PROJECT_ROOT / ".dagster" / "dev"
DEV_WAREHOUSE = PROJECT_ROOT / "warehouse" / "dev.duckdb"
DEV_SEED = 20260501
DEV_DAYS = 14
LOCATION_NAME = "retab_warehouse_embedded_simulator"
STOP_TIMEOUT = 30.0
PORTS_TRIED = 100  # how far above a taken port to look for a free one to suggest


def dev_environment(
    base: Mapping[str, str], *, base_url: str, key: str, warehouse: Path, home: Path, first_day: date
) -> dict[str, str]:
    """The environment of the code location: the simulator's URL and key, the dev warehouse and home."""
    return {
        **base,
        "RETAB_API_BASE_URL": base_url,
        "RETAB_API_KEY": key,
        "RETAB_DUCKDB_PATH": str(warehouse),
        "RETAB_PARTITIONS_START": first_day.isoformat(),
        "DAGSTER_HOME": str(home),
    }


def workspace_yaml(root: Path = PROJECT_ROOT) -> str:
    """A workspace whose code location name says that it runs against the simulator."""
    return (
        "load_from:\n"
        "  - python_module:\n"
        "      module_name: assets.definitions\n"
        f"      working_directory: {root}\n"
        f"      location_name: {LOCATION_NAME}\n"
    )


def prepare_home(home: Path, root: Path = PROJECT_ROOT) -> Path:
    """Create the dev DAGSTER_HOME with the project's dagster.yaml and a workspace; return the workspace."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / "dagster.yaml", home / "dagster.yaml")
    workspace = home / "workspace.yaml"
    workspace.write_text(workspace_yaml(root), encoding="utf-8")
    return workspace


def banner(
    *, sim_url: str, seed: int, days: int, faults: str, warehouse: Path, home: Path, ui_url: str
) -> str:
    """What the terminal shows first: this is the simulator, not the real API, and where things are."""
    rule = "=" * 78
    return "\n".join(
        [
            rule,
            "  retab-warehouse dev: the Dagster UI against the EMBEDDED SIMULATOR",
            "  This is NOT the real Retab API: every run is generated "
            f"(seed {seed}, {days} days, mixed shape, {faults} faults).",
            f"  Simulator   {sim_url}  (loopback only; the code location gets its URL and key)",
            f"  Warehouse   {warehouse}  (separate from warehouse/warehouse.duckdb)",
            f"  History     {home}  (separate from your DAGSTER_HOME)",
            f"  Dagster UI  {ui_url}  (code location '{LOCATION_NAME}')",
            "  Stop with Ctrl-C.",
            rule,
        ]
    )


def bind_error(host: str, port: int) -> OSError | None:
    """Why the webserver could not listen on host:port, or None; binds as uvicorn does (SO_REUSEADDR)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error
    return None


def port_problem(host: str, port: int) -> str | None:
    """What to tell the user when `dagster dev` could not serve the UI on host:port, or None."""
    error = bind_error(host, port)
    if error is None:
        return None
    if error.errno != errno.EADDRINUSE:
        return f"cannot listen on {host}:{port} ({error.strerror}); run `retab-warehouse dev --port N`"
    above = range(port + 1, min(port + PORTS_TRIED, 65536))
    free = next((str(p) for p in above if bind_error(host, p) is None), "N")
    return (
        f"port {port} is in use (another dagster dev?); stop it or run `retab-warehouse dev --port {free}` "
        f"(or `make dev PORT={free}`)"
    )


def _reset_signals() -> None:
    """In the child: default SIGINT/SIGTERM handling, even if this process was started with them ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run_dev(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_DEV_PORT,
    home: Path = DEV_HOME,
    warehouse: Path = DEV_WAREHOUSE,
    days: int = DEV_DAYS,
    runs_per_day: int = 500,
    experiment_runs_per_day: int = 50,
    faults: str = "mild",
    seed: bool = True,
) -> int:
    """Start the simulator, seed the dev warehouse, and run `dagster dev` until it exits or Ctrl-C."""
    problem = port_problem(host, port)  # before anything starts: dagster dev would run on without a UI
    if problem:
        print(f"retab-warehouse dev: {problem}", file=sys.stderr)
        return EXIT_FIX_FIRST
    from assets.dev_seed import seed_instance
    from retab_sim import SimConfig, run_simulator

    home, warehouse = home.absolute(), warehouse.absolute()
    now = datetime.now(UTC)
    today = now.date()
    first = today - timedelta(days=days - 1)
    config = SimConfig(
        seed=DEV_SEED,
        shape="mixed",
        end=today,
        days=days,
        runs_per_day=runs_per_day,
        experiment_runs_per_day=experiment_runs_per_day,
        faults=faults,
        now=now,
        realtime=True,
    )
    workspace = prepare_home(home)
    with run_simulator(config) as sim:
        env = dev_environment(
            os.environ, base_url=sim.base_url, key=sim.key, warehouse=warehouse, home=home, first_day=first
        )
        os.environ.update(env)  # the seed below imports the code location in this process
        print(
            banner(
                sim_url=sim.base_url,
                seed=DEV_SEED,
                days=days,
                faults=faults,
                warehouse=warehouse,
                home=home,
                ui_url=f"http://{host}:{port}",
            ),
            flush=True,
        )
        if seed:
            print(
                f"Seeding: syncing the simulated days {first} .. {today - timedelta(days=1)}...", flush=True
            )
            count = seed_instance(first, today - timedelta(days=1))
            print(f"Seeded {count} day(s); starting dagster dev...", flush=True)
        return _run_dagster_dev(host, port, workspace, env)


def _run_dagster_dev(host: str, port: int, workspace: Path, env: dict[str, str]) -> int:
    """Run `dagster dev` as a child until it exits; Ctrl-C or SIGTERM here stops it and its children."""
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster if dagster.exists() else "dagster"), "dev", "-h", host, "-p", str(port)]
    command += ["-w", str(workspace)]
    # cwd: the home, so that dagster dev does not also find (and warn about) the project's dagster.yaml
    child = subprocess.Popen(command, env=env, cwd=workspace.parent, preexec_fn=_reset_signals)

    def forward(signum: int, _frame: FrameType | None) -> None:
        child.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        return child.wait()
    except KeyboardInterrupt:  # Ctrl-C in the terminal reached dagster dev too: let it shut down
        return _stop(child, grace=STOP_TIMEOUT)
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop(child, grace=0)


def _stop(child: subprocess.Popen[bytes], grace: float) -> int:
    """Give the child `grace` seconds to exit by itself, then SIGTERM, then SIGKILL; return its exit code."""
    try:
        return child.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    child.terminate()
    try:
        return child.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m assets.dev`: run_dev with its knobs exposed (tests use a free port and tmp paths)."""
    parser = argparse.ArgumentParser(prog="python -m assets.dev", description=run_dev.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_DEV_PORT)
    parser.add_argument("--home", type=Path, default=DEV_HOME, help="DAGSTER_HOME for the dev instance")
    parser.add_argument("--warehouse", type=Path, default=DEV_WAREHOUSE, help="the dev DuckDB file")
    parser.add_argument("--days", type=int, default=DEV_DAYS)
    parser.add_argument("--runs-per-day", type=int, default=500)
    parser.add_argument("--experiment-runs-per-day", type=int, default=50)
    parser.add_argument("--faults", choices=("none", "mild", "hostile"), default="mild")
    parser.add_argument("--no-seed", action="store_true", help="do not sync the simulated days at start")
    args = parser.parse_args(argv)
    return run_dev(
        host=args.host,
        port=args.port,
        home=args.home,
        warehouse=args.warehouse,
        days=args.days,
        runs_per_day=args.runs_per_day,
        experiment_runs_per_day=args.experiment_runs_per_day,
        faults=args.faults,
        seed=not args.no_seed,
    )


if __name__ == "__main__":
    raise SystemExit(main())
