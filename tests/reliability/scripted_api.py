"""A scripted stand-in for the Retab list API on loopback, for faults the simulator cannot produce.

`ScriptedApi` serves both list endpoints from `records[path][day]` with honest `after` cursors;
`answer(path, query)` may intercept any request and return raw bytes (an HTML page, a non-UTF-8
body, a page whose cursor never ends, ...). Every request is recorded in `requests`.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

RUNS_PATH = "/v1/workflows/runs"
EXPERIMENT_RUNS_PATH = "/v1/workflows/experiments/runs"


@dataclass
class Answer:
    """A raw response: status, body bytes, headers."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> Answer:
        """A JSON response."""
        return cls(status, orjson.dumps(payload))


@dataclass
class Request:
    """What the server received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


def run_record(run_id: str, day: date, **overrides: Any) -> dict[str, Any]:
    """A valid SDK-form workflow run created at noon UTC on `day`."""
    stamp = f"{day.isoformat()}T12:00:00Z"
    record: dict[str, Any] = {
        "id": run_id,
        "workflow_id": "wf_scripted",
        "workflow_version_id": "ver_scripted",
        "trigger": {"type": "api"},
        "lifecycle": {"status": "completed"},
        "timing": {"created_at": stamp, "started_at": stamp, "completed_at": stamp},
        "inputs": None,
        "metadata": None,
    }
    record.update(overrides)
    return record


def experiment_record(run_id: str, day: date, **overrides: Any) -> dict[str, Any]:
    """A valid SDK-form experiment run created at noon UTC on `day`."""
    stamp = f"{day.isoformat()}T12:00:00Z"
    record: dict[str, Any] = {
        "id": run_id,
        "workflow_id": "wf_scripted",
        "workflow_version_id": "ver_scripted",
        "experiment_id": "exp_scripted",
        "block_id": "extract-1",
        "block_type": "extract",
        "n_consensus": 3,
        "trigger": {"type": "api"},
        "lifecycle": {"status": "completed"},
        "timing": {"created_at": stamp, "started_at": stamp, "completed_at": stamp, "duration_ms": 0},
        "score": 0.5,
    }
    record.update(overrides)
    return record


class ScriptedApi:
    """Serves `records` honestly unless `answer` returns an Answer for the request."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.records: dict[str, dict[date, list[dict[str, Any]]]] = {RUNS_PATH: {}, EXPERIMENT_RUNS_PATH: {}}
        self.answer: Callable[[Request], Answer | None] | None = None
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port>"""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def respond(self, request: Request) -> Answer:
        """The answer to one request: the script's, else an honest listing (key checked)."""
        with self._lock:
            self.requests.append(request)
        if self.answer is not None and (scripted := self.answer(request)) is not None:
            return scripted
        if request.headers.get("authorization") != f"Bearer {self.key}":
            return Answer.json({"detail": "Invalid API key"}, 401)
        by_day = self.records.get(request.path)
        if by_day is None:
            return Answer.json({"detail": "Not Found"}, 404)
        return Answer.json(listing_page(by_day, request.query))

    def __enter__(self) -> ScriptedApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def listing_page(by_day: dict[date, list[dict[str, Any]]], query: dict[str, str]) -> dict[str, Any]:
    """One page of an honest ascending listing of a day, with its `after` cursor."""
    records = by_day.get(date.fromisoformat(query["from_date"]), [])
    start = 0
    if "after" in query:
        ids = [r.get("id") for r in records]
        start = ids.index(query["after"]) + 1
    page = records[start : start + int(query.get("limit", "20"))]
    more = start + len(page) < len(records)
    after = page[-1].get("id") if page and more else None
    return {"data": page, "list_metadata": {"before": page[0].get("id") if page else None, "after": after}}


@contextmanager
def scripted_api(key: str) -> Iterator[ScriptedApi]:
    """A started ScriptedApi, stopped on exit."""
    with ScriptedApi(key) as api:
        yield api


def _handler(api: ScriptedApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            request = Request(
                parts.path, dict(parse_qsl(parts.query)), {k.lower(): v for k, v in self.headers.items()}
            )
            answer = api.respond(request)
            self.send_response_only(answer.status)
            for name, value in {**answer.headers, "Content-Length": str(len(answer.body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)

    return Handler
