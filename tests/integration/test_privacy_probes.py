"""Curious callers probing what they should not learn: another community's members' skills,
hours and record through suggestions, planned assignments, scores and a run's figures; a member
who left, through a repeated registration; tasks outside one's scope, through suggestions; and
which ids exist, through the work (hence the time) behind a refusal. Real gRPC, PostgreSQL and
NATS throughout."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc import aio

from linli.v1 import common_pb2, matching_pb2, registry_pb2, tasks_pb2
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from tests.integration.conftest import code
from tests.integration.tasks_support import (
    Neighbourhood,
    make_neighbourhood,
    matched_neighbourhood,
    post,
    soon,
    until,
    window,
    wish,
)
from tests.integration.test_matching import next_saturday_morning
from tests.support import member_proto, request_id

pytestmark = pytest.mark.integration

# What a member's own record looks like in a reason: skill levels, hours, reliability.
RECORD = re.compile(r"skills? |h this month|h left|h already|reliability|skill fit")


@pytest.fixture
async def hood(
    stub,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,  # type: ignore[no-untyped-def]
    settings: RegistrySettings,
) -> Neighbourhood:
    return await matched_neighbourhood(
        stub, tasks_rt, matching_rt, settings, members=2, outsiders=3
    )


async def street_wide_tasks(
    task_stub, matching_rt: ServiceRuntime, hood: Neighbourhood, headcount: int = 5
) -> list[tasks_pb2.Task]:  # type: ignore[no-untyped-def]
    """Street-wide places of the home community, more than its own members can fill."""
    start = next_saturday_morning()
    reply = await task_stub.CreateRole(
        tasks_pb2.CreateRoleRequest(
            request_id=request_id(),
            role=tasks_pb2.VolunteerRole(
                community_id=hood.home,
                title="党员奉献日：清理小区环境",
                beneficiary_group=common_pb2.BENEFICIARY_GROUP_ELDERLY,
                location=common_pb2.LatLng(latitude=36.9805, longitude=117.1705),
                headcount=headcount,
                effort_hours=1,
                street_wide=True,
                once=tasks_pb2.OneOffSchedule(window=window(start + timedelta(hours=1), hours=1)),
            ),
        ),
        metadata=hood.street_admin,
    )
    listed = await task_stub.ListTasks(
        tasks_pb2.ListTasksRequest(community_id=hood.home), metadata=hood.staff
    )
    tasks = [t for t in listed.tasks if t.source_id == reply.role.id]
    assert tasks
    world = matching_rt.matching.world  # type: ignore[attr-defined]

    async def seen() -> bool:
        return all(t.id in world.tasks for t in tasks)

    await until(seen)
    return tasks


async def test_staff_learn_no_skills_or_hours_of_other_communities_members(
    task_stub,
    match_stub,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    """A community's staff are shown members of other communities for street-wide places, but
    only by a banded distance: never their skill levels, hours this month or reliability (their
    record is for those whose scope holds them), in a suggestion, a planned assignment's
    explanation, or a proposal the task service lists."""
    (task,) = await street_wide_tasks(task_stub, matching_rt, hood)
    suggested = await match_stub.SuggestMembers(
        matching_pb2.SuggestMembersRequest(task_id=task.id, limit=50), metadata=hood.staff
    )
    outsiders = [s for s in suggested.members if s.member_id in hood.outsiders]
    assert outsiders
    for s in outsiders:
        assert not RECORD.search(s.reason), s.reason
    # Their own members are theirs to know whole; the street administrator holds everyone.
    for s in suggested.members:
        if s.member_id in hood.members:
            assert "h this month" in s.reason
    by_admin = await match_stub.SuggestMembers(
        matching_pb2.SuggestMembersRequest(task_id=task.id, limit=50), metadata=hood.street_admin
    )
    assert all("h this month" in s.reason for s in by_admin.members)

    run = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home), metadata=hood.staff
    )
    planned = await match_stub.ListMatchAssignments(
        matching_pb2.ListMatchAssignmentsRequest(run_id=run.run.id), metadata=hood.staff
    )
    theirs = [a for a in planned.assignments if a.member_id in hood.outsiders]
    assert theirs
    for a in theirs:
        assert not RECORD.search(a.explanation), a.explanation
    ours = [a for a in planned.assignments if a.member_id in hood.members]
    assert all("reliability" in a.explanation for a in ours)
    whole = await match_stub.ListMatchAssignments(
        matching_pb2.ListMatchAssignmentsRequest(run_id=run.run.id), metadata=hood.street_admin
    )
    assert all("reliability" in a.explanation for a in whole.assignments)

    # The proposals reach the task service, whose staff list them (with any reason given).
    async def proposed() -> bool:
        listed = await task_stub.ListAssignments(
            tasks_pb2.ListAssignmentsRequest(task_id=task.id), metadata=hood.staff
        )
        return {a.member_id for a in listed.assignments} >= {a.member_id for a in theirs}

    await until(proposed)
    listed = await task_stub.ListAssignments(
        tasks_pb2.ListAssignmentsRequest(task_id=task.id), metadata=hood.staff
    )
    for a in listed.assignments:
        if a.member_id in hood.outsiders:
            assert not RECORD.search(a.reason), a.reason


async def test_a_runs_totals_give_away_no_outside_members_distance_or_hours(
    task_stub,
    match_stub,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    """A run's objective (the sum of its pairs' scores, less fairness costs from members' hours),
    its bound, the first come first served objective and the spread of hours add up every
    planned member exactly: given their own members' scores, staff would read an outside
    member's exact score off them. Withheld from staff when the run planned such members."""
    own = await task_stub.PostWish(
        tasks_pb2.PostWishRequest(
            request_id=request_id(),
            wish=wish(hood.home, start=next_saturday_morning(), skills=()),
        ),
        metadata=hood.staff,
    )
    world = matching_rt.matching.world  # type: ignore[attr-defined]

    async def seen() -> bool:
        return own.task.id in world.tasks

    await until(seen)
    # Only the community's own members: the staff see the run whole.
    alone = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home, dry_run=True), metadata=hood.staff
    )
    assert alone.run.places_filled > 0 and alone.run.objective > 0

    await street_wide_tasks(task_stub, matching_rt, hood)
    run = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home, dry_run=True), metadata=hood.staff
    )
    planned = await match_stub.ListMatchAssignments(
        matching_pb2.ListMatchAssignmentsRequest(run_id=run.run.id), metadata=hood.staff
    )
    assert any(a.member_id in hood.outsiders for a in planned.assignments)
    got = await match_stub.GetMatchRun(
        matching_pb2.GetMatchRunRequest(id=run.run.id), metadata=hood.staff
    )
    listed = await match_stub.ListMatchRuns(
        matching_pb2.ListMatchRunsRequest(community_id=hood.home), metadata=hood.staff
    )
    (in_list,) = [r for r in listed.runs if r.id == run.run.id]
    for shown in (run.run, got.run, in_list):
        assert (shown.objective, shown.bound, shown.fcfs_objective, shown.hours_stdev) == (
            0,
            0,
            0,
            0,
        )
        assert shown.places_filled == run.run.places_filled > 0
    whole = await match_stub.GetMatchRun(
        matching_pb2.GetMatchRunRequest(id=run.run.id), metadata=hood.street_admin
    )
    assert whole.run.objective > 0 and whole.run.fcfs_objective > 0


