"""Registry benchmark: bulk import of the district and unary registration under concurrency.

    make bench            (or: .venv/bin/python -m scripts.bench_registry --repeat 3)

Starts its own PostgreSQL and NATS (or uses LINLI_DATABASE_URL / LINLI_NATS_URL, in a database of
its own) and the registry as a separate process, as in production, then drives it over gRPC from
this process. Each figure is the median of --repeat runs. Client and server share this machine's
cores, so compare the rows of one run with each other rather than with another machine.
"""

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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from grpc import aio
from rich.console import Console
from rich.table import Table

from linli.v1 import registry_pb2
from linli.v1.registry_pb2_grpc import RegistryServiceStub
from scripts import gen_district
from services.cli.district import import_district, import_members, member_from_row
from services.common.auth import Principal, Role, issue_token
from services.common.localinfra import NatsServer, PostgresServer, free_port
from services.common.runtime import health_check
from services.common.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=None if sys.stdout.isatty() else 110)


@contextmanager
def servers() -> Iterator[tuple[str, str]]:
    """(database url, nats url) of servers for this run only."""
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
        yield db_url.rsplit("/", 1)[0] + f"/{name}", nats_url
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(state, ignore_errors=True)


@contextmanager
def registry_process(db_url: str, nats_url: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "LINLI_DATABASE_URL": db_url,
        "LINLI_NATS_URL": nats_url,
        "LINLI_REGISTRY_PORT": str(port),
        "LINLI_LOG_LEVEL": "WARNING",
        "LINLI_DB_POOL_MAX": "20",
    }
    proc = subprocess.Popen([sys.executable, "-m", "services.registry"], cwd=ROOT, env=env)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not health_check(address, timeout=1):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the registry did not start")
            time.sleep(0.2)
        yield address
    finally:
        proc.terminate()
        proc.wait(30)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def unary_run(
    stub: RegistryServiceStub,
    md: tuple[tuple[str, str], ...],
    template: registry_pb2.Member,
    serial: Iterator[int],
    *,
    calls: int,
    concurrency: int,
) -> tuple[float, float, float]:
    """`calls` registrations by `concurrency` clients: (calls/s, p50 ms, p99 ms)."""
    latencies: list[float] = []
    queue = iter(range(calls))

    async def client() -> None:
        for _ in queue:
            m = registry_pb2.Member()
            m.CopyFrom(template)
            m.phone = f"18{next(serial):09d}"
            req = registry_pb2.RegisterMemberRequest(request_id=str(uuid.uuid4()), member=m)
            t = time.perf_counter()
            await stub.RegisterMember(req, metadata=md)
            latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return calls / elapsed, pct(latencies, 0.5) * 1e3, pct(latencies, 0.99) * 1e3


async def bench(address: str, repeat: int, calls: int) -> None:
    settings = Settings()
    md = (("authorization", "Bearer " + issue_token(settings, Principal("bench", Role.SERVICE))),)
    district = gen_district.generate(seed=2018)
    async with aio.insecure_channel(address) as channel:
        stub = RegistryServiceStub(channel)
        await import_district(stub, md, gen_district.yaml_text(district))

        bulk: list[float] = []
        for run in range(repeat):
            rows = [
                {
                    **r,
                    "request_id": f"{r['request_id']}-bulk{run}",
                    "phone": f"17{run + 1}{r['phone'][3:]}",
                }
                for r in district.members
            ]
            started = time.perf_counter()
            report = await import_members(stub, md, rows)
            bulk.append(len(rows) / (time.perf_counter() - started))
            assert report.registered == len(rows), report.errors[:3]

        template = member_from_row(district.members[0]).member
        serial = iter(range(10**8))
        results: list[tuple[int, float, float, float]] = []
        for concurrency in (1, 8, 64):
            runs = [
                await unary_run(stub, md, template, serial, calls=calls, concurrency=concurrency)
                for _ in range(repeat)
            ]
            results.append(
                (concurrency, *(statistics.median(r[i] for r in runs) for i in range(3)))
            )

    table = Table(
        title=f"Registry (median of {repeat} runs, {os.cpu_count()} cores shared "
        "by client and server)"
    )
    for col in ("workload", "clients", "throughput", "p50 ms", "p99 ms"):
        table.add_column(col, justify="left" if col == "workload" else "right")
    table.add_row(
        "bulk import, 4,628 members (ImportMembers stream)",
        "1",
        f"{statistics.median(bulk):,.0f} members/s",
        "-",
        "-",
    )
    for concurrency, rate, p50, p99 in results:
        table.add_row(
            "RegisterMember (unary)",
            str(concurrency),
            f"{rate:,.0f} calls/s",
            f"{p50:.1f}",
            f"{p99:.1f}",
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--calls", type=int, default=1000, help="unary calls per run")
    args = parser.parse_args(argv)
    with servers() as (db_url, nats_url), registry_process(db_url, nats_url) as address:
        asyncio.run(bench(address, args.repeat, args.calls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
