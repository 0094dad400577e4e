"""The matching service over real gRPC, PostgreSQL and NATS, fed by the registry and the task
service: runs that propose, one run per scope, re-offers, suggestions, who may do what."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from grpc import aio

from linli.v1 import matching_pb2, tasks_pb2
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from tests.integration.conftest import code
from tests.integration.tasks_support import (
    Neighbourhood,
    matched_neighbourhood,
    post,
    until,
    wish,
)

pytestmark = pytest.mark.integration
LOCAL = ZoneInfo("Asia/Shanghai")


def next_saturday_morning() -> datetime:
    """09:00 local next Saturday: the members of tests.support are free 08:00-12:00 then."""
    today = datetime.now(LOCAL).date()
    days = (6 - today.isoweekday()) % 7 or 7
    day = today + timedelta(days=days)
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=LOCAL).astimezone(UTC)


@pytest.fixture
async def hood(
    stub,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,  # type: ignore[no-untyped-def]
    settings: RegistrySettings,
) -> Neighbourhood:
    return await matched_neighbourhood(
        stub, tasks_rt, matching_rt, settings, members=6, outsiders=1
    )


async def posted_and_seen(
    task_stub,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
    n: int,
    **kw: object,
) -> list[tasks_pb2.Task]:
    start = next_saturday_morning()
    tasks = [
        await post(
            task_stub,
            hood.staff,
            wish(hood.home, start=start + timedelta(minutes=30 * i), skills=(), **kw),
        )  # type: ignore[arg-type]
        for i in range(n)
    ]
    world = matching_rt.matching.world  # type: ignore[attr-defined]

    async def seen() -> bool:
        return all(t.id in world.tasks for t in tasks)

    await until(seen)
    return tasks


async def assignments(task_stub, hood: Neighbourhood, task_id: str) -> list[tasks_pb2.Assignment]:  # type: ignore[no-untyped-def]
    reply = await task_stub.ListAssignments(
        tasks_pb2.ListAssignmentsRequest(task_id=task_id), metadata=hood.staff
    )
    return list(reply.assignments)


async def test_a_run_plans_proposes_and_is_recorded_with_its_figures(
    task_stub,
    match_stub,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    tasks = await posted_and_seen(task_stub, matching_rt, hood, 3)

    reply = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home, time_limit_s=5), metadata=hood.staff
    )

    run = reply.run
    assert run.state == matching_pb2.MATCH_RUN_STATE_SUCCEEDED
    assert run.scope_kind == "community" and run.scope_id == hood.home
    assert run.tasks >= 3 and run.places_filled >= 3 and run.members >= 6
    assert run.solver_status in ("OPTIMAL", "WITHIN_GAP") and run.gap <= 0.0001
    assert run.bound >= run.objective > 0 and run.fcfs_objective <= run.objective
    assert run.solve_s >= 0 and run.candidate_pairs >= 3
    planned = await match_stub.ListMatchAssignments(
        matching_pb2.ListMatchAssignmentsRequest(run_id=run.id), metadata=hood.staff
    )
    mine = {a.task_id: a for a in planned.assignments if a.task_id in {t.id for t in tasks}}
    assert set(mine) == {t.id for t in tasks}
    assert all("m from home" in a.explanation for a in mine.values())

    # The task service turned each into a proposal that holds the place.
    async def proposed() -> bool:
        got = [await assignments(task_stub, hood, t.id) for t in tasks]
        return all(len(a) == 1 and a[0].state == tasks_pb2.ASSIGNMENT_STATE_PROPOSED for a in got)

    await until(proposed)
    fetched = await match_stub.GetMatchRun(
        matching_pb2.GetMatchRunRequest(id=run.id), metadata=hood.admin
    )
    assert fetched.run.id == run.id and fetched.run.write_s > 0


async def test_a_dry_run_proposes_nobody(
    task_stub,
    match_stub,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    (task,) = await posted_and_seen(task_stub, matching_rt, hood, 1)

    reply = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home, dry_run=True), metadata=hood.staff
    )

    assert reply.run.dry_run and reply.run.places_filled >= 1
    await asyncio.sleep(1.0)
    assert await assignments(task_stub, hood, task.id) == []


async def test_only_one_run_per_scope_at_a_time(
    match_stub,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    from services.matching.domain.scope import Scope

    store = matching_rt.matching.store  # type: ignore[attr-defined]
    # A run of the community's street in progress elsewhere (another replica).
    running, _ = await store.start_run(
        Scope("street", hood.street), hood.street, True, "auto", "elsewhere"
    )
    assert running is not None
    try:
        with pytest.raises(aio.AioRpcError) as err:
            await match_stub.RunMatching(
                matching_pb2.RunMatchingRequest(community_id=hood.home, dry_run=True),
                metadata=hood.staff,
            )
    finally:
        await store.fail_run(running, "test")
    assert code(err.value) == grpc.StatusCode.ABORTED
    assert "in progress" in (err.value.details() or "") and running in (err.value.details() or "")


async def test_a_declined_place_is_offered_to_the_next_best_member_at_once(
    task_stub,
    match_stub,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    (task,) = await posted_and_seen(task_stub, matching_rt, hood, 1)
    await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home), metadata=hood.staff
    )

    async def proposed_to() -> list[tasks_pb2.Assignment]:
        return [
            a
            for a in await assignments(task_stub, hood, task.id)
            if a.state == tasks_pb2.ASSIGNMENT_STATE_PROPOSED
        ]

    async def one_proposal() -> bool:
        return len(await proposed_to()) == 1

    await until(one_proposal)
    (first,) = await proposed_to()
    await task_stub.DeclineProposal(
        tasks_pb2.DeclineProposalRequest(assignment_id=first.id, reason="出差"),
        metadata=hood.as_member(first.member_id),
    )

    async def reoffered() -> bool:
        now = await proposed_to()
        return len(now) == 1 and now[0].member_id != first.member_id

    started = asyncio.get_running_loop().time()
    await until(reoffered, timeout=10)
    assert asyncio.get_running_loop().time() - started < 5  # within seconds, no new run
    (second,) = await proposed_to()
    assert second.match_run_id == first.match_run_id


async def test_suggestions_for_staff_and_for_members(
    task_stub,
    match_stub,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    (task,) = await posted_and_seen(task_stub, matching_rt, hood, 1)

    members = await match_stub.SuggestMembers(
        matching_pb2.SuggestMembersRequest(task_id=task.id, limit=3), metadata=hood.staff
    )
    tasks = await match_stub.SuggestTasks(
        matching_pb2.SuggestTasksRequest(limit=50), metadata=hood.as_member(hood.members[0])
    )

    assert 1 <= len(members.members) <= 3
    scores = [m.score for m in members.members]
    assert scores == sorted(scores, reverse=True)
    assert all(m.member_id in hood.members for m in members.members)
    assert task.id in [t.task_id for t in tasks.tasks]
    with pytest.raises(aio.AioRpcError) as err:
        await match_stub.SuggestMembers(
            matching_pb2.SuggestMembersRequest(task_id=task.id), metadata=hood.other_staff
        )
    assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(aio.AioRpcError) as err:
        await match_stub.SuggestTasks(
            matching_pb2.SuggestTasksRequest(member_id=hood.members[1]),
            metadata=hood.as_member(hood.members[0]),
        )
    assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED


async def test_runs_are_scoped_to_who_asks(
    match_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    for md, request in (
        (hood.staff, matching_pb2.RunMatchingRequest(community_id=hood.other, dry_run=True)),
        (hood.staff, matching_pb2.RunMatchingRequest(street_id=hood.street, dry_run=True)),
        (hood.street_admin, matching_pb2.RunMatchingRequest(dry_run=True)),
        (
            hood.as_member(hood.members[0]),
            matching_pb2.RunMatchingRequest(community_id=hood.home, dry_run=True),
        ),
    ):
        with pytest.raises(aio.AioRpcError) as err:
            await match_stub.RunMatching(request, metadata=md)
        assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED
    ok = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(street_id=hood.street, dry_run=True),
        metadata=hood.street_admin,
    )
    assert ok.run.scope_kind == "street"
    with pytest.raises(aio.AioRpcError) as err:
        await match_stub.RunMatching(
            matching_pb2.RunMatchingRequest(
                community_id=hood.home, gap_target=0.5, time_limit_s=-1
            ),
            metadata=hood.admin,
        )
    assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT


async def test_the_read_model_rebuilds_from_the_stream_alone(
    servers,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,
    task_stub,  # type: ignore[no-untyped-def]
) -> None:
    """A second matching service with an empty database and a new durable consumer replays the
    stream from the start and arrives at the same picture of the district."""
    import uuid as uuid_
    from urllib.parse import urlsplit, urlunsplit

    import asyncpg

    from services.common.settings import MatchingSettings
    from services.matching.app import build as build_matching

    await posted_and_seen(task_stub, matching_rt, hood, 2)
    live = matching_rt.matching.world  # type: ignore[attr-defined]
    name = f"linli_replay_{uuid_.uuid4().hex[:8]}"
    conn = await asyncpg.connect(servers.admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = urlunsplit(urlsplit(servers.admin_url)._replace(path=f"/{name}"))
    replay = build_matching(
        MatchingSettings(grpc_port=0, durable=f"replay-{name}", reoffer=False),
        url,
        servers.nats_url,
    )
    await replay.start()
    try:
        world = replay.matching.world  # type: ignore[attr-defined]

        async def caught_up() -> bool:
            return all(world.members.get(m) == live.members[m] for m in live.members) and all(
                world.tasks.get(t) == live.tasks[t] for t in live.tasks
            )

        # The replay reads the whole session's stream: generous on a loaded machine.
        await until(caught_up, timeout=300)
        assert {
            k: v for k, v in world.assignments.items() if k in live.assignments
        } == live.assignments
    finally:
        await replay.stop(grace=1)