async def test_a_repeated_registration_does_not_follow_a_member_out_of_scope(
    stub,
    tasks_rt: ServiceRuntime,
    settings: RegistrySettings,  # type: ignore[no-untyped-def]
) -> None:
    """Staff who registered a member may send the same request again and get the first answer;
    once the member has reported in to another community they are no longer the staff's to see,
    and the repeat must not tell where they went, nor their new skills, hours or phone."""
    hood = await make_neighbourhood(stub, tasks_rt, settings, members=0, outsiders=0)
    rid = request_id()
    sent = member_proto(hood.home, hood.home_grid, skills=(("tutoring", 2),), hours=10)
    first = await stub.RegisterMember(
        registry_pb2.RegisterMemberRequest(request_id=rid, member=sent), metadata=hood.staff
    )
    member = hood.as_member(first.member.id)
    await stub.ReportIn(
        registry_pb2.ReportInRequest(
            member_id=first.member.id, community_id=hood.other, grid_id=hood.other_grid
        ),
        metadata=member,
    )
    await stub.UpdateMember(
        registry_pb2.UpdateMemberRequest(
            member=registry_pb2.Member(
                id=first.member.id,
                hours_per_month=3,
                skills=[registry_pb2.MemberSkill(skill="medical", level=3)],
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["hours_per_month", "skills"]),
        ),
        metadata=member,
    )
    with pytest.raises(aio.AioRpcError) as err:
        await stub.GetMember(registry_pb2.GetMemberRequest(id=first.member.id), metadata=hood.staff)
    assert code(err.value) == grpc.StatusCode.NOT_FOUND

    again = await stub.RegisterMember(
        registry_pb2.RegisterMemberRequest(request_id=rid, member=sent), metadata=hood.staff
    )
    assert again.member.id == first.member.id
    assert again.member.community_id == hood.home and again.member.grid_id == hood.home_grid
    assert again.member.hours_per_month == 10
    assert [(s.skill, s.level) for s in again.member.skills] == [("tutoring", 2)]
    assert again.member.phone == sent.phone
    assert again.member.update_time == first.member.update_time
    # While the member is still theirs, a repeat shows them as they are now.
    rid2 = request_id()
    kept = member_proto(hood.home, hood.home_grid)
    mine = await stub.RegisterMember(
        registry_pb2.RegisterMemberRequest(request_id=rid2, member=kept), metadata=hood.staff
    )
    await stub.UpdateMember(
        registry_pb2.UpdateMemberRequest(
            member=registry_pb2.Member(id=mine.member.id, hours_per_month=7),
            update_mask=field_mask_pb2.FieldMask(paths=["hours_per_month"]),
        ),
        metadata=hood.as_member(mine.member.id),
    )
    repeat = await stub.RegisterMember(
        registry_pb2.RegisterMemberRequest(request_id=rid2, member=kept), metadata=hood.staff
    )
    assert repeat.member.hours_per_month == 7


