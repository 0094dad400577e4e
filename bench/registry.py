"""Registry benchmark: bulk import of the district and unary registration under concurrency.

    make bench            (or: .venv/bin/python -m bench.registry --repeat 3)

Starts its own PostgreSQL and NATS (or uses LINLI_DATABASE_URL / LINLI_NATS_URL, in a database of
its own) and the registry as a separate process, as in production, then drives it over gRPC from
this process. Each figure is the median of --repeat runs. Client and server share this machine's
cores, so compare the rows of one run with each other rather than with another machine.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

from grpc import aio
from rich.console import Console
from rich.table import Table

from bench.benchlib import concurrent, median_of, options, servers, service
from dev import gen_district
from linli.v1 import registry_pb2
from linli.v1.registry_pb2_grpc import RegistryServiceStub
from services.cli.district import import_district, import_members, member_from_row
from services.common.auth import Principal, Role, issue_token
from services.common.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=None if sys.stdout.isatty() else 110)


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

        async def register(_: int) -> None:
            m = registry_pb2.Member()
            m.CopyFrom(template)
            m.phone = f"18{next(serial):09d}"
            await stub.RegisterMember(
                registry_pb2.RegisterMemberRequest(request_id=str(uuid.uuid4()), member=m),
                metadata=md,
            )

        results: list[tuple[int, float, float, float]] = []
        for clients in (1, 8, 64):
            runs = [await concurrent(register, calls, clients) for _ in range(repeat)]
            results.append((clients, *median_of(runs)))

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
    args = options(__doc__, calls=1000, calls_help="unary calls per run").parse_args(argv)
    with (
        servers() as (db_url, nats_url),
        service(
            "services.registry", "registry", db_url, nats_url, LINLI_DB_POOL_MAX="20"
        ) as address,
    ):
        asyncio.run(bench(address, args.repeat, args.calls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
