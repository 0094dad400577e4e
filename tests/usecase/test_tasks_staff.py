"""What staff do: post a wish once per request id, cancel and complete tasks of their own
community, run a role; and what the sweep does when a task's time comes."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.common.auth import Principal, Role
from services.common.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.tasks.domain import AssignmentState, Outcome, TaskStatus, WeeklySchedule
from tests.task_builders import fixed, new_hood, new_member, role, wish
from tests.usecase.tasks_setup import World
from tests.usecase.test_tasks_claims import post


def member(member_id: str) -> Principal:
    return Principal(member_id, Role.MEMBER)


async def test_a_wish_is_posted_once_per_request_id(world: World) -> None:
    hood = await new_hood(world.store)
    draft = wish(hood, fixed(world.clock.now + timedelta(days=2)))
    first = await world.tasks.post_wish(hood.staff, "req-1", draft)
    assert await world.tasks.post_wish(hood.staff, "req-1", draft) == first
    with pytest.raises(FailedPrecondition) as reused:
        await world.tasks.post_wish(hood.staff, "req-1", wish(hood, draft.window, headcount=2))  # type: ignore[arg-type]
    assert reused.value.reason == "REQUEST_ID_REUSED"
    assert world.subjects().count("linli.tasks.task.posted") == 1


async def test_only_staff_of_the_community_post_there(world: World) -> None:
    hood, other = await new_hood(world.store), await new_hood(world.store)
    draft = wish(hood, fixed(world.clock.now + timedelta(days=2)))
    with pytest.raises(PermissionDenied):
        await world.tasks.post_wish(member(str(uuid.uuid4())), "r", draft)
    with pytest.raises(PermissionDenied):
        await world.tasks.post_wish(other.staff, "r", draft)
    with pytest.raises(InvalidArgument):
        await world.tasks.post_wish(hood.staff, "r", wish(hood, fixed(world.clock.now)))
    assert world.store.tasks == {}


async def test_staff_cancel_their_own_tasks_with_a_reason(world: World) -> None:
    hood, other = await new_hood(world.store), await new_hood(world.store)
    task = await post(world, hood)
    me = await new_member(world.store, hood)
    await world.tasks.claim(member(me), task.id, "")
    with pytest.raises(InvalidArgument):
        await world.tasks.cancel_task(hood.staff, task.id, "")
    with pytest.raises(PermissionDenied):
        await world.tasks.cancel_task(other.staff, task.id, "not ours")
    cancelled = await world.tasks.cancel_task(hood.staff, task.id, "resident moved")
    assert (cancelled.status, cancelled.places_taken) == (TaskStatus.CANCELLED, 0)
    [a] = world.store.assignments.values()
    assert (a.state, a.reason) == (AssignmentState.CANCELLED, "resident moved")


async def test_a_completed_task_logs_the_hours_of_every_accepted_member(world: World) -> None:
    hood = await new_hood(world.store)
    task = await post(world, hood, headcount=2)
    came, missed = await new_member(world.store, hood), await new_member(world.store, hood)
    await world.tasks.claim(member(came), task.id, "")
    await world.tasks.claim(member(missed), task.id, "")
    world.clock.now = task.window.end
    with pytest.raises(InvalidArgument):  # an outcome for every accepted member
        await world.tasks.complete_task(hood.staff, task.id, (Outcome(came, 2, False),), 5, "")
    outcomes = (Outcome(came, 2.0, False), Outcome(missed, 0, True))
    done, assignments = await world.tasks.complete_task(hood.staff, task.id, outcomes, 4, "好")
    assert done.status is TaskStatus.COMPLETED
    assert {a.state for a in assignments} == {AssignmentState.COMPLETED, AssignmentState.NO_SHOW}
    record = await world.store.member_record(came, world.clock.now)
    assert (record.hours_total, record.tasks_done) == (2.0, 1)


async def test_the_sweep_closes_tasks_whose_time_came(world: World) -> None:
    hood = await new_hood(world.store)
    taken, empty = await post(world, hood, days=1), await post(world, hood, days=1)
    await world.tasks.claim(member(await new_member(world.store, hood)), taken.id, "")
    world.clock.advance(timedelta(days=1, hours=1))
    assert (await world.tasks.sweep())["tasks_closed"] == 2
    assert (await world.store.get_task(taken.id)).status is TaskStatus.CLOSED  # type: ignore[union-attr]
    assert (await world.store.get_task(empty.id)).status is TaskStatus.EXPIRED  # type: ignore[union-attr]


async def test_a_role_runs_ahead_of_time_and_its_end_cancels_what_is_to_come(
    world: World,
) -> None:
    hood = await new_hood(world.store)
    today = world.clock.now.date()
    schedule = WeeklySchedule((1, 3, 5), 16 * 60 + 30, 18 * 60, today, None)
    created, generated = await world.tasks.create_role(hood.staff, "r", role(hood, schedule))
    assert generated == 6  # two weeks of Mondays, Wednesdays and Fridays
    world.clock.advance(timedelta(days=7))
    assert (await world.tasks.sweep())["generated"] == 3
    ended, cancelled = await world.tasks.end_role(hood.staff, created.id, "term over")
    assert ended.ended and cancelled == 6
