"""The matching service when things go wrong or callers are curious: runs back to back and side
by side, too many runs at once, runs cut off, a task it cannot plan, bad input, and what each
caller may learn of members and places. Real gRPC, PostgreSQL and NATS throughout."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc import aio

from linli.v1 import common_pb2, matching_pb2, registry_pb2, tasks_pb2
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from services.matching import service as matching_service
from services.matching.domain.privacy import DISTANCE_BAND_M
from services.matching.domain.world import World
from tests.integration.conftest import code
from tests.integration.errors import bad_request_fields
from tests.integration.tasks_support import (
    Neighbourhood,
    matched_neighbourhood,
    post,
    until,
    window,
    wish,
)
from tests.integration.test_matching import next_saturday_morning
from tests.support import ref, request_id

pytestmark = pytest.mark.integration


@pytest.fixture
async def hood(
    stub,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,  # type: ignore[no-untyped-def]
    settings: RegistrySettings,
) -> Neighbourhood:
    return await matched_neighbourhood(
        stub, tasks_rt, matching_rt, settings, members=6, outsiders=2
    )


class Gate:
    """Holds every run's planning (in its worker thread) until opened: runs stay in progress
    for as long as a test needs, whatever the machine's speed."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = 0

    def __call__(self, instance: Any) -> Any:
        self.entered += 1
        assert self.open.wait(120), "the gate was never opened"
        return REAL_PLAN(instance)


REAL_PLAN = matching_service.plan


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    g = Gate()
    monkeypatch.setattr(matching_service, "plan", g)
    yield g
    g.open.set()


def status_details(err: aio.AioRpcError) -> list[Any]:
    out: list[Any] = []
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                for kind in (error_details_pb2.ErrorInfo, error_details_pb2.RetryInfo):
                    message = kind()
                    if detail.Unpack(message):
                        out.append(message)
    return out


async def posted(task_stub, matching_rt: ServiceRuntime, md, wishes) -> list[tasks_pb2.Task]:  # type: ignore[no-untyped-def]
    tasks = [await post(task_stub, md, w) for w in wishes]
    world = matching_rt.matching.world  # type: ignore[attr-defined]

    async def seen() -> bool:
        return all(t.id in world.tasks for t in tasks)

    await until(seen)
    return tasks


async def run_row(db, run_id: str) -> Any:  # type: ignore[no-untyped-def]
    return await db.fetchrow("SELECT * FROM matching.match_run WHERE id = $1", uuid.UUID(run_id))


# -- 1. runs back to back ------------------------------------------------------------------------


async def test_runs_back_to_back_never_propose_a_place_twice(
    task_stub,
    match_stub,
    nats_client,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    """The second run comes at once, and from a world reloaded from the read model (as after a
    restart) before the task service answered for the first run's proposals: it proposes none
    of the first run's places again, and the task service rejects nothing."""
    rejected: list[str] = []

    async def on_rejected(msg: Any) -> None:
        rejected.append(msg.data)

    sub = await nats_client.subscribe("linli.tasks.proposal.rejected", cb=on_rejected)
    start = next_saturday_morning()
    tasks = await posted(
        task_stub,
        matching_rt,
        hood.staff,
        [
            wish(hood.home, start=start + timedelta(minutes=30 * i), skills=(), headcount=2)
            for i in range(4)
        ],
    )
    matching = matching_rt.matching  # type: ignore[attr-defined]
    first = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home), metadata=hood.staff
    )
    reloaded = World()
    await matching.store.load(reloaded)
    matching.world = reloaded
    second = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home), metadata=hood.staff
    )

    async def planned(run_id: str) -> list[tuple[str, str]]:
        reply = await match_stub.ListMatchAssignments(
            matching_pb2.ListMatchAssignmentsRequest(run_id=run_id), metadata=hood.staff
        )
        return [(a.task_id, a.member_id) for a in reply.assignments]

    one, two = await planned(first.run.id), await planned(second.run.id)
    assert one, "the first run proposed nothing"
    mine = {t.id for t in tasks}
    offered = [p for p in one + two if p[0] in mine]
    assert len(offered) == len(set(offered))
    for t in tasks:  # never more proposals for a task than its places
        assert sum(1 for p in offered if p[0] == t.id) <= 2

    async def answered() -> bool:
        got = 0
        for t in tasks:
            reply = await task_stub.ListAssignments(
                tasks_pb2.ListAssignmentsRequest(task_id=t.id), metadata=hood.staff
            )
            got += len(reply.assignments)
        return got == len(offered)

    await until(answered, timeout=30)

    async def settled() -> bool:
        # The matching service hears of each answer in its own time: its proposals for these
        # tasks stop being pending once it has.
        return not any(k[0] in mine for k in matching.world.pending)

    await until(settled, timeout=60)
    await sub.unsubscribe()
    assert not [r for r in rejected if any(t.encode() in r for t in mine)]


