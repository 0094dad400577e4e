"""The member's month as the service decides it: who may wait on a standby list and read it,
answer "will you come?", change a task and read a calendar; and the reminder loop as time
passes."""

from __future__ import annotations

import uuid
from datetime import timedelta

import icalendar
import pytest

from services.common.auth import Principal, Role
from services.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.tasks.domain import AssignmentState, Task
from services.tasks.domain.update import TaskPatch
from tests.task_builders import SERVICE, Hood, fixed, new_hood, new_member, wish
from tests.usecase.tasks_setup import World


def member(member_id: str) -> Principal:
    return Principal(member_id, Role.MEMBER)


async def full(world: World, hood: Hood, days: float = 1.5) -> tuple[Task, str, str]:
    draft = wish(hood, fixed(world.clock.now + timedelta(days=days)), skills=())
    _, task = await world.tasks.post_wish(hood.staff, str(uuid.uuid4()), draft)
    holder = await new_member(world.store, hood)
    a, task = await world.tasks.claim(member(holder), task.id, "")
    return task, holder, a.id


async def test_members_and_the_app_join_standby_lists_and_staff_read_them(world: World) -> None:
    hood = await new_hood(world.store)
    task, _, _ = await full(world, hood)
    me, other = await new_member(world.store, hood), await new_member(world.store, hood)

    await world.tasks.join_standby(member(me), task.id, "")
    world.clock.advance(timedelta(minutes=1))
    await world.tasks.join_standby(SERVICE, task.id, other)

    assert [e.member_id for e in await world.tasks.list_standby(hood.staff, task.id)] == [me, other]
    assert [e.member_id for e in await world.tasks.list_standby(member(me), "")] == [me]
    with pytest.raises(PermissionDenied):
        await world.tasks.join_standby(member(me), task.id, other)
    with pytest.raises(PermissionDenied):
        await world.tasks.join_standby(hood.staff, task.id, me)
    in_scope = await world.tasks.list_standby(hood.staff, "")
    assert [e.member_id for e in in_scope] == [me, other]
    stranger = await new_hood(world.store)
    with pytest.raises(PermissionDenied):
        await world.tasks.list_standby(stranger.staff, task.id)
    assert await world.tasks.list_standby(stranger.staff, "") == []
    assert world.subjects()[-1] == "linli.tasks.standby.joined"
    assert await world.tasks.leave_standby(member(me), task.id, "")
    assert world.subjects()[-1] == "linli.tasks.standby.left"


async def test_a_member_answers_will_you_come_only_for_themselves(world: World) -> None:
    hood = await new_hood(world.store)
    task, holder, held = await full(world, hood)
    someone = await new_member(world.store, hood)
    with pytest.raises(PermissionDenied) as foreign:
        await world.tasks.confirm(member(someone), held)
    with pytest.raises(PermissionDenied) as missing:
        await world.tasks.confirm(member(someone), str(uuid.uuid4()))
    assert str(foreign.value) == str(missing.value)
    with pytest.raises(PermissionDenied):
        await world.tasks.release(hood.staff, held)
    with pytest.raises(NotFound):
        await world.tasks.release(SERVICE, str(uuid.uuid4()))

    confirmed = await world.tasks.confirm(member(holder), held)
    released = await world.tasks.release(member(holder), held)

    assert confirmed.confirmed_at == world.clock.now
    assert (released.state, released.reason) == (AssignmentState.WITHDRAWN, "released")
    assert world.subjects()[-1] == "linli.tasks.assignment.withdrawn"
    after = await world.store.get_task(task.id)
    assert after is not None and after.places_taken == 0


async def test_the_reminder_loop_asks_alerts_and_tells_staff_of_empty_places(world: World) -> None:
    hood = await new_hood(world.store)
    await full(world, hood)
    draft = wish(hood, fixed(world.clock.now + timedelta(days=1)), headcount=2)
    await world.tasks.post_wish(hood.staff, str(uuid.uuid4()), draft)

    first = await world.tasks.remind()
    world.clock.advance(timedelta(hours=20))
    second = await world.tasks.remind()

    assert first == {
        "confirmations_requested": 1,
        "confirmations_overdue": 0,
        "places_left_empty": 1,
    }
    assert second == {
        "confirmations_requested": 0,
        "confirmations_overdue": 1,
        "places_left_empty": 0,
    }
    subjects = world.subjects()
    for subject in (
        "linli.tasks.confirmation.requested",
        "linli.tasks.confirmation.overdue",
        "linli.tasks.place.empty",
    ):
        assert subjects.count(subject) == 1


async def test_staff_change_tasks_of_their_scope_and_the_calendar_follows(world: World) -> None:
    hood = await new_hood(world.store)
    task, holder, held = await full(world, hood, days=4)
    later = fixed(task.window.start + timedelta(hours=2))
    patch = TaskPatch(later, None, "", "", "", 0)
    stranger = await new_hood(world.store)
    with pytest.raises(PermissionDenied):
        await world.tasks.update_task(stranger.staff, task.id, patch, ["window"], "")
    with pytest.raises(PermissionDenied):
        await world.tasks.update_task(member(holder), task.id, patch, ["window"], "")
    with pytest.raises(InvalidArgument):
        await world.tasks.update_task(hood.staff, task.id, patch, [], "")

    changed = await world.tasks.update_task(hood.staff, task.id, patch, ["window"], "场地调整")

    assert (changed.window, changed.revision) == (later, 1)
    assert world.subjects()[-1] == "linli.tasks.task.changed"
    feed = icalendar.Calendar.from_ical(await world.tasks.member_calendar(member(holder), ""))
    [event] = feed.walk("VEVENT")
    assert str(event["UID"]) == f"{held}@tasks.linli"
    assert int(event["SEQUENCE"]) == 1
    assert event["DTSTART"].dt == later.start
    assert str(event["LOCATION"]) == "清华园3号楼2单元401"  # the holder sees the address
    with pytest.raises(PermissionDenied):
        await world.tasks.member_calendar(member(holder), str(uuid.uuid4()))
    with pytest.raises(PermissionDenied):
        await world.tasks.member_calendar(hood.staff, holder)


async def test_a_task_that_has_begun_is_no_longer_changed(world: World) -> None:
    hood = await new_hood(world.store)
    task, _, _ = await full(world, hood)
    world.clock.advance(timedelta(days=2))
    patch = TaskPatch(None, None, "", "新标题", "", 0)
    with pytest.raises(FailedPrecondition):
        await world.tasks.update_task(hood.staff, task.id, patch, ["title"], "")


async def test_leaving_tells_an_outsider_nothing_of_a_task_out_of_sight(world: World) -> None:
    hood, elsewhere = await new_hood(world.store), await new_hood(world.store)
    task, _, _ = await full(world, hood)
    outsider = await new_member(world.store, elsewhere)
    with pytest.raises(PermissionDenied) as foreign:
        await world.tasks.leave_standby(member(outsider), task.id, "")
    with pytest.raises(PermissionDenied) as missing:
        await world.tasks.leave_standby(member(outsider), str(uuid.uuid4()), "")
    assert str(foreign.value) == str(missing.value)
