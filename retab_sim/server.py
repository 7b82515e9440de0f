"""The simulator's HTTP server: threaded, on loopback, HTTP/1.1 keep-alive, TCP_NODELAY.

API (key required: `Api-Key: K` or `Authorization: Bearer K`), as ../shared/RETAB_API.md says:

    GET /v1/workflows/runs                      list workflow runs
    GET /v1/workflows/runs/{run_id}             one workflow run
    GET /v1/workflows/experiments/runs          list experiment runs
    GET /v1/workflows/experiments/runs/{id}     one experiment run

Decisions where the documentation is silent: `status=queued|failed` on workflow runs matches
nothing (records never carry those statuses); `sort_by` accepts `timing.created_at` and
`created_at` (both the creation order) and refuses the rest with a 422; `metadata` is a JSON
object of strings that a run's metadata must contain; `fields` keeps the listed keys (dotted
paths reach inside objects); `after` and `before` together bound a window; a cursor that is
not an id of that endpoint is a 422; the duration filters match finished runs only. Unknown
parameters are ignored, as FastAPI does. Unknown paths are 404 `{"detail": "Not Found"}`.

Admin (no key, never faulted, not counted, for tests and benchmarks):

    GET  /_sim/counters                              requests by status and route, faults by kind,
                                                     records served, the server's CPU seconds
    GET  /_sim/now                                   {"now": "<ISO UTC>"}
    GET  /_sim/config                                the configuration (without the key)
    GET  /_sim/truth?endpoint=runs&day=YYYY-MM-DD    that day's records as now visible, oldest first,
                                                     in served form without fault perturbations
    GET  /_sim/truth-ids?endpoint=...&day=...        {id: status} for the same records
    GET  /_sim/truth-ids?...&at=<ISO time>           the same, as at an earlier simulated time
    POST /_sim/advance   {"minutes": N} or {"seconds": N}    move the clock on; returns {"now": ...}
    POST /_sim/delete    {"endpoint": "runs", "id": "run_..."}  the run disappears (404 if unknown)

`endpoint` is `runs` or `experiment-runs`. Every response carries `x-request-id`. After a
list page goes out, the connection's thread renders the next page of the same walk while the
client reads (finished records are cached), so a sequential walk rarely waits on rendering.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
import traceback
from typing import Any

from retab_sim.app import Reply, Simulation

_REASONS = {
    200: "OK",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class _Handler(socketserver.StreamRequestHandler):
    """HTTP/1.1 with keep-alive, parsed by hand: http.server's header parsing costs more than a page."""

    server: SimHTTPServer
    rbufsize = 65536
    disable_nagle_algorithm = True  # TCP_NODELAY: no 40 ms delayed-ACK stall per response

    def setup(self) -> None:
        """Buffers big enough that a page leaves in one write, without waiting for the client."""
        super().setup()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)

    def handle(self) -> None:
        """Serve requests on this connection until the client or a fault closes it."""
        while self._handle_one():
            pass

    def _handle_one(self) -> bool:
        line = self.rfile.readline(65537)
        while line in (b"\r\n", b"\n"):
            line = self.rfile.readline(65537)
        if not line:
            return False
        received = time.monotonic()
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            self._write("GET", Reply(400, b'{"detail":"Bad Request"}'), keep_alive=False)
            return False
        method, target, version = parts
        headers: dict[str, str] = {}
        while True:
            raw = self.rfile.readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        try:
            reply = self.server.sim.handle(method, target, headers, body)
        except Exception:  # a simulator bug: say so loudly, answer like a server would
            traceback.print_exc()
            reply = Reply(500, b'{"detail":"simulator bug, see its stderr"}')
        if reply.delay > 0:
            # The latency is the response time: the work above counts towards it, and the read-ahead
            # is done while waiting rather than after the write, where it would delay the next request.
            self._run_after_send(reply)
            time.sleep(max(0.0, reply.delay - (time.monotonic() - received)))
        return self._write(method, reply, keep_alive)

    def _write(self, method: str, reply: Reply, keep_alive: bool) -> bool:
        body = b"" if method == "HEAD" else reply.body
        length = len(body)
        if reply.fault == "truncated" and length > 1:
            body = body[: max(1, int(length * reply.cut))]
            length = len(body)
        extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers)
        if not keep_alive:
            extra += "connection: close\r\n"
        head = (
            f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Error')}\r\n"
            f"content-type: application/json\r\ncontent-length: {length}\r\n"
            f"x-request-id: {self.server.sim.request_id()}\r\n"
            f"date: {self.server.sim.http_date()}\r\nserver: retab-sim\r\n"
            f"{extra}\r\n"
        ).encode("latin-1")
        if reply.fault == "disconnect":
            self.wfile.write(head + body[: int(length * reply.cut)])
            self.connection.shutdown(socket.SHUT_RDWR)
            return False
        self.wfile.write(head + body)
        self._run_after_send(reply)
        return keep_alive

    @staticmethod
    def _run_after_send(reply: Reply) -> None:
        """The reply's idle-time work (the next page's rendering), once."""
        work, reply.after_send = reply.after_send, None
        if work is not None:
            try:
                work()
            except Exception:
                traceback.print_exc()


class SimHTTPServer(socketserver.ThreadingTCPServer):
    """A thread per connection, bound to one Simulation; closes its keep-alive connections on stop."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, sim: Simulation, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sim = sim
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__((host, port), _Handler)

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT`, without `/v1`."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up are normal here; anything else is reported."""
        import sys

        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError | OSError):
            super().handle_error(request, client_address)

    def stop(self) -> None:
        """Stop accepting, then close every open connection so handler threads end."""
        self.shutdown()
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.server_close()
