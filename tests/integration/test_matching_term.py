"""Matching over a term through the real services (gRPC, PostgreSQL, NATS): a large event's
role with an over-booking cap gets proposals beyond its headcount and ends with at most its
headcount accepted; a team wish is filled by a team covering its skills, each named."""

from __future__ import annotations

from datetime import timedelta

import pytest

from linli.v1 import common_pb2, matching_pb2, registry_pb2, tasks_pb2
from linli.v1.registry_pb2_grpc import RegistryServiceStub
from services.common.auth import Role
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from services.tasks.domain.places import HEADCOUNT_REACHED
from tests.integration.tasks_support import (
    Neighbourhood,
    matched_neighbourhood,
    post,
    until,
    window,
    wish,
)
from tests.integration.test_matching import assignments, next_saturday_morning
from tests.support import auth, member_proto, request_id, token

pytestmark = pytest.mark.integration

PROPOSED, ACCEPTED = tasks_pb2.ASSIGNMENT_STATE_PROPOSED, tasks_pb2.ASSIGNMENT_STATE_ACCEPTED
WITHDRAWN = tasks_pb2.ASSIGNMENT_STATE_WITHDRAWN


async def seen_task(matching_rt: ServiceRuntime, task_id: str) -> None:
    world = matching_rt.matching.world  # type: ignore[attr-defined]

    async def seen() -> bool:
        return task_id in world.tasks

    await until(seen)


async def run(match_stub, hood: Neighbourhood) -> matching_pb2.MatchRun:  # type: ignore[no-untyped-def]
    reply = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home, time_limit_s=5),
        metadata=hood.staff,
    )
    assert reply.run.state == matching_pb2.MATCH_RUN_STATE_SUCCEEDED
    return reply.run  # type: ignore[no-any-return]


async def test_a_large_event_is_over_booked_and_accepts_at_most_its_headcount(
    stub: RegistryServiceStub,
    task_stub,
    match_stub,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
    settings: RegistrySettings,  # type: ignore[no-untyped-def]
) -> None:
    hood = await matched_neighbourhood(
        stub, tasks_rt, matching_rt, settings, members=24, outsiders=0
    )
    role = tasks_pb2.VolunteerRole(
        community_id=hood.home,
        unit_id=hood.unit,
        title="党员奉献日：清理小区环境",
        beneficiary_group=common_pb2.BENEFICIARY_GROUP_OTHER,
        location=common_pb2.LatLng(latitude=36.981, longitude=117.171),
        skills=[tasks_pb2.RequiredSkill(skill="tutoring", min_level=1)],
        headcount=20,
        overbook_cap=3,
        effort_hours=2,
        once=tasks_pb2.OneOffSchedule(window=window(next_saturday_morning(), hours=2)),
    )
    created = await task_stub.CreateRole(
        tasks_pb2.CreateRoleRequest(request_id=request_id(), role=role), metadata=hood.staff
    )
    assert created.tasks_generated == 1 and created.role.overbook_cap == 3
    listed = await task_stub.ListTasks(
        tasks_pb2.ListTasksRequest(community_id=hood.home), metadata=hood.staff
    )
    [task] = [t for t in listed.tasks if t.source_id == created.role.id]
    assert (task.unit_id, task.overbook_cap) == (hood.unit, 3)
    await seen_task(matching_rt, task.id)

    await run(match_stub, hood)

    # New members have no record: half are expected to stay away, so the cap is used whole.
    async def held() -> bool:
        got = await assignments(task_stub, hood, task.id)
        return len([a for a in got if a.state == PROPOSED]) == 23

    await until(held)
    offers = await assignments(task_stub, hood, task.id)
    for a in offers[:20]:
        member = auth(token(settings, Role.MEMBER, a.member_id))
        await task_stub.AcceptProposal(
            tasks_pb2.AcceptProposalRequest(assignment_id=a.id), metadata=member
        )
    after = await assignments(task_stub, hood, task.id)
    states = sorted(a.state for a in after)
    assert states == sorted([ACCEPTED] * 20 + [WITHDRAWN] * 3)
    assert {a.reason for a in after if a.state == WITHDRAWN} == {HEADCOUNT_REACHED}
    final = await task_stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=hood.staff)
    assert (final.task.accepted, final.task.places_taken) == (20, 20)
    assert final.task.status == tasks_pb2.TASK_STATUS_FILLED


async def test_a_team_wish_is_filled_by_a_team_covering_its_skills(
    stub: RegistryServiceStub,
    task_stub,
    match_stub,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
    settings: RegistrySettings,  # type: ignore[no-untyped-def]
) -> None:
    hood = await matched_neighbourhood(stub, tasks_rt, matching_rt, settings, members=2)
    admin = auth(token(settings, Role.DISTRICT_ADMIN))
    calligrapher = (
        await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(),
                member=member_proto(hood.home, hood.home_grid, skills=(("calligraphy", 2),)),
            ),
            metadata=admin,
        )
    ).member.id
    world = matching_rt.matching.world  # type: ignore[attr-defined]

    async def known() -> bool:
        return calligrapher in world.members and world.members[calligrapher].reported_in

    await until(known)
    store = tasks_rt.tasks.store  # type: ignore[attr-defined]

    async def reported() -> bool:
        view = await store.member_view(None, calligrapher)
        return view is not None and view.reported_in

    await until(reported)
    team = wish(
        hood.home,
        start=next_saturday_morning() + timedelta(hours=1),
        headcount=2,
        skills=("tutoring", "calligraphy"),
        title="为孩子辅导作业并教写毛笔字",
    )
    team.team = True
    task = await post(task_stub, hood.staff, team)
    assert task.team
    await seen_task(matching_rt, task.id)

    done = await run(match_stub, hood)

    planned = await match_stub.ListMatchAssignments(
        matching_pb2.ListMatchAssignmentsRequest(run_id=done.id, page_size=100),
        metadata=hood.staff,
    )
    mine = {a.member_id: a for a in planned.assignments if a.task_id == task.id}
    assert len(mine) == 2 and calligrapher in mine
    assert list(mine[calligrapher].covers) == ["calligraphy"]
    [tutor] = [m for m in mine if m != calligrapher]
    assert "tutoring" in mine[tutor].covers
    assert all("covers" in a.explanation for a in mine.values())

    async def proposed() -> bool:
        got = await assignments(task_stub, hood, task.id)
        return {a.member_id for a in got if a.state == PROPOSED} == set(mine)

    await until(proposed)
