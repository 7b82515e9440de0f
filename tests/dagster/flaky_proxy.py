"""A loopback proxy in front of the simulator that answers 404 for chosen days and logs what it forwards."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests


@dataclass
class FlakyProxy:
    """Forwards GETs to `upstream`; `fail_days` (YYYY-MM-DD) get a 404, as a wrong URL would."""

    upstream: str
    base_url: str = ""
    fail_days: set[str] = field(default_factory=set)
    days_requested: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def serve(upstream: str) -> Iterator[FlakyProxy]:
    proxy = FlakyProxy(upstream.rstrip("/"))
    session = requests.Session()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no delayed-ACK stalls

        def do_GET(self) -> None:
            day = parse_qs(urlsplit(self.path).query).get("from_date", [""])[0][:10]
            with proxy.lock:
                proxy.days_requested.append(day)
                failing = day in proxy.fail_days
            if failing:
                self._send(404, b'{"detail": "Not Found"}', "application/json")
                return
            upstream = session.get(
                proxy.upstream + self.path, headers={k: v for k, v in self.headers.items() if k != "Host"}
            )
            self._send(upstream.status_code, upstream.content, upstream.headers.get("Content-Type", ""))

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    proxy.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        session.close()