# -- 2. overlapping scopes -----------------------------------------------------------------------


async def test_runs_whose_scopes_overlap_never_run_at_once(
    match_stub,
    db,
    gate: Gate,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    street = asyncio.ensure_future(
        match_stub.RunMatching(
            matching_pb2.RunMatchingRequest(street_id=hood.street, dry_run=True),
            metadata=hood.street_admin,
        )
    )
    await until(lambda: _true(gate.entered >= 1))
    running = await db.fetchval(
        "SELECT id FROM matching.match_run WHERE state = 'running' AND scope_id = $1", hood.street
    )
    for md, request in (
        (hood.staff, matching_pb2.RunMatchingRequest(community_id=hood.home)),
        (hood.admin, matching_pb2.RunMatchingRequest(dry_run=True)),
        (hood.street_admin, matching_pb2.RunMatchingRequest(street_id=hood.street)),
    ):
        with pytest.raises(aio.AioRpcError) as err:
            await match_stub.RunMatching(request, metadata=md)
        assert code(err.value) == grpc.StatusCode.ABORTED
        (info,) = [
            d for d in status_details(err.value) if isinstance(d, error_details_pb2.ErrorInfo)
        ]
        assert info.reason == "RUN_IN_PROGRESS" and info.metadata["run_id"] == str(running)
    gate.open.set()
    done = await street
    assert done.run.state == matching_pb2.MATCH_RUN_STATE_SUCCEEDED
    after = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home, dry_run=True), metadata=hood.staff
    )
    assert after.run.state == matching_pb2.MATCH_RUN_STATE_SUCCEEDED


async def _true(value: bool) -> bool:
    return value


# -- 3. a cap on runs ----------------------------------------------------------------------------


async def test_concurrent_runs_are_capped_and_reads_answer_meanwhile(
    stub,
    match_stub,
    gate: Gate,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,
    settings: RegistrySettings,  # type: ignore[no-untyped-def]
) -> None:
    street = ref("st")
    communities = [ref("c") for _ in range(14)]
    lines = "\n".join(
        f"""      - id: {c}
        name: 社区{n}
        station: {{lat: 36.98, lng: 117.17}}
        grids:
          - {{id: {ref("g")}, name: 一, center: {{lat: 36.98, lng: 117.17}}, radius_m: 300}}"""
        for n, c in enumerate(communities)
    )
    await stub.ImportDistrict(
        registry_pb2.ImportDistrictRequest(
            content=f"streets:\n  - id: {street}\n    name: 多社区街道\n    communities:\n{lines}\n"
        ),
        metadata=hood.admin,
    )
    matching = matching_rt.matching  # type: ignore[attr-defined]
    await until(lambda: _true(all(c in matching.world.communities for c in communities)))
    cap = matching.settings.max_concurrent_runs
    calls = [
        asyncio.ensure_future(
            match_stub.RunMatching(
                matching_pb2.RunMatchingRequest(community_id=c, dry_run=True),
                metadata=hood.admin,
            )
        )
        for c in communities
    ]
    await until(lambda: _true(gate.entered == cap and sum(c.done() for c in calls) == 14 - cap))
    # Beyond the cap: refused at once, with a delay to retry after.
    refused = [c.exception() for c in calls if c.done()]
    assert all(
        isinstance(e, aio.AioRpcError) and e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        for e in refused
    )
    assert all(
        any(isinstance(d, error_details_pb2.RetryInfo) for d in status_details(e))  # type: ignore[arg-type]
        for e in refused
    )
    # While the runs plan, the service answers reads and suggestions.
    listed = await match_stub.ListMatchRuns(
        matching_pb2.ListMatchRunsRequest(page_size=5), metadata=hood.admin, timeout=10
    )
    assert listed.runs
    suggested = await match_stub.SuggestTasks(
        matching_pb2.SuggestTasksRequest(), metadata=hood.as_member(hood.members[0]), timeout=10
    )
    assert suggested is not None
    gate.open.set()
    finished = [await c for c in calls if not c.done() or c.exception() is None]
    assert len(finished) == cap
    assert all(r.run.state == matching_pb2.MATCH_RUN_STATE_SUCCEEDED for r in finished)
    assert matching.running == 0