async def test_staff_read_no_outside_members_skills_or_reliability_off_their_scores(
    stub,
    task_stub,
    match_stub,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    """Two members of another community, at the same home, differ only in their skill level:
    the home community's staff are shown both at the same banded distance and, since their
    skills are not the staff's to know, with the same score (suggested and planned); the street
    administrator, who holds them, sees the difference."""
    pair = []
    for level in (1, 3):
        reply = await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(),
                member=member_proto(hood.other, hood.other_grid, skills=(("tutoring", level),)),
            ),
            metadata=hood.admin,
        )
        pair.append(reply.member.id)
    world = matching_rt.matching.world  # type: ignore[attr-defined]

    async def known() -> bool:
        return all(m in world.members and world.members[m].reported_in for m in pair)

    await until(known)
    start = next_saturday_morning()
    role = await task_stub.CreateRole(
        tasks_pb2.CreateRoleRequest(
            request_id=request_id(),
            role=tasks_pb2.VolunteerRole(
                community_id=hood.home,
                title="四点半学校课业辅导",
                beneficiary_group=common_pb2.BENEFICIARY_GROUP_CHILD,
                location=common_pb2.LatLng(latitude=36.9805, longitude=117.1705),
                skills=[tasks_pb2.RequiredSkill(skill="tutoring", min_level=1)],
                headcount=20,
                effort_hours=1,
                street_wide=True,
                once=tasks_pb2.OneOffSchedule(window=window(start + timedelta(hours=1), hours=1)),
            ),
        ),
        metadata=hood.street_admin,
    )
    listed = await task_stub.ListTasks(
        tasks_pb2.ListTasksRequest(community_id=hood.home), metadata=hood.staff
    )
    (task,) = [t for t in listed.tasks if t.source_id == role.role.id]

    async def seen() -> bool:
        return task.id in world.tasks

    await until(seen)

    def scores(members) -> dict[str, tuple[float, float]]:  # type: ignore[no-untyped-def]
        return {m.member_id: (m.score, m.distance_m) for m in members if m.member_id in pair}

    by_staff = await match_stub.SuggestMembers(
        matching_pb2.SuggestMembersRequest(task_id=task.id, limit=50), metadata=hood.staff
    )
    by_admin = await match_stub.SuggestMembers(
        matching_pb2.SuggestMembersRequest(task_id=task.id, limit=50), metadata=hood.street_admin
    )
    low, high = (scores(by_staff.members)[m] for m in pair)
    assert low == high
    low, high = (scores(by_admin.members)[m][0] for m in pair)
    assert high > low

    run = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home, dry_run=True), metadata=hood.staff
    )
    planned = await match_stub.ListMatchAssignments(
        matching_pb2.ListMatchAssignmentsRequest(run_id=run.run.id), metadata=hood.staff
    )
    low, high = (scores(planned.assignments)[m] for m in pair)
    assert low == high
    whole = await match_stub.ListMatchAssignments(
        matching_pb2.ListMatchAssignmentsRequest(run_id=run.run.id), metadata=hood.street_admin
    )
    low, high = (scores(whole.assignments)[m][0] for m in pair)
    assert high > low


