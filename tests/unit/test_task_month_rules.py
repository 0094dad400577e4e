"""The rules of the member's month (services/tasks/domain/): who may wait on a standby list and
which entries a change ends, confirm or release and the policy for no answer, the alert for
empty places, staff's changes checked by field, and a moved member's places."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.checks import Violations
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.settings import Bounds
from services.tasks import domain
from services.tasks.domain import (
    AssignmentState,
    ConfirmationOverdue,
    ConfirmationRequested,
    NoAnswerPolicy,
    PlaceLeftEmpty,
    StandbyLeft,
    TaskChanged,
    TaskStatus,
)
from services.tasks.domain import confirmation as confirming
from services.tasks.domain.update import TaskPatch, check_mask, update_task
from tests.unit.task_drafts import NOW, fixed
from tests.unit.test_task_rules import SOON, claimed, open_task, someone

BEFORE, WITHIN = timedelta(hours=48), timedelta(hours=24)


def full_task():  # type: ignore[no-untyped-def]
    task = open_task(headcount=1)
    change = claimed(task, "m1")
    return change.task, change.assignment


def refusal(err: pytest.ExceptionInfo[FailedPrecondition]) -> str:
    return err.value.metadata.get("refusal") or err.value.reason


# -- standby -----------------------------------------------------------------------------------


def test_a_member_who_could_claim_joins_a_full_tasks_standby_list() -> None:
    task, held = full_task()
    entry = domain.join_standby(task, (held,), "m2", someone("m2"), NOW)
    assert (entry.task_id, entry.member_id, entry.joined_at) == (task.id, "m2", NOW)


@pytest.mark.parametrize(
    ("member", "why"),
    [
        ("m1", "ALREADY_HOLDS"),
        ("far", "OUT_OF_SCOPE"),
        ("gone", "MEMBER_INACTIVE"),
    ],
)
def test_the_standby_list_refuses_those_who_could_not_take_the_place(member: str, why: str) -> None:
    task, held = full_task()
    view = {
        "m1": someone("m1"),
        "far": someone("far", community_id="yinshan"),
        "gone": someone("gone", active=False),
    }[member]
    with pytest.raises(FailedPrecondition) as err:
        domain.join_standby(task, (held,), member, view, NOW)
    assert refusal(err) == why


def test_a_task_with_a_free_place_is_claimed_not_waited_for() -> None:
    with pytest.raises(FailedPrecondition) as err:
        domain.join_standby(open_task(headcount=2), (), "m2", someone("m2"), NOW)
    assert refusal(err) == "TASK_NOT_FULL"


def test_a_closed_task_ends_every_entry_and_a_place_taken_ends_its_members() -> None:
    task, _ = full_task()
    assert domain.standby_ends(task, ["m2"], ["m3", "m2"]) == [StandbyLeft(task.id, "m2", "placed")]
    closed = replace(task, status=TaskStatus.CANCELLED)
    assert [e.reason for e in domain.standby_ends(closed, [], ["m2", "m3"])] == ["task closed"] * 2


def test_a_member_who_moved_away_is_released_with_reason_moved_and_leaves_the_list() -> None:
    task, held = full_task()
    moved = someone("m1", community_id="yinshan")
    change = domain.release_member(task, (held,), "m1", moved, True, NOW)
    assert [(a.state, a.reason) for a in change.written] == [(AssignmentState.WITHDRAWN, "moved")]
    assert change.events[-1] == StandbyLeft(task.id, "m1", "not eligible")
    deactivated = domain.release_member(
        task, (held,), "m1", someone("m1", active=False), False, NOW
    )
    assert deactivated.written[0].reason == "released: the member is deactivated"


# -- confirm or release --------------------------------------------------------------------------


def test_an_accepted_place_is_asked_once_within_the_span_before_its_start() -> None:
    task, held = full_task()
    assert confirming.ask(task, held, SOON - BEFORE - timedelta(minutes=1), BEFORE, WITHIN) is None
    at = SOON - BEFORE
    change = confirming.ask(task, held, at, BEFORE, WITHIN)
    assert change is not None
    asked = change.written[0]
    assert (asked.confirm_requested_at, asked.answer_by) == (at, at + WITHIN)
    assert isinstance(change.events[0], ConfirmationRequested)
    assert confirming.ask(task, asked, at + timedelta(hours=1), BEFORE, WITHIN) is None


@given(st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=2)))
def test_the_answer_is_due_before_the_start_leaving_time_to_fill_the_place(
    ahead: timedelta,
) -> None:
    task, held = full_task()
    change = confirming.ask(task, held, SOON - ahead, BEFORE, WITHIN)
    assert change is not None
    answer_by = change.written[0].answer_by
    assert answer_by is not None and SOON - ahead < answer_by < SOON


def test_a_confirmed_place_is_never_overdue_and_a_release_frees_it() -> None:
    task, held = full_task()
    asked = confirming.ask(task, held, SOON - BEFORE, BEFORE, WITHIN).written[0]  # type: ignore[union-attr]
    confirmed = confirming.confirm(task, asked, SOON - BEFORE + timedelta(hours=1)).written[0]
    late = SOON - timedelta(hours=1)
    assert confirming.unanswered(task, confirmed, late, NoAnswerPolicy.RELEASE) is None
    released = confirming.release(task, confirmed, late)
    assert (released.assignment.state, released.assignment.reason) == (
        AssignmentState.WITHDRAWN,
        "released",
    )
    assert released.task.places_taken == 0
    with pytest.raises(FailedPrecondition):
        confirming.confirm(task, confirmed, SOON)


@pytest.mark.parametrize("policy", list(NoAnswerPolicy))
def test_no_answer_alerts_staff_once_or_frees_the_place_as_the_policy_says(
    policy: NoAnswerPolicy,
) -> None:
    task, held = full_task()
    asked = confirming.ask(task, held, SOON - BEFORE, BEFORE, WITHIN).written[0]  # type: ignore[union-attr]
    assert asked.answer_by is not None
    assert (
        confirming.unanswered(task, asked, asked.answer_by - timedelta(seconds=1), policy) is None
    )
    change = confirming.unanswered(task, asked, asked.answer_by, policy)
    assert change is not None
    if policy is NoAnswerPolicy.ALERT:
        alerted = change.written[0]
        assert alerted.state is AssignmentState.ACCEPTED
        assert isinstance(change.events[0], ConfirmationOverdue)
        assert confirming.unanswered(task, alerted, asked.answer_by, policy) is None
    else:
        assert (change.assignment.state, change.assignment.reason) == (
            AssignmentState.WITHDRAWN,
            "unconfirmed",
        )


def test_empty_places_near_the_start_are_alerted_once() -> None:
    task = open_task(headcount=3)
    assert confirming.empty_alert(task, SOON - BEFORE - timedelta(hours=1), BEFORE) is None
    change = confirming.empty_alert(task, SOON - BEFORE, BEFORE)
    assert change is not None and change.events == (PlaceLeftEmpty(change.task, 3),)
    assert confirming.empty_alert(change.task, SOON - timedelta(hours=1), BEFORE) is None
    full, _ = full_task()
    assert confirming.empty_alert(full, SOON - BEFORE, BEFORE) is None


# -- staff's changes -----------------------------------------------------------------------------


PATCH = TaskPatch(None, None, "", "", "", 0)


def test_a_change_names_each_bad_field_and_keeps_the_places_held() -> None:
    task, _ = full_task()
    patch = replace(PATCH, headcount=0, title="", window=fixed(NOW - timedelta(days=1), 2))
    with pytest.raises(InvalidArgument) as err:
        update_task(task, patch, ("headcount", "title", "window"), "", NOW, Bounds())
    named = {v.field for v in err.value.violations}
    assert {"task.headcount", "task.title", "task.window.start"} <= named
    v = Violations()
    check_mask(v, ["status", "title", "title"])
    assert [x.field for x in v.items] == ["update_mask.paths[0]"]


def test_a_change_raises_the_revision_and_announces_what_changed() -> None:
    task, _ = full_task()
    later = fixed(SOON + timedelta(hours=3), 2)
    patch = replace(PATCH, window=later, headcount=2)
    change = update_task(task, patch, ("window", "headcount"), "场地调整", NOW, Bounds())
    assert (change.task.window, change.task.headcount, change.task.revision) == (later, 2, 1)
    assert change.task.status is TaskStatus.OPEN
    assert change.events == (TaskChanged(change.task, ("window", "headcount"), "场地调整"),)
    same = update_task(task, replace(PATCH, title=task.title), ("title",), "", NOW, Bounds())
    assert same.events == () and same.task == task
    with pytest.raises(FailedPrecondition):
        update_task(
            replace(task, status=TaskStatus.CANCELLED), patch, ("title",), "", NOW, Bounds()
        )


def test_only_an_accepted_place_is_confirmed_or_released() -> None:
    task = open_task(headcount=1)
    offer = domain.propose(
        task, task.id, (), "m1", someone("m1"), None, "run", NOW, timedelta(hours=1), "a1"
    )
    assert isinstance(offer, domain.Change)
    for rule in (confirming.confirm, confirming.release):
        with pytest.raises(FailedPrecondition) as err:
            rule(offer.task, offer.assignment, NOW)
        assert err.value.reason == "ASSIGNMENT_STATE"
