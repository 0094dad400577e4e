"""What both provider servers share: a threaded HTTP server on a port of its own, the messages
received, and faults scripted for the next requests (a 5xx, a provider code, no answer in time)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

MAINLAND_MOBILE = 11


@dataclass(frozen=True)
class Received:
    """A message the server accepted: the number as sent, sign name, template id, parameters."""

    phone: str
    sign_name: str
    template_id: str
    params: dict[str, str] | list[str]


@dataclass(frozen=True)
class Fault:
    """What the server does to the next request instead of its normal answer: an HTTP status
    (503), a provider error code (answered in the provider's shape), or a pause longer than the
    client waits (`delay_s`)."""

    status: int = 0
    code: str = ""
    delay_s: float = 0.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


@dataclass
class ProviderServer:
    """Subclasses answer one request (`answer`); this serves them on 127.0.0.1 at a free port."""

    access_key_id: str
    access_key_secret: str
    sign_names: set[str] = field(default_factory=lambda: {"邻里"})
    # Approved template ids and how many parameters each takes.
    templates: dict[str, int] = field(default_factory=dict)
    # Messages to one number allowed per minute (None: no limit), as the providers' defaults.
    per_number_per_minute: int | None = None

    def __post_init__(self) -> None:
        self.received: list[Received] = []
        self.requests = 0
        self.faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._sent_at: dict[str, list[float]] = {}
        self._nonces: set[str] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- what a test scripts and reads --
    def fail_next(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def last_to(self, phone: str) -> Received | None:
        with self._lock:
            return next((m for m in reversed(self.received) if phone in m.phone), None)

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, port: int = 0) -> ProviderServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self._serve()

            def do_GET(self) -> None:
                self._serve()

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = Request(
                    self.command,
                    parts.path,
                    parts.query,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                answer = server.handle(request)
                data = json.dumps(answer.body, ensure_ascii=False).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json;charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up waiting: what a timeout test wants

            def log_message(self, format: str, *args: Any) -> None:
                return  # requests are counted, not printed

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what subclasses use --
    def handle(self, request: Request) -> Answer:
        with self._lock:
            self.requests += 1
            fault = self.faults.popleft() if self.faults else None
        if fault is not None and fault.delay_s:
            time.sleep(fault.delay_s)
        if fault is not None and fault.status:
            return Answer(fault.status, {"message": "scripted fault"})
        if fault is not None and fault.code:
            return self.error(fault.code, "scripted fault")
        return self.answer(request)

    def answer(self, request: Request) -> Answer:
        raise NotImplementedError

    def error(self, code: str, message: str, status: int = 200) -> Answer:
        raise NotImplementedError

    def fresh_nonce(self, nonce: str) -> bool:
        with self._lock:
            if nonce in self._nonces:
                return False
            self._nonces.add(nonce)
            return True

    def within_rate(self, phone: str) -> bool:
        if self.per_number_per_minute is None:
            return True
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._sent_at.get(phone, []) if now - t < 60]
            if len(recent) >= self.per_number_per_minute:
                return False
            self._sent_at[phone] = [*recent, now]
            return True

    def keep(self, message: Received) -> None:
        with self._lock:
            self.received.append(message)


def request_id() -> str:
    return str(uuid.uuid4()).upper()