async def test_staff_are_not_suggested_tasks_outside_their_scope(
    task_stub,
    match_stub,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    """A street-wide task of the home community is the other community's members' to see, but
    not the other community's staff's (its id answers them as a missing one): asking for their
    member's suggestions must not hand them its id, score and distance."""
    (task,) = await street_wide_tasks(task_stub, matching_rt, hood)
    outsider = hood.outsiders[0]

    async def suggested(md) -> set[str]:  # type: ignore[no-untyped-def]
        reply = await match_stub.SuggestTasks(
            matching_pb2.SuggestTasksRequest(member_id=outsider, limit=50), metadata=md
        )
        return {t.task_id for t in reply.tasks}

    assert task.id in await suggested(hood.as_member(outsider))
    assert task.id in await suggested(hood.street_admin)
    assert task.id not in await suggested(hood.other_staff)
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=hood.other_staff)
    assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED


STORE_STEPS = (
    "member_view",
    "get_role",
    "get_task",
    "held_tasks",
    "claim",
    "cancel_task",
    "complete_task",
    "get_assignment",
    "change_assignment",
)


async def test_a_foreign_task_or_assignment_takes_the_same_steps_as_a_missing_one(
    task_stub,
    tasks_rt: ServiceRuntime,
    stub,
    settings: RegistrySettings,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """The answer for a task, a role or an assignment outside the caller's reach is the one for
    a missing id; so must be the work behind it. A claim of a foreign task went on to a
    transaction that locked the member and the task before refusing (twice the time of a missing
    id's refusal, plain to a caller timing a few hundred calls); so did a neighbour's staff
    cancelling or completing, and a member answering another's proposal; reading a foreign task
    or role looked the caller up only when it existed. Here the service's calls to its store are
    recorded: a foreign id and a missing one must make the same ones."""
    hood = await make_neighbourhood(stub, tasks_rt, settings, members=2, outsiders=0)
    foreign = await post(task_stub, hood.staff, wish(hood.home, skills=(), start=soon(3)))
    role = await task_stub.CreateRole(
        tasks_pb2.CreateRoleRequest(
            request_id=request_id(),
            role=tasks_pb2.VolunteerRole(
                community_id=hood.home,
                title="社区阅览室值班",
                beneficiary_group=common_pb2.BENEFICIARY_GROUP_OTHER,
                location=common_pb2.LatLng(latitude=36.9805, longitude=117.1705),
                headcount=1,
                effort_hours=1,
                once=tasks_pb2.OneOffSchedule(window=window(soon(4), hours=1)),
            ),
        ),
        metadata=hood.staff,
    )
    claimed = await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=foreign.id), metadata=hood.as_member(hood.members[1])
    )
    store = tasks_rt.tasks.store  # type: ignore[attr-defined]
    steps: list[str] = []
    for name in STORE_STEPS:
        method = getattr(store, name)

        def recorded(*args, _name=name, _method=method, **kwargs):  # type: ignore[no-untyped-def]
            steps.append(_name)
            return _method(*args, **kwargs)

        monkeypatch.setattr(store, name, recorded)
    stranger = await make_neighbourhood(stub, tasks_rt, settings, members=1, outsiders=0)
    outsider = stranger.as_member(stranger.members[0])
    member = hood.as_member(hood.members[0])
    cases = [
        (task_stub.GetRole, lambda i: tasks_pb2.GetRoleRequest(id=i), outsider, role.role.id),
        (task_stub.GetTask, lambda i: tasks_pb2.GetTaskRequest(id=i), outsider, foreign.id),
        (
            task_stub.ClaimTask,
            lambda i: tasks_pb2.ClaimTaskRequest(task_id=i),
            outsider,
            foreign.id,
        ),
        (
            task_stub.CancelTask,
            lambda i: tasks_pb2.CancelTaskRequest(id=i, reason="不需要了"),
            hood.other_staff,
            foreign.id,
        ),
        (
            task_stub.CompleteTask,
            lambda i: tasks_pb2.CompleteTaskRequest(id=i),
            hood.other_staff,
            foreign.id,
        ),
        (
            task_stub.WithdrawAssignment,
            lambda i: tasks_pb2.WithdrawAssignmentRequest(assignment_id=i),
            member,
            claimed.assignment.id,
        ),
        (
            task_stub.AcceptProposal,
            lambda i: tasks_pb2.AcceptProposalRequest(assignment_id=i),
            member,
            claimed.assignment.id,
        ),
    ]
    for call, make, md, there in cases:
        answers = []
        for target in (there, str(uuid.uuid4())):
            steps.clear()
            with pytest.raises(aio.AioRpcError) as err:
                await call(make(target), metadata=md)
            answers.append(
                (code(err.value), (err.value.details() or "").replace(target, "X"), list(steps))
            )
        assert answers[0] == answers[1], call


