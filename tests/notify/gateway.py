"""A real SMS gateway for the tests: an HTTP server on 127.0.0.1 that records every POST
(path, headers, body) and answers what the test scripted (200 ``{"Code": "OK"}`` unless
told otherwise)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


@dataclass(frozen=True)
class Arrival:
    """One POST the gateway received."""

    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        parsed = json.loads(self.raw)
        assert isinstance(parsed, dict)
        return parsed

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Gateway:
    url: str
    arrivals: list[Arrival] = field(default_factory=list)
    #: what the next POSTs are answered (status, body, extra headers); then 200 OK
    answers: list[tuple[int, bytes, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, status: int, body: Any = None, **headers: str) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body else b""
        with self.lock:
            self.answers.append((status, raw, headers))

    def next_answer(self) -> tuple[int, bytes, dict[str, str]]:
        with self.lock:
            if self.answers:
                return self.answers.pop(0)
        return 200, json.dumps({"Code": "OK", "BizId": "biz-1"}).encode(), {}


@contextmanager
def running_gateway() -> Iterator[Gateway]:
    """A gateway on a free port of 127.0.0.1, answering before this yields."""
    gateway: Gateway | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the readiness probe
            self._reply(200, b"ready", {})

        def do_POST(self) -> None:  # noqa: N802
            assert gateway is not None
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            with gateway.lock:
                gateway.arrivals.append(Arrival(self.path, headers, raw))
            self._reply(*gateway.next_answer())

        def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        gateway = Gateway(f"http://127.0.0.1:{server.server_address[1]}/sms/send")
        assert httpx.get(gateway.url, timeout=10).status_code == 200  # it answers
        yield gateway
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
