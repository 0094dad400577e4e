"""The matching service end to end, at district scale: a run through the real services, and
suggestions answered from memory.

    make bench            (or: .venv/bin/python -m bench.matching_service)

Starts servers of its own and the three services as processes, loads the synthetic district
(4,628 members), posts ~1,500 tasks (~2,800 places) drawn like bench/matching_instances.py
through the task service, waits until the matching service has seen them, then: RunMatching for
the whole district (phase times as recorded by the run, and until every proposal is a held place
in the task service), and SuggestMembers / SuggestTasks latencies with 1 and 8 clients.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta

import asyncpg
from grpc import aio
from rich.console import Console
from rich.table import Table

from bench.benchlib import concurrent, options, servers, service
from bench.matching_instances import instance
from dev import gen_district
from linli.v1 import common_pb2, matching_pb2, tasks_pb2
from linli.v1.matching_pb2_grpc import MatchingServiceStub
from linli.v1.registry_pb2_grpc import RegistryServiceStub
from linli.v1.tasks_pb2_grpc import TaskServiceStub
from services.cli.district import import_district, import_members
from services.common.auth import Principal, Role, issue_token
from services.common.protoconv import BENEFICIARY_TO_PROTO, ts
from services.common.settings import Settings
from services.common.values import Beneficiary

console = Console(width=None if sys.stdout.isatty() else 110)


async def until_count(db: asyncpg.Connection, sql: str, want: int, timeout: float = 300) -> float:
    started = time.perf_counter()
    while await db.fetchval(sql) < want:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"timed out waiting for: {sql}")
        await asyncio.sleep(0.1)
    return time.perf_counter() - started


async def bench(addr: dict[str, str], db_url: str, calls: int) -> None:
    admin = (
        ("authorization", "Bearer " + issue_token(Settings(), Principal("bench", Role.SERVICE))),
    )
    district = gen_district.generate(seed=2018)
    now = datetime.now(UTC).replace(microsecond=0)
    inst = instance(now=now + timedelta(hours=1))
    tasks = [t for t in inst.tasks if not t.street_wide]
    db = await asyncpg.connect(db_url)
    chans = {k: aio.insecure_channel(v) for k, v in addr.items()}
    registry, task_api = RegistryServiceStub(chans["registry"]), TaskServiceStub(chans["tasks"])
    matching = MatchingServiceStub(chans["matching"])
    try:
        await import_district(registry, admin, gen_district.yaml_text(district))
        await import_members(registry, admin, district.members)

        async def post(i: int) -> None:
            t = tasks[i]
            window = (
                tasks_pb2.TimeWindow(end=ts(t.end), flexible=True)
                if t.flexible
                else tasks_pb2.TimeWindow(start=ts(t.start), end=ts(t.end))
            )
            await task_api.PostWish(
                tasks_pb2.PostWishRequest(
                    request_id=f"bench-{i}",
                    wish=tasks_pb2.Wish(
                        community_id=t.community_id,
                        title="合成任务",
                        beneficiary_group=BENEFICIARY_TO_PROTO[Beneficiary(t.beneficiary)],
                        location=common_pb2.LatLng(latitude=t.lat, longitude=t.lng),
                        skills=[
                            tasks_pb2.RequiredSkill(skill=s, min_level=lv) for s, lv in t.skills
                        ],
                        headcount=t.places,
                        window=window,
                        effort_hours=t.effort_hours,
                    ),
                ),
                metadata=admin,
            )

        started = time.perf_counter()
        await concurrent(post, len(tasks), 8)
        console.print(
            f"posted {len(tasks):,} tasks ({sum(t.places for t in tasks):,} places) "
            f"in {time.perf_counter() - started:.1f}s"
        )
        seen = await until_count(db, "SELECT count(*) FROM matching.task", len(tasks))
        await until_count(
            db, "SELECT count(*) FROM matching.member WHERE reported_in", len(district.members)
        )
        console.print(f"the matching service had every task {seen:.1f}s after the last post")

        started = time.perf_counter()
        run = (
            await matching.RunMatching(
                matching_pb2.RunMatchingRequest(time_limit_s=20), metadata=admin, timeout=300
            )
        ).run
        call_s = time.perf_counter() - started
        held_s = call_s + await until_count(
            db, "SELECT count(*) FROM tasks.assignment WHERE state = 'proposed'", run.places_filled
        )

        member_ids = [str(r["id"]) for r in await db.fetch("SELECT id FROM matching.member")]
        task_ids = [
            str(r["id"])
            for r in await db.fetch("SELECT id FROM matching.task WHERE status = 'open'")
        ]
        rng = random.Random(1)
        tokens = {
            m: (("authorization", "Bearer " + issue_token(Settings(), Principal(m, Role.MEMBER))),)
            for m in rng.sample(member_ids, 200)
        }
        sample = list(tokens)

        async def suggest_members(_: int) -> None:
            await matching.SuggestMembers(
                matching_pb2.SuggestMembersRequest(task_id=rng.choice(task_ids), limit=10),
                metadata=admin,
            )

        async def suggest_tasks(_: int) -> None:
            m = rng.choice(sample)
            await matching.SuggestTasks(
                matching_pb2.SuggestTasksRequest(limit=10), metadata=tokens[m]
            )

        latencies = [
            (name, clients, *await concurrent(fn, calls, clients))
            for name, fn in (("SuggestMembers", suggest_members), ("SuggestTasks", suggest_tasks))
            for clients in (1, 8)
        ]
    finally:
        for ch in chans.values():
            await ch.close()
        await db.close()

    table = Table(
        title="Matching service, district scale (2 cores shared by client, services and servers)",
        show_header=False,
    )
    table.add_row(
        "input",
        f"{run.members:,} members, {run.tasks:,} tasks, {run.places:,} places, "
        f"{run.candidate_pairs:,} pairs, {run.components} sub-problems",
    )
    table.add_row(
        "RunMatching (district)",
        f"{call_s:.2f}s for the call: load {run.load_s:.2f}s, candidates "
        f"{run.candidates_s:.2f}s, solve {run.solve_s:.2f}s, write {run.write_s:.2f}s",
    )
    table.add_row("every proposal a held place", f"{held_s:.2f}s after the call began")
    table.add_row(
        "plan",
        f"{run.places_filled:,}/{run.places:,} places, {run.solver_status}, "
        f"gap {run.gap * 100:.4f} % (first come first served: "
        f"{run.fcfs_places_filled:,} places, {run.fcfs_objective:,.0f} points "
        f"vs {run.objective:,.0f})",
    )
    for name, clients, rate, p50, p99 in latencies:
        table.add_row(
            f"{name}, {clients} client(s)",
            f"{rate:,.0f} calls/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms",
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = options(__doc__, calls=500, calls_help="suggestion calls per figure", repeat=False)
    args = parser.parse_args(argv)
    with (
        servers() as (db_url, nats_url),
        service("services.registry", "registry", db_url, nats_url) as registry,
        service("services.tasks", "tasks", db_url, nats_url, LINLI_DB_POOL_MAX="20") as tasks,
        service("services.matching", "matching", db_url, nats_url) as matching,
    ):
        asyncio.run(
            bench({"registry": registry, "tasks": tasks, "matching": matching}, db_url, args.calls)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
