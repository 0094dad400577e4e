"""The public keys over HTTP: `GET /.well-known/jwks.json` on the identity service's HTTP port.

One static, public document: the standard library's asyncio server answers it, with no web
framework to keep up to date. Requests are bounded (one line and a few headers, read with a
timeout) and every connection is closed after its answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

PATH = "/.well-known/jwks.json"
READ_TIMEOUT_S = 5.0
MAX_HEADERS = 64
MAX_LINE = 8192


class JwksHttp:
    def __init__(self, jwks: Callable[[], dict[str, Any]]) -> None:
        self._jwks = jwks
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._answer, host, port, limit=MAX_LINE)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("JWKS served at http://%s:%d%s", host, self.port, PATH)
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                status, body, kind, head_only = await self._route(reader)
        except (TimeoutError, ValueError, asyncio.LimitOverrunError, ConnectionError):
            status, body, kind = "400 Bad Request", b"bad request\n", "text/plain"
            head_only = False
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
            "Cache-Control: public, max-age=60\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + (b"" if head_only else body))
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async def _route(self, reader: asyncio.StreamReader) -> tuple[str, bytes, str, bool]:
        """Status, body, content type, and whether only the head is sent (HEAD)."""
        request = (await reader.readline()).decode("latin-1").split()
        for _ in range(MAX_HEADERS):
            if (await reader.readline()) in (b"\r\n", b"\n", b""):
                break
        else:
            raise ValueError("too many headers")
        if len(request) != 3 or not request[2].startswith("HTTP/"):
            raise ValueError("not an HTTP request")
        method, target = request[0], request[1].split("?", 1)[0]
        if target != PATH:
            return "404 Not Found", b"not found\n", "text/plain", False
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", b"GET only\n", "text/plain", False
        body = json.dumps(self._jwks()).encode()
        return "200 OK", body, "application/jwk-set+json", method == "HEAD"