# -- 4. runs cut off -----------------------------------------------------------------------------


async def test_a_run_cut_off_is_marked_failed_at_once(
    match_stub,
    db,
    gate: Gate,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    call = match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home, dry_run=True), metadata=hood.staff
    )
    pending = asyncio.ensure_future(call)
    await until(lambda: _true(gate.entered >= 1))
    run_id = await db.fetchval(
        "SELECT id FROM matching.match_run WHERE state = 'running' AND scope_id = $1", hood.home
    )
    assert run_id is not None
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending

    async def failed() -> bool:
        row = await run_row(db, str(run_id))
        return bool(row["state"] == "failed" and row["error"] == "interrupted")

    await until(failed)
    gate.open.set()


async def test_a_run_left_running_by_a_stopped_process_is_failed_at_the_next_start(
    servers,
    db,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    """A process killed mid-run leaves its run marked running: the next process to start fails
    it (its lease lapsed), before it answers."""
    from services.common.settings import MatchingSettings
    from services.matching.app import build as build_matching

    leftover = uuid.uuid4()
    await db.execute(
        "INSERT INTO matching.match_run (id, scope_kind, scope_id, street_id, state, dry_run,"
        " method, requested_by, created_at, heartbeat_at)"
        " VALUES ($1, 'community', $2, $3, 'running', true, 'auto', 'gone',"
        " now() - interval '2 minutes', now() - interval '1 minute')",
        leftover,
        hood.home,
        hood.street,
    )
    live = uuid.uuid4()  # a run of another replica, alive and renewing its lease
    await db.execute(
        "INSERT INTO matching.match_run (id, scope_kind, scope_id, street_id, state, dry_run,"
        " method, requested_by, heartbeat_at)"
        " VALUES ($1, 'street', $2, $2, 'running', true, 'auto', 'alive', now())",
        live,
        ref("st"),
    )
    restarted = build_matching(
        MatchingSettings(grpc_port=0, durable=f"restart-{leftover.hex[:8]}", reoffer=False),
        servers.database_url,
        servers.nats_url,
    )
    await restarted.start()
    try:
        row = await run_row(db, str(leftover))
        assert row["state"] == "failed" and row["error"] == "interrupted"
        assert (await run_row(db, str(live)))["state"] == "running"
    finally:
        await restarted.stop(grace=1)
        await db.execute("UPDATE matching.match_run SET state = 'failed' WHERE id = $1", live)


# -- 5. one bad task -----------------------------------------------------------------------------


async def test_a_task_the_planner_cannot_take_never_fails_a_run(
    task_stub,
    match_stub,
    db,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    """A wish dated 9999-12-31 reached the read model (as from an older task service): every
    run over it succeeds, and the task is reported unmatched."""
    (good,) = await posted(
        task_stub,
        matching_rt,
        hood.staff,
        [wish(hood.home, start=next_saturday_morning(), skills=())],
    )
    bad = uuid.uuid4()
    far = datetime(9999, 12, 31, tzinfo=UTC)
    await db.execute(
        """INSERT INTO matching.task (id, community_id, street_id, street_wide, lat, lng, skills,
               headcount, places_taken, window_start, window_end, flexible, effort_hours,
               beneficiary, status, posted_at, version)
           VALUES ($1, $2, $3, false, 36.9805, 117.1705, '[]', 1, 0, $4, $5, false, 1.5,
                   'elderly', 'open', now(), now())""",
        bad,
        hood.home,
        hood.street,
        far,
        far + timedelta(hours=2),
    )
    matching = matching_rt.matching  # type: ignore[attr-defined]
    await matching.store.refresh(matching.world, tasks=[str(bad)])
    assert str(bad) in matching.world.tasks
    try:
        runs = [
            await match_stub.RunMatching(request, metadata=hood.admin)
            for request in (
                matching_pb2.RunMatchingRequest(community_id=hood.home, dry_run=True),
                matching_pb2.RunMatchingRequest(street_id=hood.street, dry_run=True),
                matching_pb2.RunMatchingRequest(dry_run=True),
            )
        ]
        assert all(r.run.state == matching_pb2.MATCH_RUN_STATE_SUCCEEDED for r in runs)
        unfilled = await match_stub.ListUnfilledPlaces(
            matching_pb2.ListUnfilledPlacesRequest(run_id=runs[0].run.id), metadata=hood.admin
        )
        reasons = {p.task_id: p.reason for p in unfilled.places}
        assert reasons[str(bad)] == "invalid_task"
        planned = await match_stub.ListMatchAssignments(
            matching_pb2.ListMatchAssignmentsRequest(run_id=runs[0].run.id), metadata=hood.admin
        )
        assert good.id in {a.task_id for a in planned.assignments}
    finally:
        # It never came from the stream: gone again, so that a replay still matches the world.
        await db.execute("DELETE FROM matching.task WHERE id = $1", bad)
        matching.world.tasks.pop(str(bad), None)


# -- 6. bad input --------------------------------------------------------------------------------


async def test_bad_input_is_refused_naming_its_field(
    match_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    cases = [
        (
            matching_pb2.RunMatchingRequest(weights=matching_pb2.MatchWeights(fill=1e308)),
            "weights.fill",
        ),
        (
            matching_pb2.RunMatchingRequest(weights=matching_pb2.MatchWeights(skill=math.nan)),
            "weights.skill",
        ),
        (
            matching_pb2.RunMatchingRequest(weights=matching_pb2.MatchWeights(distance=-1)),
            "weights.distance",
        ),
        (matching_pb2.RunMatchingRequest(time_limit_s=math.nan), "time_limit_s"),
        (matching_pb2.RunMatchingRequest(max_distance_m=math.inf), "max_distance_m"),
        (matching_pb2.RunMatchingRequest(method=99), "method"),  # type: ignore[arg-type]
        (matching_pb2.RunMatchingRequest(community_id=ref("nowhere")), "community_id"),
        (matching_pb2.RunMatchingRequest(street_id=ref("nowhere")), "street_id"),
        (matching_pb2.RunMatchingRequest(community_id="c\x00"), "community_id"),
        (matching_pb2.RunMatchingRequest(community_id="c" * 10_000), "community_id"),
    ]
    for request, field in cases:
        request.dry_run = True
        with pytest.raises(aio.AioRpcError) as err:
            await match_stub.RunMatching(request, metadata=hood.admin)
        assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in bad_request_fields(err.value), field
        assert len(err.value.details() or "") < 500
    # No run was recorded for a community that does not exist.
    listed = await match_stub.ListMatchRuns(
        matching_pb2.ListMatchRunsRequest(community_id=hood.home), metadata=hood.admin
    )
    assert all(r.scope_id == hood.home for r in listed.runs)
    for request, field in (
        (matching_pb2.ListMatchRunsRequest(page_token="bm90IGEgdG9rZW4"), "page_token"),
        (matching_pb2.ListMatchRunsRequest(community_id="x\x00"), "community_id"),
    ):
        with pytest.raises(aio.AioRpcError) as err:
            await match_stub.ListMatchRuns(request, metadata=hood.admin)
        assert field in bad_request_fields(err.value), field
    for call, request, field in (
        (match_stub.GetMatchRun, matching_pb2.GetMatchRunRequest(id="x\x00"), "id"),
        (
            match_stub.ListMatchAssignments,
            matching_pb2.ListMatchAssignmentsRequest(run_id="nope"),
            "run_id",
        ),
        (match_stub.SuggestMembers, matching_pb2.SuggestMembersRequest(task_id="t\x00"), "task_id"),
        (
            match_stub.SuggestTasks,
            matching_pb2.SuggestTasksRequest(member_id=str(uuid.uuid4()), limit=-1),
            "limit",
        ),
    ):
        with pytest.raises(aio.AioRpcError) as err:
            await call(request, metadata=hood.admin)
        assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in bad_request_fields(err.value), field


# -- 7. privacy ----------------------------------------------------------------------------------


async def test_staff_see_other_communities_members_only_by_banded_distance(
    task_stub,
    match_stub,
    db,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    """Three street-wide wishes of the home community, more places than its own members: the
    suggestions and the run's assignments give the other community's members' distances as
    bands (and never their exact distance), the home members' exactly."""
    start = next_saturday_morning()
    spots = [(36.9805, 117.1705), (36.9851, 117.1762), (36.9772, 117.1649)]
    roles = []
    for n, (lat, lng) in enumerate(spots):
        reply = await task_stub.CreateRole(
            tasks_pb2.CreateRoleRequest(
                request_id=request_id(),
                role=tasks_pb2.VolunteerRole(
                    community_id=hood.home,
                    title=f"党员奉献日：清理小区环境{n}",
                    beneficiary_group=common_pb2.BENEFICIARY_GROUP_OTHER,
                    location=common_pb2.LatLng(latitude=lat, longitude=lng),
                    headcount=8,
                    effort_hours=1,
                    street_wide=True,
                    once=tasks_pb2.OneOffSchedule(
                        window=window(start + timedelta(minutes=40 * n), hours=1)
                    ),
                ),
            ),
            metadata=hood.street_admin,
        )
        roles.append(reply.role.id)
    listed = await task_stub.ListTasks(
        tasks_pb2.ListTasksRequest(community_id=hood.home), metadata=hood.staff
    )
    tasks = [t for t in listed.tasks if t.source_id in roles]
    assert len(tasks) == 3 and all(t.street_wide for t in tasks)
    world = matching_rt.matching.world  # type: ignore[attr-defined]
    await until(lambda: _true(all(t.id in world.tasks for t in tasks)))
    seen_outsider = False
    for t in tasks:
        reply = await match_stub.SuggestMembers(
            matching_pb2.SuggestMembersRequest(task_id=t.id, limit=50), metadata=hood.staff
        )
        for s in reply.members:
            if s.member_id in hood.outsiders:
                seen_outsider = True
                assert s.distance_m % DISTANCE_BAND_M == 0 and "within" in s.reason
            else:
                assert s.member_id in hood.members
    assert seen_outsider
    run = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home, dry_run=True), metadata=hood.staff
    )
    planned = await match_stub.ListMatchAssignments(
        matching_pb2.ListMatchAssignmentsRequest(run_id=run.run.id), metadata=hood.staff
    )
    ours = [a for a in planned.assignments if a.task_id in {t.id for t in tasks}]
    outsiders = [a for a in ours if a.member_id in hood.outsiders]
    assert outsiders
    for a in outsiders:
        assert a.distance_m % DISTANCE_BAND_M == 0
        assert a.explanation.startswith(f"within {a.distance_m:.0f} m from home")
    for a in ours:
        for alt in a.alternatives:
            if alt.member_id in hood.outsiders:
                assert alt.distance_m % DISTANCE_BAND_M == 0
    by_admin = await match_stub.ListMatchAssignments(
        matching_pb2.ListMatchAssignmentsRequest(run_id=run.run.id), metadata=hood.street_admin
    )
    exact = {(a.task_id, a.member_id): a.distance_m for a in by_admin.assignments}
    assert any(exact[(a.task_id, a.member_id)] % DISTANCE_BAND_M != 0 for a in outsiders)
    # Nor through the run's figures: a mean over exact distances gives one away, given the rest.
    figures = json.loads((await run_row(db, run.run.id))["figures"])
    for md, mean in (
        (hood.staff, figures["public_mean_distance_m"]),
        (hood.street_admin, figures["mean_distance_m"]),
    ):
        got = await match_stub.GetMatchRun(
            matching_pb2.GetMatchRunRequest(id=run.run.id), metadata=md
        )
        assert got.run.mean_distance_m == pytest.approx(mean)
    assert figures["public_mean_distance_m"] != pytest.approx(figures["mean_distance_m"])


async def test_a_foreign_object_and_a_missing_one_are_refused_alike(
    task_stub,
    match_stub,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    other_staff_task = (
        await posted(
            task_stub,
            matching_rt,
            hood.other_staff,
            [wish(hood.other, start=next_saturday_morning(), skills=())],
        )
    )[0]
    foreign_run = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.other, dry_run=True), metadata=hood.admin
    )
    missing = str(uuid.uuid4())

    async def refusal(call, request) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
        with pytest.raises(aio.AioRpcError) as err:
            await call(request, metadata=hood.staff)
        return code(err.value), err.value.details() or ""

    for call, foreign, absent in (
        (
            match_stub.GetMatchRun,
            matching_pb2.GetMatchRunRequest(id=foreign_run.run.id),
            matching_pb2.GetMatchRunRequest(id=missing),
        ),
        (
            match_stub.ListUnfilledPlaces,
            matching_pb2.ListUnfilledPlacesRequest(run_id=foreign_run.run.id),
            matching_pb2.ListUnfilledPlacesRequest(run_id=missing),
        ),
        (
            match_stub.SuggestMembers,
            matching_pb2.SuggestMembersRequest(task_id=other_staff_task.id),
            matching_pb2.SuggestMembersRequest(task_id=missing),
        ),
        (
            match_stub.SuggestTasks,
            matching_pb2.SuggestTasksRequest(member_id=hood.outsiders[0]),
            matching_pb2.SuggestTasksRequest(member_id=missing),
        ),
    ):
        assert await refusal(call, foreign) == await refusal(call, absent)
    a = await refusal(
        match_stub.RunMatching, matching_pb2.RunMatchingRequest(community_id=hood.other)
    )
    b = await refusal(
        match_stub.RunMatching, matching_pb2.RunMatchingRequest(community_id="c-missing")
    )
    assert a[0] == b[0] == grpc.StatusCode.PERMISSION_DENIED
    assert a[1].replace(hood.other, "X") == b[1].replace("c-missing", "X")


# -- 8. other defects ----------------------------------------------------------------------------


async def test_suggestions_right_after_posting_and_for_unknown_members(
    task_stub,
    match_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    task = await post(
        task_stub, hood.staff, wish(hood.home, start=next_saturday_morning(), skills=())
    )
    reply = await match_stub.SuggestMembers(
        matching_pb2.SuggestMembersRequest(task_id=task.id), metadata=hood.staff
    )
    assert {m.member_id for m in reply.members} <= set(hood.members)
    with pytest.raises(aio.AioRpcError) as err:
        await match_stub.SuggestTasks(
            matching_pb2.SuggestTasksRequest(member_id=str(uuid.uuid4())), metadata=hood.admin
        )
    assert code(err.value) == grpc.StatusCode.NOT_FOUND


async def test_staff_list_the_runs_of_their_own_scope_without_a_filter(
    match_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    mine = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home, dry_run=True), metadata=hood.staff
    )
    theirs = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.other, dry_run=True), metadata=hood.admin
    )
    street = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(street_id=hood.street, dry_run=True),
        metadata=hood.street_admin,
    )
    staff = await match_stub.ListMatchRuns(matching_pb2.ListMatchRunsRequest(), metadata=hood.staff)
    ids = {r.id for r in staff.runs}
    assert mine.run.id in ids and theirs.run.id not in ids and street.run.id not in ids
    assert all(r.scope_kind == "community" and r.scope_id == hood.home for r in staff.runs)
    admin = await match_stub.ListMatchRuns(
        matching_pb2.ListMatchRunsRequest(), metadata=hood.street_admin
    )
    assert {mine.run.id, theirs.run.id, street.run.id} <= {r.id for r in admin.runs}
    with pytest.raises(aio.AioRpcError) as err:
        await match_stub.ListMatchRuns(
            matching_pb2.ListMatchRunsRequest(), metadata=hood.as_member(hood.members[0])
        )
    assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED


