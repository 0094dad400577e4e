"""Task service benchmark: posting wishes, claiming places, and "near me" at district scale.

    make bench            (or: .venv/bin/python -m bench.tasks --repeat 3)

Starts its own servers (or uses LINLI_DATABASE_URL / LINLI_NATS_URL, in a database of its own),
runs the registry and the task service as separate processes, loads the synthetic district
(4,628 members) and waits until the task service's read model has every member. Then, for 1, 8
and 64 concurrent clients: PostWish as district staff, ClaimTask as members (each on a place of
their own community), and SearchNearbyTasks from members' homes over every task posted so far.
Figures are medians of --repeat runs; client and services share this machine's cores.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import asyncpg
from grpc import aio
from rich.console import Console
from rich.table import Table

from bench.benchlib import concurrent, median_of, options, servers, service
from dev import gen_district
from linli.v1 import common_pb2, tasks_pb2
from linli.v1.registry_pb2_grpc import RegistryServiceStub
from linli.v1.tasks_pb2_grpc import TaskServiceStub
from services.cli.district import import_district, import_members
from services.common.auth import Principal, Role, issue_token
from services.common.protoconv import BENEFICIARY_TO_PROTO, ts
from services.common.settings import Settings

console = Console(width=None if sys.stdout.isatty() else 110)
GROUPS = list(BENEFICIARY_TO_PROTO.values())


def wish(rng: random.Random, member: dict[str, object], flexible: bool) -> tasks_pb2.Wish:
    start = datetime.now(UTC) + timedelta(days=rng.uniform(1, 27), hours=rng.randint(0, 10))
    end = ts(start + timedelta(hours=2))
    w = (
        tasks_pb2.TimeWindow(end=end, flexible=True)
        if flexible
        else tasks_pb2.TimeWindow(start=ts(start), end=end)
    )
    return tasks_pb2.Wish(
        community_id=str(member["community_id"]),
        title="代购生活用品",
        beneficiary_group=rng.choice(GROUPS),  # type: ignore[arg-type]
        location=common_pb2.LatLng(
            latitude=float(str(member["lat"])) + rng.uniform(-0.002, 0.002),
            longitude=float(str(member["lng"])) + rng.uniform(-0.002, 0.002),
        ),
        address="（合成）",
        skills=[tasks_pb2.RequiredSkill(skill="errands", min_level=1)],
        headcount=1,
        window=w,
        effort_hours=1.0,
    )


async def wait_for_read_model(db_url: str, expected: int, timeout: float = 120) -> float:
    started = time.perf_counter()
    conn = await asyncpg.connect(db_url)
    try:
        while await conn.fetchval("SELECT count(*) FROM tasks.member WHERE reported_in") < expected:
            if time.perf_counter() - started > timeout:
                raise SystemExit("the task service's read model did not catch up")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    return time.perf_counter() - started


async def bench(registry_addr: str, tasks_addr: str, db_url: str, repeat: int, calls: int) -> None:
    settings = Settings()
    rng = random.Random(2018)
    admin = (
        ("authorization", "Bearer " + issue_token(settings, Principal("bench", Role.SERVICE))),
    )
    district = gen_district.generate(seed=2018)
    members: list[dict[str, object]] = [dict(m) for m in district.members]
    by_community: dict[str, list[dict[str, object]]] = defaultdict(list)
    for m in members:
        by_community[str(m["community_id"])].append(dict(m))
    member_ids: dict[str, str] = {}

    async with aio.insecure_channel(registry_addr) as rch, aio.insecure_channel(tasks_addr) as tch:
        registry, tasks = RegistryServiceStub(rch), TaskServiceStub(tch)
        await import_district(registry, admin, gen_district.yaml_text(district))
        await import_members(registry, admin, members)
        caught_up = await wait_for_read_model(db_url, len(members))
        console.print(
            f"district loaded; the task service's read model caught up in "
            f"{caught_up:.1f}s after the import"
        )
        conn = await asyncpg.connect(db_url)
        phone_to_id = {
            r["phone"]: str(r["id"])
            for r in await conn.fetch("SELECT id, phone FROM registry.member")
        }
        await conn.close()
        for m in members:
            member_ids[str(m["request_id"])] = phone_to_id[str(m["phone"])]
        tokens = {
            mid: (
                ("authorization", "Bearer " + issue_token(settings, Principal(mid, Role.MEMBER))),
            )
            for mid in member_ids.values()
        }

        rows: list[tuple[str, int, float, float, float]] = []

        async def post(_: int) -> None:
            await tasks.PostWish(
                tasks_pb2.PostWishRequest(
                    request_id=str(uuid.uuid4()), wish=wish(rng, rng.choice(members), False)
                ),
                metadata=admin,
            )

        for clients in (1, 8, 64):
            rows.append(
                (
                    "PostWish",
                    clients,
                    *median_of([await concurrent(post, calls, clients) for _ in range(repeat)]),
                )
            )

        for clients in (1, 8, 64):
            runs = []
            for _ in range(repeat):
                # One fresh place per claim, in the claiming member's own community.
                pairs = []
                for _ in range(calls):
                    m = rng.choice(members)
                    reply = await tasks.PostWish(
                        tasks_pb2.PostWishRequest(
                            request_id=str(uuid.uuid4()), wish=wish(rng, m, True)
                        ),
                        metadata=admin,
                    )
                    pairs.append((reply.task.id, member_ids[str(m["request_id"])]))

                async def claim(i: int, pairs: list[tuple[str, str]] = pairs) -> None:
                    task_id, member_id = pairs[i]
                    await tasks.ClaimTask(
                        tasks_pb2.ClaimTaskRequest(task_id=task_id), metadata=tokens[member_id]
                    )

                runs.append(await concurrent(claim, calls, clients))
            rows.append(("ClaimTask", clients, *median_of(runs)))

        conn = await asyncpg.connect(db_url)
        open_tasks = await conn.fetchval("SELECT count(*) FROM tasks.task WHERE status = 'open'")
        await conn.close()

        async def near(_: int) -> None:
            m = rng.choice(members)
            await tasks.SearchNearbyTasks(
                tasks_pb2.SearchNearbyTasksRequest(
                    near=common_pb2.LatLng(
                        latitude=float(str(m["lat"])), longitude=float(str(m["lng"]))
                    ),
                    radius_m=3000,
                    limit=20,
                ),
                metadata=tokens[member_ids[str(m["request_id"])]],
            )

        for clients in (1, 8, 64):
            rows.append(
                (
                    f"SearchNearbyTasks ({open_tasks:,} open tasks)",
                    clients,
                    *median_of([await concurrent(near, calls, clients) for _ in range(repeat)]),
                )
            )

    table = Table(
        title=f"Task service (median of {repeat} runs of {calls} calls; "
        f"{os.cpu_count()} cores shared by client and services)"
    )
    for col in ("call", "clients", "calls/s", "p50 ms", "p99 ms"):
        table.add_column(col, justify="left" if col == "call" else "right")
    for name, clients, rate, p50, p99 in rows:
        table.add_row(name, str(clients), f"{rate:,.0f}", f"{p50:.1f}", f"{p99:.1f}")
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    args = options(__doc__, calls=300, calls_help="calls per run").parse_args(argv)
    with (
        servers() as (db_url, nats_url),
        service("services.registry", "registry", db_url, nats_url) as registry_addr,
        service("services.tasks", "tasks", db_url, nats_url, LINLI_DB_POOL_MAX="20") as tasks_addr,
    ):
        asyncio.run(bench(registry_addr, tasks_addr, db_url, args.repeat, args.calls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
