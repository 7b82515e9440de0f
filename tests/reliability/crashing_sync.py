"""`python -m reliability.crashing_sync STAGE N sync ...`: the real CLI, SIGKILLed at the Nth STAGE point.

Stages, counted across all threads of the process:

    fetch    each HTTP listing page received, before it is parsed         (worker threads)
    flatten  each batch handed to the flattener, before or after it runs  (worker threads)
    commit   each statement on a writer connection (plan, loads, sync_log), and each writer's
             close, so points fall inside a partition's transaction and around its COMMIT

The child prints `pid P` to stderr first. With N = 0 nothing is killed: the process prints
`points fetch=F flatten=L commit=C` to stderr at exit, which tells a test the range of N for
each stage. Only public module attributes are wrapped; the production code carries no test hook.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

STAGES = ("fetch", "flatten", "commit")


class Points:
    """Counts the points of each stage; kills the process on the chosen one."""

    def __init__(self, stage: str, target: int) -> None:
        self.stage = stage
        self.target = target
        self.counts = dict.fromkeys(STAGES, 0)
        self._lock = threading.Lock()

    def reach(self, stage: str) -> None:
        with self._lock:
            self.counts[stage] += 1
            hit = stage == self.stage and self.counts[stage] == self.target
        if hit:
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    def report(self) -> None:
        print("points " + " ".join(f"{s}={n}" for s, n in self.counts.items()), file=sys.stderr, flush=True)


class KillingConnection:
    """A DuckDB connection that reaches a commit point before each statement."""

    def __init__(self, con: Any, points: Points) -> None:
        self._con = con
        self._points = points

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self._points.reach("commit")
        return self._con.execute(*args, **kwargs)

    def executemany(self, *args: Any, **kwargs: Any) -> Any:
        self._points.reach("commit")
        return self._con.executemany(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def install(points: Points) -> None:
    """Wrap page parsing, the flatteners and the sync's writer connections."""
    import pipelines.extract.client
    import pipelines.sync.orchestrator
    import pipelines.transform

    parse_page = pipelines.extract.client.parse_page

    def killing_parse_page(body: bytes) -> Any:
        points.reach("fetch")
        return parse_page(body)

    pipelines.extract.client.parse_page = killing_parse_page

    def killing_flattener(flatten: Callable[..., Any], after: bool) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not after:
                points.reach("flatten")
            result = flatten(*args, **kwargs)
            if after:
                points.reach("flatten")
            return result

        return wrapped

    for n, (name, flatten) in enumerate(sorted(pipelines.transform.FLATTENERS.items())):
        pipelines.transform.FLATTENERS[name] = killing_flattener(flatten, after=bool(n % 2))

    open_writer = pipelines.sync.orchestrator.open_writer

    @contextmanager
    def killing_open_writer(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with open_writer(*args, **kwargs) as con:
            yield KillingConnection(con, points)
            points.reach("commit")  # committed, not yet closed (nor checkpointed)

    pipelines.sync.orchestrator.open_writer = killing_open_writer


def main() -> int:
    stage, target, *argv = sys.argv[1:]
    if stage not in STAGES:
        raise SystemExit(f"stage must be one of {STAGES}, got {stage!r}")
    points = Points(stage, int(target))
    print(f"pid {os.getpid()}", file=sys.stderr, flush=True)
    install(points)
    atexit.register(points.report)
    from pipelines.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