async def test_a_withdrawn_place_is_remembered_and_offered_to_someone_else(
    task_stub,
    match_stub,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    (task,) = await posted(
        task_stub,
        matching_rt,
        hood.staff,
        [wish(hood.home, start=next_saturday_morning(), skills=())],
    )
    await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home), metadata=hood.staff
    )

    async def live() -> list[tasks_pb2.Assignment]:
        reply = await task_stub.ListAssignments(
            tasks_pb2.ListAssignmentsRequest(task_id=task.id), metadata=hood.staff
        )
        return [a for a in reply.assignments if a.state == tasks_pb2.ASSIGNMENT_STATE_PROPOSED]

    await until(lambda: _len_is(live, 1))
    (first,) = await live()
    member = hood.as_member(first.member_id)
    await task_stub.AcceptProposal(
        tasks_pb2.AcceptProposalRequest(assignment_id=first.id), metadata=member
    )
    await task_stub.WithdrawAssignment(
        tasks_pb2.WithdrawAssignmentRequest(assignment_id=first.id, reason="另有安排"),
        metadata=member,
    )

    async def reoffered() -> bool:
        now = await live()
        return len(now) == 1 and now[0].member_id != first.member_id

    await until(reoffered, timeout=20)
    world = matching_rt.matching.world  # type: ignore[attr-defined]
    assert (task.id, first.member_id) in world.refusals


