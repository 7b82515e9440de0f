"""The simulated API without sockets: a request (method, target, headers, body) in, a Reply out."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

import orjson

from retab_sim.clock import SimClock
from retab_sim.config import SimConfig
from retab_sim.data import ENDPOINTS, EXPERIMENT_RUNS, RUNS
from retab_sim.dataset import Dataset, Position
from retab_sim.faults import NO_FAULT, Decision, decide, perturb, plan_for
from retab_sim.listing import Scanner, list_page
from retab_sim.query import Query, parse_query
from retab_sim.quota import Quota
from retab_sim.shapes import iso_utc, project

LIST_PATHS = {"/v1/workflows/runs": RUNS, "/v1/workflows/experiments/runs": EXPERIMENT_RUNS}
_GET_PREFIXES = (("/v1/workflows/experiments/runs/", EXPERIMENT_RUNS), ("/v1/workflows/runs/", RUNS))
_ATTEMPT_CAP = 1_000_000  # distinct request targets remembered for fault attempts


@dataclass
class Reply:
    """A response to write: status, JSON body, extra headers and how to misbehave while writing it."""

    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    fault: str | None = None  # "disconnect" or "truncated"
    cut: float = 0.5
    delay: float = 0.0  # seconds to wait before writing
    after_send: Callable[[], None] | None = None  # work for the idle time once the reply is out


def _json(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    return Reply(status, orjson.dumps(payload), headers or [])


class Simulation:
    """The simulator's state (data, clock, deletions, fault attempts, counters) and its routes."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.ds = Dataset(cfg)
        self.clock = SimClock(cfg.initial_now, realtime=cfg.realtime)
        self.plan = plan_for(cfg)
        self._lock = threading.Lock()
        self._attempts: dict[str, int] = {}
        self._by_status: Counter[str] = Counter()
        self._by_route: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._records = 0
        self._seq = itertools.count(1)
        self.quota = (
            None
            if cfg.quota_rps is None
            else Quota(cfg.quota_rps, headers=cfg.quota_headers, burst=cfg.quota_burst, clock=time.monotonic)
        )

    # -- admin operations (also used directly by the in-thread handle) --

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward."""
        self.clock.advance(seconds)
        return self.clock.now()

    def truth(self, endpoint: str, day: date) -> list[dict[str, Any]]:
        """The day's records as currently visible, without fault perturbations."""
        return self.ds.truth(_endpoint(endpoint), day, self.clock.now_ms())

    def truth_ids(self, endpoint: str, day: date, at: datetime | None = None) -> dict[str, str]:
        """id -> status of the day's records as visible now, or at an earlier simulated time `at`.

        `at` lets a test check a row fetched while the clock moved (head_insert faults) against
        the status the run had when it was served. Deletions apply whatever `at` is.
        """
        now = self.clock.now_ms()
        if at is not None:
            now = min(now, round(at.timestamp() * 1000))
        return self.ds.truth_ids(_endpoint(endpoint), day, now)

    def delete(self, endpoint: str, run_id: str) -> bool:
        """Delete a run; False if it does not exist."""
        return self.ds.delete(_endpoint(endpoint), run_id, self.clock.now_ms())

    def set_quota(self, rps: float) -> None:
        """Change the server-side quota while serving (one is created if there was none)."""
        if self.quota is None:
            self.quota = Quota(
                rps, headers=self.cfg.quota_headers, burst=self.cfg.quota_burst, clock=time.monotonic
            )
        else:
            self.quota.set_rate(rps)

    def counters(self) -> dict[str, Any]:
        """Requests by status and route, faults injected by kind, 429s of the quota, records served."""
        with self._lock:
            return {
                "requests_total": sum(self._by_status.values()),
                "requests_by_status": dict(self._by_status),
                "requests_by_route": dict(self._by_route),
                "faults": dict(self._faults),
                "records_served": self._records,
                "process_cpu_seconds": time.process_time(),  # of the whole serving process
            }

    # -- HTTP --

    def http_date(self, seconds_from_now: float = 0) -> str:
        """The simulated clock as an HTTP date (the Date header, and a Retry-After date)."""
        return formatdate(self.clock.now_ms() / 1000 + seconds_from_now, usegmt=True)

    def request_id(self) -> str:
        """A fresh x-request-id value."""
        return f"req_{self.cfg.seed & 0xFFFF:04x}{next(self._seq):012x}"

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> Reply:
        """Route one request."""
        path, _, qs = target.partition("?")
        if path.startswith("/_sim/"):
            return self._admin(method, path, qs, body)
        route, kind, run_id = self._route(path)
        if route is None:
            if path.rstrip("/") in LIST_PATHS and path.endswith("/"):
                location = path.rstrip("/") + (f"?{qs}" if qs else "")
                reply = Reply(307, b"", [("Location", location)])
            else:
                reply = _json(404, {"detail": "Not Found"})
            return self._count("unknown", reply)
        if method != "GET":
            return self._count(route, _json(405, {"detail": "Method Not Allowed"}, [("Allow", "GET")]))
        denied = self._authenticate(headers)
        if denied is not None:
            return self._count(route, denied)
        admission = None if self.quota is None else self.quota.admit()
        if admission is not None and not admission.allowed:
            with self._lock:
                self._faults["quota_429"] += 1
            refusal = [("Retry-After", str(admission.retry_after)), *admission.headers]
            refused = _json(429, {"detail": "Rate limit exceeded"}, refusal)
            refused.delay = self.cfg.latency_ms / 1000
            return self._count(route, refused)
        params = dict(parse_qsl(qs, keep_blank_values=True))
        reply = self._list(kind, target, params) if run_id is None else self._get(kind, target, run_id)
        if admission is not None:
            reply.headers.extend(admission.headers)
        return self._count(route, reply)

    def _route(self, path: str) -> tuple[str | None, str, str | None]:
        kind = LIST_PATHS.get(path)
        if kind is not None:
            return f"list_{kind}", kind, None
        for prefix, kind in _GET_PREFIXES:
            if path.startswith(prefix):
                rest = path[len(prefix) :]
                if rest and "/" not in rest:
                    return f"get_{kind}", kind, rest
        return None, "", None

    def _authenticate(self, headers: Mapping[str, str]) -> Reply | None:
        api_key = headers.get("api-key")
        auth = headers.get("authorization")
        if api_key is None and auth is None:
            return _json(401, {"detail": "Missing API key: send Api-Key or Authorization: Bearer"})
        token = None
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            token = token.strip() if scheme.lower() == "bearer" else None
        if api_key == self.cfg.key or token == self.cfg.key:
            return None
        return _json(401, {"detail": "Invalid API key"})

    def _decide(self, target: str) -> Decision:
        if not self.plan.active:
            return NO_FAULT
        with self._lock:
            attempt = self._attempts.get(target, 0)
            if len(self._attempts) >= _ATTEMPT_CAP:
                self._attempts.clear()
            self._attempts[target] = attempt + 1
        decision = decide(self.plan, self.cfg.seed, target, attempt, self.http_date)
        with self._lock:
            if decision.error is not None:
                self._faults[decision.error] += 1
            if decision.slow:
                self._faults["slow"] += 1
        return decision

    def _error_reply(self, decision: Decision) -> Reply | None:
        if decision.error == "429":
            assert decision.retry_after is not None
            return _json(429, {"detail": "Rate limit exceeded"}, [("Retry-After", decision.retry_after)])
        if decision.error in ("500", "502", "503", "504"):
            status = int(decision.error)
            return _json(
                status, {"detail": {"code": f"HTTP_{status}", "message": "Upstream error", "details": None}}
            )
        return None

    def _delay(self, decision: Decision) -> float:
        return (self.cfg.latency_ms + (self.plan.slow_ms if decision.slow else 0)) / 1000

    def _list(self, kind: str, target: str, params: dict[str, str]) -> Reply:
        q = parse_query(kind, params)
        if isinstance(q, list):
            return _json(422, {"detail": q})
        cursors = []
        for name, value in (("after", q.after), ("before", q.before)):
            pos = None if value is None else self.ds.position(kind, value)
            if value is not None and pos is None:
                item = {"type": "value_error", "loc": ["query", name], "msg": "Value error, unknown cursor"}
                return _json(422, {"detail": [{**item, "input": value, "ctx": {"error": {}}}]})
            cursors.append(pos)
        decision = self._decide(target)
        error = self._error_reply(decision)
        if error is not None:
            error.delay = self._delay(decision)
            return error
        if decision.head_insert:
            self.clock.advance(self.plan.head_insert_seconds)
            with self._lock:
                self._faults["head_insert"] += 1
        now = self.clock.now_ms()
        page = list_page(self.ds, q, now, cursors[0], cursors[1])
        entries = self.ds.entries(kind, page.positions, now)
        before = entries[0][0] if page.has_before else None
        after = entries[-1][0] if page.has_after else None
        if after is None and entries and decision.stale_after:
            after = entries[-1][0]
            with self._lock:
                self._faults["stale_after"] += 1
        meta = orjson.dumps({"before": before, "after": after})
        records = self._records_json([e[1] for e in entries], q, decision)
        body = b'{"data":[' + records + b'],"list_metadata":' + meta + b"}"
        with self._lock:
            self._records += len(entries)
        reply = Reply(200, body, fault=decision.error, cut=decision.cut, delay=self._delay(decision))
        if page.has_after:
            last = page.positions[-1]
            reply.after_send = lambda: self._read_ahead(q, last)
        return reply

    def _read_ahead(self, q: Query, last: Position) -> None:
        """Render the page after `last` while the client reads this one (a walk's next request)."""
        now = self.clock.now_ms()
        self.ds.entries(q.kind, Scanner(self.ds, q, now).forward(last, q.limit), now)

    def _records_json(self, bodies: list[bytes], q: Query | None, decision: Decision) -> bytes:
        fields = q.fields if q is not None else None
        plan = self.plan
        if fields is None and not (plan.rate_unknown_fields or plan.rate_missing_fields):
            return b",".join(bodies)
        records = [orjson.loads(b) for b in bodies]
        if fields is not None:
            records = [project(r, fields) for r in records]
        unknown, missing = perturb(records, plan, decision.record_seed)
        with self._lock:
            if unknown:
                self._faults["unknown_fields"] += unknown
            if missing:
                self._faults["missing_fields"] += missing
        return b",".join(orjson.dumps(r) for r in records)

    def _get(self, kind: str, target: str, run_id: str) -> Reply:
        decision = self._decide(target)
        error = self._error_reply(decision)
        if error is not None:
            error.delay = self._delay(decision)
            return error
        now = self.clock.now_ms()
        pos = self.ds.position(kind, run_id)
        if pos is None or not self.ds.exists(kind, pos, now):
            what = "Workflow run" if kind == RUNS else "Experiment run"
            return _json(404, {"detail": f"{what} {run_id} not found"})
        ((_, body),) = self.ds.entries(kind, [pos], now)
        body = self._records_json([body], None, decision)
        with self._lock:
            self._records += 1
        return Reply(200, body, fault=decision.error, cut=decision.cut, delay=self._delay(decision))

    def _count(self, route: str, reply: Reply) -> Reply:
        with self._lock:
            self._by_status[str(reply.status)] += 1
            self._by_route[route] += 1
        return reply

    # -- admin HTTP --

    def _admin(self, method: str, path: str, qs: str, body: bytes) -> Reply:
        params = dict(parse_qsl(qs, keep_blank_values=True))
        try:
            if path == "/_sim/counters" and method == "GET":
                return _json(200, self.counters())
            if path == "/_sim/now" and method == "GET":
                return _json(200, {"now": iso_utc(self.clock.now_ms())})
            if path == "/_sim/config" and method == "GET":
                return _json(200, self.cfg.to_json())
            if path in ("/_sim/truth", "/_sim/truth-ids") and method == "GET":
                endpoint, day = params.get("endpoint", ""), date.fromisoformat(params.get("day", ""))
                if path == "/_sim/truth":
                    return _json(200, self.truth(endpoint, day))
                at = datetime.fromisoformat(params["at"]) if params.get("at") else None
                return _json(200, self.truth_ids(endpoint, day, at))
            if path == "/_sim/advance" and method == "POST":
                payload = orjson.loads(body or b"{}")
                seconds = float(payload.get("minutes", 0)) * 60 + float(payload.get("seconds", 0))
                self.advance(seconds)
                return _json(200, {"now": iso_utc(self.clock.now_ms())})
            if path == "/_sim/quota" and method == "POST":
                payload = orjson.loads(body or b"{}")
                self.set_quota(float(payload["rps"]))
                return _json(200, {"rps": float(payload["rps"])})
            if path == "/_sim/delete" and method == "POST":
                payload = orjson.loads(body or b"{}")
                if not self.delete(str(payload.get("endpoint", "")), str(payload.get("id", ""))):
                    return _json(404, {"detail": "No such run"})
                return _json(200, {"deleted": payload.get("id")})
        except (ValueError, TypeError, AttributeError, KeyError, orjson.JSONDecodeError) as exc:
            return _json(400, {"detail": str(exc)})
        return _json(404, {"detail": "Not Found"})


def _endpoint(name: str) -> str:
    if name not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {ENDPOINTS}, got {name!r}")
    return name
