"""Audit log benchmark: what recording a reveal costs a read. The same GetMember answered to the
member themself (nothing recorded) and to a district administrator (one audit row), and a page
of 1,000 members (one INSERT of 1,000 rows), and the INSERT alone.

    .venv/bin/python -m bench.audit --repeat 3

Starts its own PostgreSQL and NATS (or uses LINLI_DATABASE_URL / LINLI_NATS_URL, in a database of
its own) and the registry as a separate process, then drives it over gRPC from this process.
Each figure is the median of --repeat runs; compare the rows of one run with each other.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time

import asyncpg
from grpc import aio
from rich.console import Console
from rich.table import Table

from bench.benchlib import concurrent, median_of, options, servers, service
from dev import gen_district
from linli.v1 import registry_pb2
from linli.v1.registry_pb2_grpc import RegistryServiceStub
from services.cli.district import import_district, import_members
from services.common import audit
from services.common.auth import Principal, Role, issue_token
from services.common.settings import Settings

console = Console(width=None if sys.stdout.isatty() else 110)


def bearer(principal: Principal) -> tuple[tuple[str, str], ...]:
    return (("authorization", "Bearer " + issue_token(Settings(), principal)),)


async def insert_alone(db_url: str, rows: int, repeat: int) -> tuple[float, float]:
    """p50 and worst ms of writing `rows` reveals, the database's part of a page's cost."""
    conn = await asyncpg.connect(db_url, server_settings={"search_path": "registry"})
    took = []
    try:
        for _ in range(max(repeat, 5)):
            call = audit.Call(Principal("bench", Role.DISTRICT_ADMIN), "/bench", "bench")
            call.reveals = [audit.Reveal(str(i), "", (audit.PHONE,)) for i in range(rows)]
            started = time.perf_counter()
            await audit.RevealWriter(conn).write(call)
            took.append((time.perf_counter() - started) * 1e3)
    finally:
        await conn.close()
    return statistics.median(took), max(took)


async def bench(address: str, db_url: str, repeat: int, calls: int) -> None:
    admin = bearer(Principal("bench", Role.DISTRICT_ADMIN))
    district = gen_district.generate(seed=2018)
    async with aio.insecure_channel(address) as channel:
        stub = RegistryServiceStub(channel)
        await import_district(stub, admin, gen_district.yaml_text(district))
        await import_members(stub, admin, district.members)
        community = district.members[0]["community_id"]
        page = await stub.ListMembers(
            registry_pb2.ListMembersRequest(community_id=community, page_size=1), metadata=admin
        )
        member_id = page.members[0].id
        own = bearer(Principal(member_id, Role.MEMBER))
        request = registry_pb2.GetMemberRequest(id=member_id)

        async def get_own(_: int) -> None:
            await stub.GetMember(request, metadata=own)

        async def get_admin(_: int) -> None:
            await stub.GetMember(request, metadata=admin)

        async def list_page(_: int) -> None:
            await stub.ListMembers(registry_pb2.ListMembersRequest(page_size=1000), metadata=admin)

        rows: list[tuple[str, int, float, float, float]] = []
        for label, call, n in (
            ("GetMember, the member themself (no row)", get_own, calls),
            ("GetMember, an administrator (1 row)", get_admin, calls),
            ("ListMembers, 1,000 members (1,000 rows)", list_page, max(calls // 20, 10)),
        ):
            for clients in (1, 16):
                runs = [await concurrent(call, n, clients) for _ in range(repeat)]
                rows.append((label, clients, *median_of(runs)))
    alone = {n: await insert_alone(db_url, n, repeat) for n in (1, 1000)}

    table = Table(title=f"Audit log (median of {repeat} runs, {os.cpu_count()} cores shared)")
    for col in ("workload", "clients", "throughput", "p50 ms", "p99 ms"):
        table.add_column(col, justify="left" if col == "workload" else "right")
    for label, clients, rate, p50, p99 in rows:
        table.add_row(label, str(clients), f"{rate:,.0f} calls/s", f"{p50:.1f}", f"{p99:.1f}")
    for n, (p50, worst) in alone.items():
        table.add_row(
            f"the INSERT alone, {n:,} rows (worst for p99)", "1", "-", f"{p50:.1f}", f"{worst:.1f}"
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    args = options(__doc__, calls=1000, calls_help="GetMember calls per run").parse_args(argv)
    with (
        servers() as (db_url, nats_url),
        service("services.registry", "registry", db_url, nats_url) as address,
    ):
        asyncio.run(bench(address, db_url, args.repeat, args.calls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