async def _len_is(f, n: int) -> bool:  # type: ignore[no-untyped-def]
    return len(await f()) == n


async def test_a_deactivated_member_is_no_longer_proposed_or_suggested(
    stub,
    task_stub,
    match_stub,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    gone = hood.members[0]
    await stub.DeactivateMember(
        registry_pb2.DeactivateMemberRequest(member_id=gone, reason="调离"), metadata=hood.admin
    )
    world = matching_rt.matching.world  # type: ignore[attr-defined]
    await until(lambda: _true(not world.members[gone].active))
    (task,) = await posted(
        task_stub,
        matching_rt,
        hood.staff,
        [wish(hood.home, start=next_saturday_morning(), skills=(), headcount=6)],
    )
    suggested = await match_stub.SuggestMembers(
        matching_pb2.SuggestMembersRequest(task_id=task.id, limit=50), metadata=hood.staff
    )
    assert suggested.members and gone not in {m.member_id for m in suggested.members}
    run = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home, dry_run=True), metadata=hood.staff
    )
    planned = await match_stub.ListMatchAssignments(
        matching_pb2.ListMatchAssignmentsRequest(run_id=run.run.id), metadata=hood.staff
    )
    assert planned.assignments and gone not in {a.member_id for a in planned.assignments}


async def test_a_members_suggestions_follow_from_a_wishs_public_place_only(
    task_stub,
    match_stub,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    """A wish at a resident's exact place and the same wish at its public (rounded) place give
    a member the same score and distance."""
    from services.common.values import public_place

    start = next_saturday_morning()
    exact = (36.98163, 117.17241)
    rounded = public_place(*exact)
    assert rounded != exact
    tasks = await posted(
        task_stub,
        matching_rt,
        hood.staff,
        [
            wish(hood.home, start=start, skills=(), lat=lat, lng=lng, title=title)
            for (lat, lng), title in ((exact, "代购·甲"), (rounded, "代购·乙"))
        ],
    )
    reply = await match_stub.SuggestTasks(
        matching_pb2.SuggestTasksRequest(limit=50), metadata=hood.as_member(hood.members[1])
    )
    shown = {t.task_id: (t.score, t.distance_m) for t in reply.tasks}
    assert shown[tasks[0].id] == shown[tasks[1].id]
