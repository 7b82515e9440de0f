"""A scripted fake of the Retab list API on loopback: queued replies first, then an honest listing."""

from __future__ import annotations

import json
import socket
import struct
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

Action = Literal["reply", "close", "reset", "truncate", "hang", "trickle"]


@dataclass
class Reply:
    """One scripted response; `action` other than "reply" misbehaves at the connection level."""

    status: int = 200
    body: Any = b""  # bytes as they are, anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)
    action: Action = "reply"

    def payload(self) -> bytes:
        """The body as bytes."""
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


@dataclass
class Seen:
    """A request the server received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


def make_records(day: date, count: int, prefix: str = "run") -> list[dict[str, Any]]:
    """`count` minimal records created on `day`, ids sortable in creation order."""
    return [
        {
            "id": f"{prefix}_{day:%Y%m%d}_{n:05d}",
            "timing": {"created_at": f"{day.isoformat()}T00:00:{n % 60:02d}Z"},
        }
        for n in range(count)
    ]


def listing(records: list[dict[str, Any]], after: str | None) -> dict[str, Any]:
    """A list envelope around `records`."""
    before = records[0].get("id") if records else None
    return {"data": records, "list_metadata": {"before": before, "after": after}}


class FakeRetab:
    """Serves both list endpoints from `records` (by day), unless a queued reply or `handler` speaks first."""

    def __init__(self) -> None:
        self.records: dict[str, dict[date, list[dict[str, Any]]]] = {}  # list path -> day -> records
        self.script: deque[Reply] = deque()
        self.handler: Callable[[Seen], Reply | None] | None = None
        self.requests: list[Seen] = []
        self.connections = 0  # TCP connections accepted
        self.release = threading.Event()  # ends "hang" replies
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port>"""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with `replies`, in order, whatever they ask."""
        with self._lock:
            self.script.extend(replies)

    def list_requests(self, path: str = "/v1/workflows/runs") -> list[Seen]:
        """The requests received for one list path."""
        with self._lock:
            return [seen for seen in self.requests if seen.path == path]

    def respond(self, seen: Seen) -> Reply:
        """Decide the reply to one request."""
        with self._lock:
            self.requests.append(seen)
            if self.script:
                return self.script.popleft()
        if self.handler is not None and (reply := self.handler(seen)) is not None:
            return reply
        return self.honest(seen)

    def honest(self, seen: Seen) -> Reply:
        """What a well-behaved server answers."""
        for path, by_day in self.records.items():
            if seen.path == path:
                return self._page(by_day, seen.query)
            if seen.path.startswith(path + "/"):
                run_id = seen.path[len(path) + 1 :]
                for records in by_day.values():
                    for record in records:
                        if record["id"] == run_id:
                            return Reply(body=record)
                return Reply(404, {"detail": "Run not found"})
        return Reply(404, {"detail": "Not Found"})

    def _page(self, by_day: dict[date, list[dict[str, Any]]], query: dict[str, str]) -> Reply:
        day = date.fromisoformat(query["from_date"])
        records = by_day.get(day, [])
        start = 0
        if "after" in query:
            start = next(n for n, record in enumerate(records) if record["id"] == query["after"]) + 1
        page = records[start : start + int(query.get("limit", "20"))]
        more = start + len(page) < len(records)
        return Reply(body=listing(page, page[-1]["id"] if page and more else None))

    def start(self) -> FakeRetab:
        """Start serving in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release hanging replies."""
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def serve() -> Iterator[FakeRetab]:
    """A started FakeRetab, stopped on exit."""
    server = FakeRetab().start()
    try:
        yield server
    finally:
        server.stop()


def _handler_class(server: FakeRetab) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real API

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with server._lock:
                server.connections += 1

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            seen = Seen(
                parts.path, dict(parse_qsl(parts.query)), {k.lower(): v for k, v in self.headers.items()}
            )
            reply = server.respond(seen)
            if reply.action == "close":
                self.close_connection = True
                return
            if reply.action == "reset":
                linger = struct.pack("ii", 1, 0)
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self.close_connection = True
                return
            if reply.action == "hang":
                server.release.wait(10)
                self.close_connection = True
                return
            body = reply.payload()
            self.send_response_only(reply.status)
            headers = {"Date": formatdate(usegmt=True), "Content-Type": "application/json", **reply.headers}
            headers["Content-Length"] = str(len(body))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if reply.action == "trickle":  # one byte every 20 ms: each read is quick, the whole is not
                for n in range(len(body)):
                    if server.release.wait(0.02):
                        break
                    self.wfile.write(body[n : n + 1])
                    self.wfile.flush()
                self.close_connection = True
                return
            if reply.action == "truncate":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


MARKER_KEY = "sk-marker-" + uuid.uuid4().hex  # unique, so any leak of it is unmistakable
