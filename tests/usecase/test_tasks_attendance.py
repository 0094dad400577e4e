"""Check-in and hours as use cases on the in-memory store: who may get a code, check in, ask for,
decide and see hours, and what each writes and announces."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.common.auth import Principal, Role
from services.common.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.common.settings import TasksSettings
from services.tasks import convert
from services.tasks.attendance import AttendanceCases
from services.tasks.domain import Outcome
from services.tasks.domain.attendance import Evidence, Purpose
from services.tasks.domain.hours import Decision, HoursState
from services.tasks.queries import TaskQueries
from tests.task_builders import SERVICE, STATION, fixed, new_hood, new_member, wish
from tests.usecase.tasks_setup import World


def member(member_id: str) -> Principal:
    return Principal(member_id, Role.MEMBER)


def cases(world: World) -> AttendanceCases:
    return AttendanceCases(world.store, TasksSettings(grpc_port=0), world.clock)


async def setup(world: World, members: int = 2):  # type: ignore[no-untyped-def]
    hood = await new_hood(world.store)
    start = world.clock.now + timedelta(days=2)
    _, task = await world.tasks.post_wish(
        hood.staff, f"r-{uuid.uuid4()}", wish(hood, fixed(start), headcount=members + 1)
    )
    ids = [await new_member(world.store, hood) for _ in range(members)]
    for m in ids:
        await world.tasks.claim(member(m), task.id, "")
    world.clock.now = start
    return hood, task, ids


async def test_staff_of_the_task_get_its_code_and_no_one_else(world: World) -> None:
    hood, task, (m, _) = await setup(world)
    other = await new_hood(world.store)
    att = cases(world)
    code, text = await att.check_in_code(hood.staff, task.id, Purpose.CHECK_IN)
    assert code.code in text
    for who in (other.staff, member(m)):
        with pytest.raises(PermissionDenied) as foreign:
            await att.check_in_code(who, task.id, Purpose.CHECK_IN)
        with pytest.raises(PermissionDenied) as missing:
            await att.check_in_code(who, str(uuid.uuid4()), Purpose.CHECK_IN)
        assert foreign.value.message == missing.value.message


async def test_the_apps_backend_checks_in_for_a_member_it_names(world: World) -> None:
    hood, task, (m, _) = await setup(world)
    att = cases(world)
    code, _ = await att.check_in_code(hood.staff, task.id, Purpose.CHECK_IN)
    with pytest.raises(InvalidArgument):
        await att.check(SERVICE, task.id, "", Purpose.CHECK_IN, code.code, STATION)
    with pytest.raises(PermissionDenied):
        await att.check(hood.staff, task.id, m, Purpose.CHECK_IN, code.code, STATION)
    done = await att.check(SERVICE, task.id, m, Purpose.CHECK_IN, code.code, STATION)
    assert (done.member_id, done.evidence) == (m, Evidence.CODE_AND_PLACE)


async def test_hours_confirmed_requested_and_listed_by_who_may_see_them(world: World) -> None:
    hood, task, (came, asked) = await setup(world)
    att = cases(world)
    code, _ = await att.check_in_code(hood.staff, task.id, Purpose.CHECK_IN)
    await att.check(member(came), task.id, "", Purpose.CHECK_IN, code.code, STATION)
    world.clock.advance(timedelta(hours=3))
    await world.tasks.complete_task(
        hood.staff, task.id, (Outcome(came, 2, False), Outcome(asked, 2, False)), 5, ""
    )
    (proposal,) = await att.proposals(hood.staff, task.id)
    assert (proposal.member_id, proposal.minutes) == (came, 120)
    (confirmed,) = await att.confirm(hood.staff, task.id, [Decision(came, None, "")])
    request = await att.request(member(asked), task.id, "", 100, "没带手机")
    with pytest.raises(FailedPrecondition):
        await att.request(member(came), task.id, "", 100, "")  # checked in: no request
    with pytest.raises(PermissionDenied):
        await att.approve(member(asked), request.id)
    approved = await att.approve(hood.staff, request.id)
    assert approved.state is HoursState.CONFIRMED and approved.evidence is Evidence.STAFF_WORD
    assert world.subjects()[-3:] == [
        "linli.tasks.hours.confirmed",
        "linli.tasks.hours.requested",
        "linli.tasks.hours.confirmed",
    ]
    mine = await att.list_records(
        member(came), member_id="", task_id="", community_id="", after=None, limit=10
    )
    assert [r.id for r in mine] == [confirmed.id]
    other = await new_hood(world.store)
    assert (
        await att.list_records(
            other.staff, member_id="", task_id=task.id, community_id="", after=None, limit=10
        )
        == []
    )
    ours = await att.list_records(
        hood.staff, member_id="", task_id=task.id, community_id="", after=None, limit=10
    )
    assert {r.id for r in ours} == {confirmed.id, approved.id}


async def test_a_members_export_holds_their_check_ins_and_hours_records(world: World) -> None:
    hood, task, (m,) = await setup(world, members=1)
    att = cases(world)
    code, _ = await att.check_in_code(hood.staff, task.id, Purpose.CHECK_IN)
    await att.check(member(m), task.id, "", Purpose.CHECK_IN, code.code, STATION)
    world.clock.advance(timedelta(hours=3))
    await world.tasks.complete_task(hood.staff, task.id, (Outcome(m, 2, False),), 5, "")
    (record,) = await att.confirm(hood.staff, task.id, [Decision(m, None, "")])
    queries = TaskQueries(world.store, TasksSettings(grpc_port=0), world.clock)
    export = convert.member_export(await queries.export_member(member(m), m))
    assert [a["task_id"] for a in export["attendance"]] == [task.id]
    assert [r["id"] for r in export["hours_records"]] == [record.id]
