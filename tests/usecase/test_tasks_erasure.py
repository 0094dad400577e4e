"""A member's export from the task service, and what their erasure (MemberErased, through the
service's handler table) changes there: the read model's row sealed, places freed, their words
gone, their hours kept."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from linli.v1 import events_pb2
from services.common.auth import Principal, Role
from services.common.errors import NotFound, PermissionDenied
from services.common.eventbus import envelope
from services.common.settings import TasksSettings
from services.common.subjects import MEMBER_ERASED
from services.tasks.domain import AssignmentState, MemberView, Task
from services.tasks.handlers import event_table
from services.tasks.queries import TaskQueries
from tests.task_builders import STATION, Hood, fixed, new_hood, new_member, wish
from tests.usecase.tasks_setup import World

ADMIN = Principal("district-admin", Role.DISTRICT_ADMIN)


def queries(world: World) -> TaskQueries:
    return TaskQueries(world.store, TasksSettings(), world.clock)


def member(member_id: str) -> Principal:
    return Principal(member_id, Role.MEMBER)


async def post(world: World, hood: Hood, days: float = 2) -> Task:
    draft = wish(hood, fixed(world.clock.now + timedelta(days=days)))
    _, task = await world.tasks.post_wish(hood.staff, str(uuid.uuid4()), draft)
    return task


async def erase(world: World, member_id: str, community_id: str) -> None:
    table = event_table(world.store, TasksSettings(), world.clock)
    payload = events_pb2.MemberErased(member_id=member_id, community_id=community_id)
    env = envelope(source="registry", subj=MEMBER_ERASED, payload=payload, actor=None)
    async with world.store.transaction() as conn:
        await table.apply(conn, env)


async def test_erasure_frees_the_members_places_and_forgets_their_words(world: World) -> None:
    hood = await new_hood(world.store)
    held, left = await post(world, hood), await post(world, hood, days=3)
    me = await new_member(world.store, hood)
    await world.tasks.claim(member(me), held.id, "")
    claimed, _ = await world.tasks.claim(member(me), left.id, "")
    await world.tasks.withdraw(member(me), claimed.id, "孩子生病了，王芳")
    await erase(world, me, hood.community)
    view = world.store.members[me]
    assert view == MemberView(me, hood.community, hood.street, False, False)
    assert world.store.tasks[held.id].places_taken == 0
    mine = [a for a in world.store.assignments.values() if a.member_id == me]
    assert all(a.reason == "" for a in mine)
    assert {a.state for a in mine} == {AssignmentState.WITHDRAWN}
    for _subject, payload in world.store.outbox:
        if isinstance(payload, events_pb2.AssignmentChanged):
            assert "王芳" not in payload.assignment.reason


async def test_a_snapshot_still_travelling_does_not_bring_the_member_back(world: World) -> None:
    hood = await new_hood(world.store)
    me = await new_member(world.store, hood)
    await erase(world, me, hood.community)
    late = MemberView(me, hood.community, hood.street, True, True)
    async with world.store.transaction() as conn:
        await world.store.apply_member(
            conn,
            late,
            skills="[]",
            availability="[]",
            hours_per_month=8,
            home=STATION,
            version=datetime.now(UTC) + timedelta(days=365),
        )
    assert not world.store.members[me].active


async def test_a_member_exports_their_assignments_tasks_and_record(world: World) -> None:
    hood = await new_hood(world.store)
    task = await post(world, hood)
    me = await new_member(world.store, hood)
    a, _ = await world.tasks.claim(member(me), task.id, "")
    export = await queries(world).export_member(member(me), me)
    assert [x.id for x in export.assignments] == [a.id]
    assert export.tasks[task.id].id == task.id
    assert export.copy is not None and export.copy["community_id"] == hood.community
    assert export.record.member_id == me and export.record.upcoming == 1
    by_admin = await queries(world).export_member(ADMIN, me)
    assert by_admin.assignments == export.assignments


async def test_staff_may_not_export_and_other_members_are_told_nothing(world: World) -> None:
    hood = await new_hood(world.store)
    me, other = await new_member(world.store, hood), await new_member(world.store, hood)
    with pytest.raises(PermissionDenied):
        await queries(world).export_member(hood.staff, me)
    with pytest.raises(NotFound):
        await queries(world).export_member(member(other), me)
