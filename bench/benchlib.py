"""What the benchmarks share: their options, servers of their own, services as separate processes,
timing."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from dev.localinfra import NatsServer, PostgresServer, free_port
from services.common.runtime import health_check

ROOT = Path(__file__).resolve().parent.parent


def options(
    doc: str | None, calls: int, calls_help: str, repeat: bool = True
) -> argparse.ArgumentParser:
    """The options of a benchmark of a running service: how many calls make a figure, and how many
    runs the median is taken of."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    if repeat:
        parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--calls", type=int, default=calls, help=calls_help)
    return parser


@contextmanager
def servers() -> Iterator[tuple[str, str]]:
    """(database url, nats url) for this run only: a fresh database, and local servers unless
    LINLI_DATABASE_URL / LINLI_NATS_URL name others."""
    state = ROOT / ".linli" / f"bench-{os.getpid()}"
    started: list[PostgresServer | NatsServer] = []
    try:
        db_url = os.environ.get("LINLI_DATABASE_URL")
        nats_url = os.environ.get("LINLI_NATS_URL")
        if not db_url:
            pg = PostgresServer.start(state / "pg")
            started.append(pg)
            db_url = pg.url
        if not nats_url:
            nats = NatsServer.start(state / "nats")
            started.append(nats)
            nats_url = nats.url
        name = f"linli_bench_{uuid.uuid4().hex[:8]}"

        async def create() -> None:
            conn = await asyncpg.connect(db_url)
            await conn.execute(f'CREATE DATABASE "{name}"')
            await conn.close()

        asyncio.run(create())
        yield urlunsplit(urlsplit(db_url)._replace(path=f"/{name}")), nats_url
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(state, ignore_errors=True)


@contextmanager
def service(module: str, name: str, db_url: str, nats_url: str, **env: str) -> Iterator[str]:
    """Run `python -m <module>` on a free port until the block ends; yield its address."""
    port = free_port()
    environ = {
        **os.environ,
        "LINLI_DATABASE_URL": db_url,
        "LINLI_NATS_URL": nats_url,
        f"LINLI_{name.upper()}_PORT": str(port),
        "LINLI_METRICS_PORT": "0",
        "LINLI_DEV_MODE": "true",
        "LINLI_LOG_LEVEL": "WARNING",
        **env,
    }
    proc = subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=environ)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not health_check(address, timeout=1):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start")
            time.sleep(0.2)
        yield address
    finally:
        proc.terminate()
        proc.wait(30)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def concurrent(
    call: Callable[[int], Awaitable[object]], calls: int, clients: int
) -> tuple[float, float, float]:
    """Make `calls` calls (call(i) for i in range) from `clients` concurrent clients.

    Returns (calls per second, p50 ms, p99 ms)."""
    latencies: list[float] = []
    queue = iter(range(calls))

    async def client() -> None:
        for i in queue:
            t = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return calls / elapsed, pct(latencies, 0.5) * 1e3, pct(latencies, 0.99) * 1e3


def median_of(runs: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    return (
        statistics.median(r[0] for r in runs),
        statistics.median(r[1] for r in runs),
        statistics.median(r[2] for r in runs),
    )
