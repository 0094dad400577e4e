"""A member's answers to a place: accept or decline a proposal, withdraw from an accepted place,
and proposals that expire unanswered when time passes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.common.auth import Principal, Role
from services.common.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.tasks.domain import Assignment, AssignmentState
from tests.task_builders import Hood, new_hood, new_member
from tests.usecase.tasks_setup import World
from tests.usecase.test_tasks_claims import post


def member(member_id: str) -> Principal:
    return Principal(member_id, Role.MEMBER)


async def proposed(world: World, hood: Hood, headcount: int = 1) -> tuple[str, Assignment]:
    """A member of `hood` proposed for a new task by a match run."""
    task = await post(world, hood, headcount)
    me = await new_member(world.store, hood)
    ttl = timedelta(seconds=world.tasks.settings.proposal_ttl_s)
    async with world.store.transaction() as conn:
        assert await world.store.propose(conn, "run", task.id, me, None, world.clock(), ttl) is None
    [a] = await world.store.list_assignments(
        task_id=task.id, member_id=me, states=[], after=None, limit=1
    )
    return me, a


async def test_a_member_accepts_a_proposal(world: World) -> None:
    me, a = await proposed(world, await new_hood(world.store))
    accepted = await world.tasks.accept(member(me), a.id)
    assert accepted.state is AssignmentState.ACCEPTED
    task = await world.store.get_task(a.task_id)
    assert task is not None and (task.places_taken, task.accepted) == (1, 1)


async def test_a_declined_proposal_frees_its_place_and_keeps_the_reason(world: World) -> None:
    me, a = await proposed(world, await new_hood(world.store))
    declined = await world.tasks.decline(member(me), a.id, "away that week")
    assert (declined.state, declined.reason) == (AssignmentState.DECLINED, "away that week")
    task = await world.store.get_task(a.task_id)
    assert task is not None and task.places_taken == 0
    assert world.subjects()[-1] == "linli.tasks.assignment.declined"


async def test_members_answer_only_for_themselves_and_staff_not_at_all(world: World) -> None:
    hood = await new_hood(world.store)
    _, a = await proposed(world, hood)
    stranger = await new_member(world.store, hood)
    with pytest.raises(PermissionDenied):
        await world.tasks.accept(member(stranger), a.id)
    with pytest.raises(PermissionDenied):
        await world.tasks.accept(hood.staff, a.id)
    assert (await world.store.get_assignment(a.id)).state is AssignmentState.PROPOSED  # type: ignore[union-attr]


async def test_a_withdrawal_needs_a_sane_reason_and_comes_before_the_task_begins(
    world: World,
) -> None:
    hood = await new_hood(world.store)
    me, a = await proposed(world, hood, headcount=2)
    await world.tasks.accept(member(me), a.id)
    with pytest.raises(InvalidArgument):
        await world.tasks.withdraw(member(me), a.id, "x" * 1000)
    task = await world.store.get_task(a.task_id)
    assert task is not None
    world.clock.now = task.window.start
    with pytest.raises(FailedPrecondition) as started:
        await world.tasks.withdraw(member(me), a.id, "too late")
    assert started.value.reason == "TASK_STARTED"
    world.clock.now = task.window.start - timedelta(hours=1)
    withdrawn = await world.tasks.withdraw(member(me), a.id, "ill")
    assert withdrawn.state is AssignmentState.WITHDRAWN


async def test_an_unanswered_proposal_expires_when_the_sweep_runs(world: World) -> None:
    me, a = await proposed(world, await new_hood(world.store))
    world.clock.advance(timedelta(seconds=world.tasks.settings.proposal_ttl_s))
    counts = await world.tasks.sweep()
    assert counts["proposals_expired"] == 1
    with pytest.raises(FailedPrecondition) as gone:
        await world.tasks.accept(member(me), a.id)
    assert gone.value.reason == "ASSIGNMENT_STATE"
