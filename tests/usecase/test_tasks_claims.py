"""Claiming a place, as the service decides it: who may claim for whom, what a member outside a
task's reach learns, and the refusals a claim ends in."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.common.auth import Principal, Role
from services.common.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.tasks.domain import AssignmentState, Task, TaskStatus
from tests.task_builders import SERVICE, Hood, fixed, new_hood, new_member, wish
from tests.usecase.tasks_setup import World


def member(member_id: str) -> Principal:
    return Principal(member_id, Role.MEMBER)


async def post(world: World, hood: Hood, headcount: int = 1, days: float = 2) -> Task:
    draft = wish(hood, fixed(world.clock.now + timedelta(days=days)), headcount=headcount)
    _, task = await world.tasks.post_wish(hood.staff, str(uuid.uuid4()), draft)
    return task


async def test_a_member_claims_a_place_for_themselves(world: World) -> None:
    hood = await new_hood(world.store)
    task = await post(world, hood)
    me = await new_member(world.store, hood)
    a, after = await world.tasks.claim(member(me), task.id, "")
    assert (a.member_id, a.state) == (me, AssignmentState.ACCEPTED)
    assert (after.places_taken, after.status) == (1, TaskStatus.FILLED)
    assert world.subjects()[-1] == "linli.tasks.assignment.claimed"


async def test_a_member_acts_only_as_themselves_and_staff_do_not_claim(world: World) -> None:
    hood = await new_hood(world.store)
    task = await post(world, hood)
    me, other = await new_member(world.store, hood), await new_member(world.store, hood)
    with pytest.raises(PermissionDenied):
        await world.tasks.claim(member(me), task.id, other)
    with pytest.raises(PermissionDenied):
        await world.tasks.claim(hood.staff, task.id, me)
    assert (await world.store.get_task(task.id)).places_taken == 0  # type: ignore[union-attr]


async def test_the_app_backend_claims_for_the_member_it_names(world: World) -> None:
    hood = await new_hood(world.store)
    task = await post(world, hood)
    me = await new_member(world.store, hood)
    with pytest.raises(InvalidArgument):
        await world.tasks.claim(SERVICE, task.id, "")
    a, _ = await world.tasks.claim(SERVICE, task.id, me)
    assert a.member_id == me


async def test_a_task_outside_a_members_reach_is_refused_as_a_missing_one_is(
    world: World,
) -> None:
    hood, other = await new_hood(world.store), await new_hood(world.store)
    foreign = await post(world, other)
    me = await new_member(world.store, hood)
    with pytest.raises(PermissionDenied) as outside:
        await world.tasks.claim(member(me), foreign.id, "")
    with pytest.raises(PermissionDenied) as missing:
        await world.tasks.claim(member(me), str(uuid.uuid4()), "")
    assert str(outside.value) == str(missing.value)
    assert (await world.store.get_task(foreign.id)).places_taken == 0  # type: ignore[union-attr]


async def test_a_refused_claim_names_its_refusal(world: World) -> None:
    hood = await new_hood(world.store)
    task = await post(world, hood)
    first, second = await new_member(world.store, hood), await new_member(world.store, hood)
    await world.tasks.claim(member(first), task.id, "")
    with pytest.raises(FailedPrecondition) as full:
        await world.tasks.claim(member(second), task.id, "")
    assert full.value.reason == "CLAIM_REFUSED"
    assert full.value.metadata["refusal"] == "TASK_FULL"


async def test_two_claims_at_overlapping_times_leave_one_place_taken(world: World) -> None:
    hood = await new_hood(world.store)
    one, two = await post(world, hood), await post(world, hood)  # the same window
    me = await new_member(world.store, hood)
    await world.tasks.claim(member(me), one.id, "")
    with pytest.raises(FailedPrecondition) as clash:
        await world.tasks.claim(member(me), two.id, "")
    assert clash.value.metadata["refusal"] == "TIME_CONFLICT"
    assert (await world.store.get_task(two.id)).places_taken == 0  # type: ignore[union-attr]
