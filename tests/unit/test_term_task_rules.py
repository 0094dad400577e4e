"""The task service's rules for planning over a term: roles and wishes asking a team, a role's
paired unit reaching its tasks, and large one-off events over-booked within a cap."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.values import OVERBOOK_MIN_HEADCOUNT
from services.tasks import domain
from services.tasks.domain import (
    Assignment,
    AssignmentState,
    Change,
    OneOffSchedule,
    ProposalRejected,
    RequiredSkill,
    Task,
    TaskStatus,
    VolunteerRole,
)
from services.tasks.domain.places import HEADCOUNT_REACHED
from tests.unit.task_drafts import (
    BOUNDS,
    NOW,
    fields,
    fixed,
    local,
    member_view,
    role,
    role_violations,
    wish,
    wish_violations,
)
from tests.unit.test_task_rules import SOON, TTL, open_task, someone

TWO_SKILLS = (RequiredSkill("driving", 1), RequiredSkill("first_aid", 1))
DEDICATION_DAY = OneOffSchedule(fixed(local(2026, 5, 9, 9), 3))


def event(headcount: int = 3, cap: int = 2) -> Task:
    """A one-off event over-booked within `cap` (the threshold is the role's to check)."""
    return open_task(headcount=headcount, overbook_cap=cap)


def proposed(task: Task, member_id: str, live: tuple[Assignment, ...]) -> Change | ProposalRejected:
    return domain.propose(
        task, task.id, live, member_id, someone(member_id), None, "run", NOW, TTL, f"p-{member_id}"
    )


def live_of(assignments: dict[str, Assignment]) -> tuple[Assignment, ...]:
    return tuple(a for a in assignments.values() if a.state in domain.HOLDS_PLACE)


# -- what a role and a wish may ask -----------------------------------------------------------


def test_a_large_one_off_event_may_be_over_booked_up_to_its_headcount() -> None:
    big = role(schedule=DEDICATION_DAY, headcount=OVERBOOK_MIN_HEADCOUNT)
    assert role_violations(replace(big, overbook_cap=6)) == []
    assert role_violations(replace(big, overbook_cap=OVERBOOK_MIN_HEADCOUNT)) == []
    too_many = role_violations(replace(big, overbook_cap=OVERBOOK_MIN_HEADCOUNT + 1))
    assert fields(too_many) == {"role.overbook_cap"}
    assert fields(role_violations(replace(big, overbook_cap=-1))) == {"role.overbook_cap"}


def test_a_small_event_and_a_weekly_role_are_never_over_booked() -> None:
    small = role(schedule=DEDICATION_DAY, headcount=OVERBOOK_MIN_HEADCOUNT - 1, overbook_cap=2)
    [why] = role_violations(small)
    assert (
        why.field == "role.overbook_cap" and f"at least {OVERBOOK_MIN_HEADCOUNT}" in why.description
    )
    weekly = role(headcount=30, overbook_cap=3)
    assert fields(role_violations(weekly)) == {"role.overbook_cap"}


def test_the_threshold_is_the_shared_setting() -> None:
    small = role(schedule=DEDICATION_DAY, headcount=10, overbook_cap=2)
    assert domain.validate_role(small, NOW, BOUNDS, overbook_min_headcount=10).overbook_cap == 2


def test_a_wish_is_never_over_booked() -> None:
    assert fields(wish_violations(wish(headcount=30, overbook_cap=1))) == {"wish.overbook_cap"}


def test_a_team_asks_two_or_more_skills_of_two_or_more_people() -> None:
    assert wish_violations(wish(team=True, skills=TWO_SKILLS, headcount=2)) == []
    assert fields(wish_violations(wish(team=True, headcount=2))) == {"wish.team"}
    lone = wish_violations(wish(team=True, skills=TWO_SKILLS, headcount=1))
    assert fields(lone) == {"wish.team"}
    assert role_violations(role(team=True, skills=TWO_SKILLS, headcount=2)) == []


def test_a_roles_tasks_carry_its_unit_team_and_cap() -> None:
    draft = role(
        schedule=DEDICATION_DAY,
        headcount=30,
        overbook_cap=6,
        team=True,
        skills=TWO_SKILLS,
    )
    r = VolunteerRole("r1", domain.validate_role(draft, NOW, BOUNDS), False, NOW)
    [task] = domain.occurrence_tasks(r, "jiyang", NOW, NOW + timedelta(days=30), NOW)
    assert (task.unit_id, task.team, task.overbook_cap) == ("u-chengli-primary", True, 6)
    assert task.most_places == 36
    _, posted = domain.post_wish(
        domain.validate_wish(wish(team=True, skills=TWO_SKILLS, headcount=2), NOW, BOUNDS),
        "jiyang",
        NOW,
        "w1",
        "t1",
    )
    assert (posted.team, posted.overbook_cap, posted.unit_id) == (True, 0, "")


# -- over-booked places -----------------------------------------------------------------------


def test_an_over_booked_event_holds_proposals_beyond_its_headcount_up_to_the_cap() -> None:
    task, live = event(headcount=3, cap=2), ()
    for i in range(5):
        change = proposed(task, f"m{i}", live)
        assert isinstance(change, Change)
        task, live = change.task, live + change.written
    assert (task.places_taken, task.status) == (5, TaskStatus.FILLED)
    beyond = proposed(task, "m9", live)
    assert isinstance(beyond, ProposalRejected) and beyond.place_unavailable


def test_reaching_the_headcount_withdraws_the_open_proposals_with_the_reason() -> None:
    task, live = event(headcount=2, cap=2), ()
    for i in range(4):
        change = proposed(task, f"m{i}", live)
        assert isinstance(change, Change)
        task, live = change.task, live + change.written
    first = domain.accept(task, live[0], someone("m0"), None, NOW, live)
    assert len(first.written) == 1 and first.task.accepted == 1
    live = tuple(first.written[0] if a.id == live[0].id else a for a in live)
    second = domain.accept(first.task, live[1], someone("m1"), None, NOW, live)
    states = {a.member_id: (a.state, a.reason) for a in second.written}
    assert states == {
        "m1": (AssignmentState.ACCEPTED, ""),
        "m2": (AssignmentState.WITHDRAWN, HEADCOUNT_REACHED),
        "m3": (AssignmentState.WITHDRAWN, HEADCOUNT_REACHED),
    }
    assert second.assignment.member_id == "m1"
    assert (second.task.accepted, second.task.places_taken) == (2, 2)
    assert second.task.status is TaskStatus.FILLED


def test_an_accept_beyond_the_headcount_is_refused_as_full() -> None:
    task = replace(event(headcount=2, cap=2), places_taken=3, accepted=2)
    late = proposed(replace(task, places_taken=2, accepted=0, status=TaskStatus.OPEN), "m9", ())
    assert isinstance(late, Change)
    with pytest.raises(FailedPrecondition) as caught:
        domain.accept(task, late.assignment, someone("m9"), None, NOW)
    assert caught.value.metadata["refusal"] == "TASK_FULL"
    assert "headcount" in caught.value.message


def test_a_claim_takes_no_place_once_the_headcount_accepted() -> None:
    task = replace(event(headcount=2, cap=2), places_taken=2, accepted=2)
    with pytest.raises(FailedPrecondition) as caught:
        domain.claim(task, (), "m9", someone("m9"), None, NOW, "a9")
    assert caught.value.metadata["refusal"] == "TASK_FULL"


# A property: whatever members and matching do to an over-booked event, in any order, it holds
# at most headcount + cap places, never more than the headcount accepted, its counts are those
# of its live assignments, and no proposal is left open once the headcount accepted.

MEMBERS = tuple(f"m{i}" for i in range(7))
ACTIONS = ("claim", "propose", "accept", "decline", "withdraw", "expire")


def act(
    task: Task, assignments: dict[str, Assignment], step: tuple[str, str, int], n: int
) -> Change | ProposalRejected | None:
    action, member_id, minutes = step
    now = NOW + timedelta(minutes=minutes)
    live = live_of(assignments)
    mine = [a for a in live if a.member_id == member_id]
    if action == "claim":
        return domain.claim(task, live, member_id, someone(member_id), None, now, f"a{n}")
    if action == "propose":
        return domain.propose(
            task, task.id, live, member_id, someone(member_id), None, "r", now, TTL, f"a{n}"
        )
    if action == "expire":
        return domain.expire_proposals(task, live, now)
    if not mine:
        return None
    target = {
        "accept": AssignmentState.ACCEPTED,
        "decline": AssignmentState.DECLINED,
        "withdraw": AssignmentState.WITHDRAWN,
    }[action]
    return domain.answer(task, mine[0], target, someone(member_id), None, "", now, live)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(0, 3),
    st.lists(
        st.tuples(st.sampled_from(ACTIONS), st.sampled_from(MEMBERS), st.integers(0, 120)),
        max_size=40,
    ),
)
def test_an_over_booked_event_never_accepts_beyond_its_headcount(
    headcount: int, cap: int, steps: list[tuple[str, str, int]]
) -> None:
    task = event(headcount=headcount, cap=cap)
    assignments: dict[str, Assignment] = {}
    for n, step in enumerate(steps):
        with contextlib.suppress(FailedPrecondition, InvalidArgument):
            change = act(task, assignments, step, n)
            if isinstance(change, Change):
                assignments.update({a.id: a for a in change.written})
                task = change.task
        live = live_of(assignments)
        assert task.places_taken == len(live) <= headcount + cap
        assert task.accepted == sum(a.state is AssignmentState.ACCEPTED for a in live)
        assert task.accepted <= headcount
        if cap and task.accepted == headcount:
            assert all(a.state is AssignmentState.ACCEPTED for a in live)
        full = task.places_taken >= headcount + cap or task.accepted >= headcount
        assert (task.status is TaskStatus.FILLED) == full


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.integers(1, 5), st.integers(0, 8))
def test_without_a_cap_the_places_rule_is_unchanged(headcount: int, proposals: int) -> None:
    task, live = open_task(headcount=headcount), ()
    for i in range(proposals):
        change = proposed(task, f"m{i}", live)
        if isinstance(change, ProposalRejected):
            assert len(live) == headcount and change.place_unavailable
            continue
        task, live = change.task, live + change.written
    assert task.places_taken == min(proposals, headcount)


