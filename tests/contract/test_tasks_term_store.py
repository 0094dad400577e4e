"""The task stores alike on planning over a term: a role's team, paired unit and over-booking
cap reach its tasks, and an over-booked event holds proposals beyond its headcount while
accepting no more than it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.tasks.domain import (
    AssignmentState,
    OneOffSchedule,
    RequiredSkill,
    RoleDraft,
    Task,
    TaskStatus,
)
from services.tasks.domain.places import HEADCOUNT_REACHED
from services.tasks.store import Scope, TaskStorePort
from tests.contract.conftest import StoreUnderTest
from tests.contract.test_tasks_store import allow, posted, propose
from tests.task_builders import SERVICE, Hood, fixed, new_hood, new_member, role

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
TWO_SKILLS = (RequiredSkill("errands", 1), RequiredSkill("first_aid", 1))


async def one_off(store: TaskStorePort, hood: Hood, **changes: object) -> tuple[RoleDraft, Task]:
    """A one-off role posted straight to the store (the threshold is the service's to check),
    and its one task."""
    once = OneOffSchedule(fixed(NOW + timedelta(days=3)))
    draft = role(hood, once, **changes)
    r, generated, _ = await store.create_role(
        f"r-{hood.community}", "fp", draft, hood.street, hood.staff, NOW, timedelta(days=7)
    )
    assert generated == 1 and await store.get_role(r.id) == (r, hood.street)
    [task] = await store.list_tasks(
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
    return r.draft, task


async def test_a_roles_team_unit_and_cap_reach_its_task(under_test: StoreUnderTest) -> None:
    hood = await new_hood(under_test.store)
    draft, task = await one_off(
        under_test.store, hood, headcount=30, overbook_cap=5, team=True, skills=TWO_SKILLS
    )
    assert (draft.team, draft.overbook_cap) == (True, 5)
    assert (task.unit_id, task.team, task.overbook_cap) == (hood.unit, True, 5)


async def test_a_team_wishs_task_is_a_team_task(under_test: StoreUnderTest) -> None:
    store = under_test.store
    hood = await new_hood(store)
    task = await posted(store, hood, headcount=2, team=True, skills=TWO_SKILLS)
    stored = await store.get_task(task.id)
    assert stored is not None and (stored.team, stored.overbook_cap, stored.unit_id) == (
        True,
        0,
        "",
    )


async def test_an_over_booked_task_accepts_no_more_than_its_headcount(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    _, task = await one_off(store, hood, headcount=2, overbook_cap=2)
    members = [await new_member(store, hood) for _ in range(5)]
    answers = [await propose(store, task.id, m) for m in members]
    assert answers[:4] == [None] * 4 and answers[4] is not None
    held = await store.get_task(task.id)
    assert held is not None and (held.places_taken, held.status) == (4, TaskStatus.FILLED)
    offers = {
        a.member_id: a
        for a in await store.list_assignments(
            task_id=task.id, member_id="", states=[], after=None, limit=10
        )
    }
    for m in members[:2]:
        await store.change_assignment(offers[m].id, AssignmentState.ACCEPTED, SERVICE, NOW, allow)
    after = await store.get_task(task.id)
    assert after is not None and (after.accepted, after.places_taken) == (2, 2)
    for m in members[2:4]:
        late = await store.get_assignment(offers[m].id)
        assert late is not None and (late.state, late.reason) == (
            AssignmentState.WITHDRAWN,
            HEADCOUNT_REACHED,
        )
    assert "linli.tasks.assignment.withdrawn" in await under_test.subjects()
