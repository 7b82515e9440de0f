"""Starting and stopping the simulator from Python: in a thread, or in a separate process.

with run_simulator(SimConfig(seed=7, end=date(2026, 5, 10))) as sim:
    requests.get(f"{sim.base_url}/v1/workflows/runs", headers={"Api-Key": sim.key})
    sim.advance(minutes=30)
"""

from __future__ import annotations

import os
import pickle
import select
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

from retab_sim.app import Simulation
from retab_sim.config import SimConfig
from retab_sim.server import SimHTTPServer


def _day(day: date | str) -> date:
    return date.fromisoformat(day) if isinstance(day, str) else day


class Simulator:
    """A simulator running in this process: where it listens, and its admin operations."""

    def __init__(self, sim: Simulation, server: SimHTTPServer) -> None:
        self._sim = sim
        self.base_url = server.base_url
        self.key = sim.cfg.key
        self.config = sim.cfg

    @property
    def now(self) -> datetime:
        """The simulated current time (aware, UTC)."""
        return self._sim.clock.now()

    def advance(self, minutes: float = 0, seconds: float = 0) -> datetime:
        """Move the clock on: in-flight runs finish, new runs appear. Returns the new now."""
        return self._sim.advance(minutes * 60 + seconds)

    def truth(self, endpoint: str, day: date | str) -> list[dict[str, Any]]:
        """Records of that UTC day as now visible, served form without fault perturbations, oldest first."""
        return self._sim.truth(endpoint, _day(day))

    def truth_ids(self, endpoint: str, day: date | str, at: datetime | None = None) -> dict[str, str]:
        """id -> status of the same records; as they were at an earlier simulated time `at`, if given."""
        return self._sim.truth_ids(endpoint, _day(day), at)

    def delete(self, endpoint: str, run_id: str) -> None:
        """Make a run disappear from listings and GETs; KeyError if it does not exist."""
        if not self._sim.delete(endpoint, run_id):
            raise KeyError(run_id)

    def counters(self) -> dict[str, Any]:
        """Requests by status and route, faults injected by kind, records served."""
        return self._sim.counters()

    def set_quota(self, rps: float) -> None:
        """Change the server-side quota (requests/s) from now on."""
        self._sim.set_quota(rps)


class RemoteSimulator:
    """A simulator in another process, driven through its `/_sim/` admin endpoints."""

    def __init__(self, base_url: str, config: SimConfig) -> None:
        self.base_url = base_url
        self.key = config.key
        self.config = config

    def _call(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        data = None if payload is None else orjson.dumps(payload)
        req = urllib.request.Request(
            self.base_url + path, data=data, method="GET" if data is None else "POST"
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            return orjson.loads(resp.read())

    @property
    def now(self) -> datetime:
        """The simulated current time (aware, UTC)."""
        return datetime.fromisoformat(self._call("/_sim/now")["now"])

    def advance(self, minutes: float = 0, seconds: float = 0) -> datetime:
        """Move the clock on. Returns the new now."""
        return datetime.fromisoformat(
            self._call("/_sim/advance", {"minutes": minutes, "seconds": seconds})["now"]
        )

    def truth(self, endpoint: str, day: date | str) -> list[dict[str, Any]]:
        """Records of that UTC day as now visible, served form without fault perturbations, oldest first."""
        result: list[dict[str, Any]] = self._call(f"/_sim/truth?endpoint={endpoint}&day={_day(day)}")
        return result

    def truth_ids(self, endpoint: str, day: date | str, at: datetime | None = None) -> dict[str, str]:
        """id -> status of the same records; as they were at an earlier simulated time `at`, if given."""
        query = urllib.parse.urlencode(
            {"endpoint": endpoint, "day": _day(day).isoformat(), **({"at": at.isoformat()} if at else {})}
        )
        result: dict[str, str] = self._call(f"/_sim/truth-ids?{query}")
        return result

    def delete(self, endpoint: str, run_id: str) -> None:
        """Make a run disappear; KeyError if it does not exist."""
        try:
            self._call("/_sim/delete", {"endpoint": endpoint, "id": run_id})
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise KeyError(run_id) from exc
            raise

    def counters(self) -> dict[str, Any]:
        """Requests by status and route, faults injected by kind, records served."""
        result: dict[str, Any] = self._call("/_sim/counters")
        return result

    def set_quota(self, rps: float) -> None:
        """Change the server-side quota (requests/s) from now on."""
        self._call("/_sim/quota", {"rps": rps})


@contextmanager
def run_simulator(cfg: SimConfig | None = None) -> Iterator[Simulator]:
    """Serve on a free loopback port from a thread of this process; stop cleanly on exit."""
    cfg = cfg or SimConfig()
    sim = Simulation(cfg)
    server = SimHTTPServer(sim, cfg.host, cfg.port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Simulator(sim, server)
    finally:
        server.stop()
        thread.join(timeout=10)


def _child_main() -> None:
    """Entry point of the server process: config in on stdin, base URL out on stdout, stop at stdin EOF."""
    size = int(sys.stdin.buffer.readline())
    cfg = pickle.loads(sys.stdin.buffer.read(size))
    server = SimHTTPServer(Simulation(cfg), cfg.host, cfg.port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    sys.stdout.write(server.base_url + "\n")
    sys.stdout.flush()
    sys.stdin.buffer.read()  # until the parent closes the pipe (or dies)
    server.stop()
    thread.join(timeout=10)


@contextmanager
def start_simulator_process(cfg: SimConfig | None = None, timeout: float = 60.0) -> Iterator[RemoteSimulator]:
    """Serve from a separate process (for benchmarks: the server gets its own core)."""
    cfg = cfg or SimConfig()
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    code = "from retab_sim.runner import _child_main; _child_main()"
    pipe = subprocess.PIPE
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=pipe, stdout=pipe, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        payload = pickle.dumps(cfg)
        proc.stdin.write(b"%d\n" % len(payload) + payload)
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("http://"):
            raise RuntimeError(f"the simulator process did not start (exit code {proc.poll()})")
        yield RemoteSimulator(line, cfg)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        proc.stdout.close()