# -- team tasks -------------------------------------------------------------------------------


def test_a_member_may_not_claim_a_place_on_a_team_task() -> None:
    task = open_task(headcount=2, team=True, skills=TWO_SKILLS)
    member = someone("m1", proven=frozenset({"driving", "first_aid"}))
    with pytest.raises(FailedPrecondition) as caught:
        domain.claim(task, (), "m1", member, None, NOW, "a1")
    assert caught.value.metadata["refusal"] == "TEAM_TASK"
    assert "team" in caught.value.message


def test_a_team_member_needs_a_certificate_only_for_a_skill_they_cover() -> None:
    task = open_task(headcount=2, team=True, skills=TWO_SKILLS)
    offer = proposed(task, "m1", ())
    assert isinstance(offer, Change)
    driver = someone("m1", proven=frozenset({"driving"}))
    accepted = domain.accept(offer.task, offer.assignment, driver, None, NOW)
    assert accepted.assignment.state is AssignmentState.ACCEPTED
    with pytest.raises(FailedPrecondition) as caught:
        domain.accept(offer.task, offer.assignment, member_view(id="m1"), None, NOW)
    assert caught.value.metadata["refusal"] == "SKILL_UNVERIFIED"


def test_accepting_a_team_proposal_keeps_the_member_in_the_team() -> None:
    task = open_task(headcount=2, team=True, skills=TWO_SKILLS, window=fixed(SOON, 2))
    offer = proposed(task, "m1", ())
    assert isinstance(offer, Change)
    took = domain.claim(
        offer.task,
        offer.written,
        "m1",
        someone("m1", proven=frozenset({"first_aid"})),
        None,
        NOW,
        "x",
    )
    assert took.assignment.state is AssignmentState.ACCEPTED