class RecordingPool:
    """Stands in for the registry store's pool, noting which of its calls were made."""

    def __init__(self, pool, steps: list[str]) -> None:  # type: ignore[no-untyped-def]
        self._pool, self._steps = pool, steps

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        if name in ("acquire", "fetch", "fetchrow", "fetchval", "execute", "executemany"):
            self._steps.append(name)
        return getattr(self._pool, name)


async def test_a_foreign_member_is_refused_with_the_same_work_as_a_missing_one(
    stub,
    registry: ServiceRuntime,
    tasks_rt: ServiceRuntime,
    settings: RegistrySettings,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """Deactivating, reactivating or reporting in a member of another community answered as for
    a missing id, but only after a transaction that locked the member's row: the time taken
    told which ids exist. The registry's calls to its database must be the same for both."""
    hood = await make_neighbourhood(stub, tasks_rt, settings, members=1, outsiders=1)
    outsider = hood.outsiders[0]
    store = registry.store  # type: ignore[attr-defined]
    steps: list[str] = []
    monkeypatch.setattr(store, "_pool", RecordingPool(store._pool, steps))
    cases = [
        (
            stub.DeactivateMember,
            lambda i: registry_pb2.DeactivateMemberRequest(member_id=i),
            hood.staff,
        ),
        (
            stub.ReactivateMember,
            lambda i: registry_pb2.ReactivateMemberRequest(member_id=i),
            hood.staff,
        ),
        (
            stub.ReportIn,
            lambda i: registry_pb2.ReportInRequest(
                member_id=i, community_id=hood.home, grid_id=hood.home_grid
            ),
            hood.staff,
        ),
        (
            stub.DeactivateMember,
            lambda i: registry_pb2.DeactivateMemberRequest(member_id=i),
            hood.as_member(hood.members[0]),
        ),
    ]
    for call, make, md in cases:
        answers = []
        for target in (outsider, str(uuid.uuid4())):
            steps.clear()
            with pytest.raises(aio.AioRpcError) as err:
                await call(make(target), metadata=md)
            answers.append(
                (code(err.value), (err.value.details() or "").replace(target, "X"), list(steps))
            )
        assert answers[0] == answers[1], call
        assert answers[0][0] == grpc.StatusCode.NOT_FOUND
