"""A service process's entry: logging, the safety checks, run until SIGTERM; and `redacted`,
a URL fit for logs and screens."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from services.common.settings import Settings

log = logging.getLogger(__name__)


class Runnable(Protocol):
    """What the entry runs: a ServiceRuntime."""

    @property
    def settings(self) -> Settings: ...
    async def start(self) -> int: ...
    async def stop(self, grace: float | None = None) -> None: ...


def redacted(url: str) -> str:
    """The URL without its password, for logs and screens."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{parts.hostname}:{parts.port}"))


async def run_until_signal(runtime: Runnable) -> None:
    """Start the runtime and stop it gracefully on SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start()
    await stop.wait()
    log.info("signal received: stopping within %.0fs", runtime.settings.shutdown_grace_s)
    await runtime.stop()


def serve(settings: Settings, build: Callable[[], Runnable]) -> None:
    """A service's `__main__`: logging, the safety checks, then run until SIGTERM."""
    from services.common.logs import Format, setup_logging

    fmt: Format = settings.log_format or ("console" if settings.dev_mode else "json")
    setup_logging(settings.log_level, service=settings.service_name, fmt=fmt)
    settings.refuse_unsafe()
    if not settings.database_url or not settings.nats_url:
        raise SystemExit("set LINLI_DATABASE_URL and LINLI_NATS_URL (make up does it for you)")
    asyncio.run(run_until_signal(build()))
