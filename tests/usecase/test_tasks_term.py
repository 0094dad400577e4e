"""Planning over a term, on the task service's side: a large event's role over-booked within its
cap, its tasks carrying the paired unit and the team, and a team wish's places."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.common.errors import FailedPrecondition, InvalidArgument
from services.tasks.domain import (
    AssignmentState,
    OneOffSchedule,
    RequiredSkill,
    Task,
    TaskStatus,
)
from services.tasks.domain.places import HEADCOUNT_REACHED
from services.tasks.store.scope import Scope
from tests.task_builders import Hood, fixed, new_hood, new_member, role, wish
from tests.usecase.tasks_setup import World
from tests.usecase.test_tasks_answers import member

TWO_SKILLS = (RequiredSkill("errands", 1), RequiredSkill("first_aid", 1))


async def dedication_day(world: World, hood: Hood, headcount: int, cap: int) -> Task:
    once = OneOffSchedule(fixed(world.clock.now + timedelta(days=3), 3))
    draft = role(hood, once, headcount=headcount, overbook_cap=cap, title="党员奉献日")
    created, generated = await world.tasks.create_role(hood.staff, str(uuid.uuid4()), draft)
    assert generated == 1 and created.draft.overbook_cap == cap
    [task] = await world.store.list_tasks(
        Scope(community_ids=[hood.community]),
        community_id=hood.community,
        statuses=[],
        beneficiary=None,
        skill="",
        start_after=None,
        start_before=None,
        after=None,
        limit=10,
    )
    return task


async def test_a_large_events_tasks_carry_the_unit_and_the_cap(world: World) -> None:
    hood = await new_hood(world.store)
    task = await dedication_day(world, hood, headcount=20, cap=4)
    assert (task.unit_id, task.overbook_cap, task.team) == (hood.unit, 4, False)


async def test_a_small_event_with_a_cap_is_refused_on_its_field(world: World) -> None:
    hood = await new_hood(world.store)
    once = OneOffSchedule(fixed(world.clock.now + timedelta(days=3), 3))
    with pytest.raises(InvalidArgument) as caught:
        await world.tasks.create_role(
            hood.staff, "small", role(hood, once, headcount=5, overbook_cap=2)
        )
    assert [v.field for v in caught.value.violations] == ["role.overbook_cap"]


async def test_an_over_booked_event_ends_with_its_headcount_accepted(world: World) -> None:
    hood = await new_hood(world.store)
    task = await dedication_day(world, hood, headcount=20, cap=3)
    ttl = timedelta(hours=1)
    members = [await new_member(world.store, hood) for _ in range(24)]
    refused = []
    for m in members:
        async with world.store.transaction() as conn:
            why = await world.store.propose(conn, "run", task.id, m, None, world.clock(), ttl)
        if why is not None:
            refused.append(m)
    assert refused == members[23:]  # headcount 20 + cap 3 places held, no more
    offers = {
        a.member_id: a
        for a in await world.store.list_assignments(
            task_id=task.id, member_id="", states=[], after=None, limit=100
        )
    }
    for m in members[:20]:
        await world.tasks.accept(member(m), offers[m].id)
    after = await world.store.get_task(task.id)
    assert after is not None
    assert (after.accepted, after.places_taken, after.status) == (20, 20, TaskStatus.FILLED)
    for m in members[20:23]:
        late = await world.store.get_assignment(offers[m].id)
        assert late is not None
        assert (late.state, late.reason) == (AssignmentState.WITHDRAWN, HEADCOUNT_REACHED)
        with pytest.raises(FailedPrecondition):
            await world.tasks.accept(member(m), offers[m].id)


async def test_a_team_wish_is_filled_through_proposals_not_claims(world: World) -> None:
    hood = await new_hood(world.store)
    draft = wish(
        hood,
        fixed(world.clock.now + timedelta(days=2)),
        team=True,
        skills=TWO_SKILLS,
        headcount=2,
    )
    posted, task = await world.tasks.post_wish(hood.staff, str(uuid.uuid4()), draft)
    assert posted.draft.team and task.team
    me = await new_member(world.store, hood)
    with pytest.raises(FailedPrecondition) as caught:
        await world.tasks.claim(member(me), task.id, "")
    assert caught.value.metadata["refusal"] == "TEAM_TASK"
