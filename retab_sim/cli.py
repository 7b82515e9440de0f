"""`retab-warehouse simulate` (and `python -m retab_sim`): serve the simulator in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import UTC, date, datetime

from retab_sim.config import FAULT_PROFILES, SHAPES, SimConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the `simulate` options on a parser."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one, printed on start)")
    parser.add_argument("--seed", type=int, default=0, help="the data and faults follow from it")
    parser.add_argument("--shape", choices=SHAPES, default="sdk", help="record form (default: sdk)")
    parser.add_argument(
        "--end",
        type=date.fromisoformat,
        default=None,
        help="last UTC day with data, YYYY-MM-DD (default: today)",
    )
    parser.add_argument("--days", type=int, default=3, help="days of data up to --end (default: 3)")
    parser.add_argument("--runs-per-day", type=int, default=200)
    parser.add_argument("--experiment-runs-per-day", type=int, default=20)
    parser.add_argument(
        "--faults", choices=FAULT_PROFILES, default="none", help="fault profile (default: none)"
    )
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="each API response takes this long, the simulator's own work included",
    )
    parser.add_argument(
        "--quota",
        type=float,
        default=None,
        metavar="RPS",
        help="refuse requests above RPS per second with 429 + Retry-After (default: no quota)",
    )
    parser.add_argument(
        "--quota-headers",
        choices=("none", "ietf", "x"),
        default="none",
        help="announce the quota in RateLimit (ietf) or X-RateLimit-* (x) headers (default: none)",
    )
    parser.add_argument(
        "--quota-burst",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="the quota lets this many seconds of requests through at once (default: 1)",
    )
    parser.add_argument(
        "--long-review-rate",
        type=float,
        default=0.0,
        help="share of reviewed runs whose review lasts 1-90 days, not minutes (default: 0)",
    )
    parser.add_argument(
        "--rescore-rate",
        type=float,
        default=0.0,
        help="share of scored experiment runs re-scored 1-20 days after they finished (default: 0)",
    )
    parser.add_argument("--key", default="sim-key", help="the only API key accepted (default: sim-key)")


def config_from_args(args: argparse.Namespace, *, wall: datetime | None = None) -> SimConfig:
    """The SimConfig the options describe: with --end today, the clock is the wall clock."""
    wall = wall or datetime.now(UTC)
    end = args.end or wall.date()
    realtime = end == wall.date()
    return SimConfig(
        seed=args.seed,
        shape=args.shape,
        end=end,
        days=args.days,
        runs_per_day=args.runs_per_day,
        experiment_runs_per_day=args.experiment_runs_per_day,
        faults=args.faults,
        latency_ms=args.latency_ms,
        quota_rps=args.quota,
        quota_headers=args.quota_headers,
        quota_burst=args.quota_burst,
        long_review_rate=args.long_review_rate,
        rescore_rate=args.rescore_rate,
        key=args.key,
        now=wall if realtime else None,
        realtime=realtime,
        host=args.host,
        port=args.port,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; prints the base URL first."""
    try:
        cfg = config_from_args(args)
    except ValueError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    from retab_sim.app import Simulation
    from retab_sim.server import SimHTTPServer

    server = SimHTTPServer(Simulation(cfg), cfg.host, cfg.port)
    print(server.base_url, flush=True)
    quota = f", quota {cfg.quota_rps:g} requests/s" if cfg.quota_rps else ""
    clock = "wall clock" if cfg.realtime else f"clock at {cfg.initial_now.isoformat()}"
    print(
        f"Retab simulator: key {cfg.key!r}, seed {cfg.seed}, shape {cfg.shape}, days {cfg.start}..{cfg.end}, "
        f"{cfg.runs_per_day} runs/day, {cfg.experiment_runs_per_day} experiment runs/day, "
        f"faults {cfg.faults}, {clock}{quota}. Admin: {server.base_url}/_sim/counters. Ctrl-C stops.",
        file=sys.stderr,
        flush=True,
    )
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C and SIGTERM stop it, even when started by a parent that ignores those signals
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
