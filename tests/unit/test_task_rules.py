"""The task service's rules of change (services/tasks/domain/): the task and assignment
state machines, windows, completing a task, and every state change on a task's places."""

from __future__ import annotations

import contextlib
import math
from dataclasses import replace
from datetime import datetime, timedelta

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.interceptors.statuses import status_code, to_status
from services.tasks import domain
from services.tasks.domain import (
    ASSIGNMENT_TRANSITIONS,
    COMMENT_MAX,
    HOLDS_PLACE,
    TAKING_PLACES,
    TASK_TRANSITIONS,
    Assignment,
    AssignmentChanged,
    AssignmentSource,
    AssignmentState,
    Beneficiary,
    Change,
    Feedback,
    MemberView,
    Outcome,
    ProposalRejected,
    Task,
    TaskCancelled,
    TaskClosed,
    TaskDraft,
    TaskExpired,
    TaskKind,
    TaskStatus,
    TimeWindow,
    check_reason,
    new_task,
    require_assignment_transition,
    require_task_transition,
    status_for_places,
    validate_completion,
)
from tests.unit.task_drafts import (
    HOME,
    NOW,
    SAT_9,
    fields,
    fixed,
    flexible,
    instants,
    local,
    member_view,
)

# ---------------------------------------------------------------------------------------------
# The state machines

T, A = TaskStatus, AssignmentState
# Transcribed from the diagram in protos/linli/v1/tasks.proto.
TASK_DIAGRAM = {
    (T.OPEN, T.FILLED),
    (T.FILLED, T.OPEN),
    (T.OPEN, T.CLOSED),
    (T.FILLED, T.CLOSED),
    (T.OPEN, T.EXPIRED),
    (T.FILLED, T.EXPIRED),
    (T.OPEN, T.COMPLETED),
    (T.FILLED, T.COMPLETED),
    (T.CLOSED, T.COMPLETED),
    (T.OPEN, T.CANCELLED),
    (T.FILLED, T.CANCELLED),
    (T.CLOSED, T.CANCELLED),
}
ASSIGNMENT_DIAGRAM = {
    (A.PROPOSED, A.ACCEPTED),
    (A.PROPOSED, A.DECLINED),
    (A.PROPOSED, A.EXPIRED),
    (A.ACCEPTED, A.WITHDRAWN),
    (A.ACCEPTED, A.COMPLETED),
    (A.ACCEPTED, A.NO_SHOW),
    (A.PROPOSED, A.CANCELLED),
    (A.ACCEPTED, A.CANCELLED),
}
FINAL_TASK = {T.COMPLETED, T.CANCELLED, T.EXPIRED}
FINAL_ASSIGNMENT = {A.DECLINED, A.EXPIRED, A.WITHDRAWN, A.COMPLETED, A.NO_SHOW, A.CANCELLED}


def test_the_task_transitions_are_those_drawn_in_the_proto() -> None:
    assert set(TASK_TRANSITIONS) == set(TaskStatus)
    drawn = {(a, b) for a, targets in TASK_TRANSITIONS.items() for b in targets}
    assert drawn == TASK_DIAGRAM


def test_the_assignment_transitions_are_those_drawn_in_the_proto() -> None:
    drawn = {(a, b) for a, targets in ASSIGNMENT_TRANSITIONS.items() for b in targets}
    assert drawn == ASSIGNMENT_DIAGRAM


def test_final_states_have_no_way_out() -> None:
    assert all(not TASK_TRANSITIONS[s] for s in FINAL_TASK)
    assert all(not ASSIGNMENT_TRANSITIONS.get(s) for s in FINAL_ASSIGNMENT)
    assert {a for a, _ in TASK_DIAGRAM} == set(TaskStatus) - FINAL_TASK
    assert {a for a, _ in ASSIGNMENT_DIAGRAM} == set(AssignmentState) - FINAL_ASSIGNMENT


def test_places_are_held_by_live_assignments_and_taken_on_live_tasks() -> None:
    assert {A.PROPOSED, A.ACCEPTED} == HOLDS_PLACE
    assert {T.OPEN, T.FILLED} == TAKING_PLACES


@pytest.mark.parametrize("target", list(TaskStatus))
@pytest.mark.parametrize("current", list(TaskStatus))
def test_a_task_moves_only_along_the_diagram(current: TaskStatus, target: TaskStatus) -> None:
    if (current, target) in TASK_DIAGRAM:
        require_task_transition(current, target, "change the task")
        return
    with pytest.raises(FailedPrecondition) as caught:
        require_task_transition(current, target, "change the task")
    assert status_code(caught.value) is grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.reason == "TASK_STATE"
    assert caught.value.metadata == {"state": current.value}
    assert caught.value.message == f"cannot change the task: the task is {current.value}"


@pytest.mark.parametrize("target", list(AssignmentState))
@pytest.mark.parametrize("current", list(AssignmentState))
def test_an_assignment_moves_only_along_the_diagram(
    current: AssignmentState, target: AssignmentState
) -> None:
    if (current, target) in ASSIGNMENT_DIAGRAM:
        require_assignment_transition(current, target, "withdraw")
        return
    with pytest.raises(FailedPrecondition) as caught:
        require_assignment_transition(current, target, "withdraw")
    assert status_code(caught.value) is grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.reason == "ASSIGNMENT_STATE"
    assert caught.value.metadata == {"state": current.value}
    assert caught.value.message == f"cannot withdraw: the assignment is {current.value}"


def test_the_error_for_a_refused_transition_carries_the_state_to_the_caller() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        require_task_transition(T.EXPIRED, T.CANCELLED, "cancel")
    status = to_status(caught.value)
    assert status.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert "expired" in status.message
    assert len(status.details) == 1


@pytest.mark.parametrize(
    ("taken", "headcount", "status"),
    [(0, 1, T.OPEN), (1, 1, T.FILLED), (4, 5, T.OPEN), (5, 5, T.FILLED), (6, 5, T.FILLED)],
)
def test_a_task_is_filled_exactly_when_every_place_is_taken(
    taken: int, headcount: int, status: TaskStatus
) -> None:
    assert status_for_places(taken, headcount) is status


@given(st.integers(0, 200), st.integers(1, 100))
def test_status_for_places_is_filled_iff_no_place_is_free(taken: int, headcount: int) -> None:
    assert (status_for_places(taken, headcount) is T.FILLED) == (taken >= headcount)


# ---------------------------------------------------------------------------------------------
# Windows


def test_a_fixed_window_takes_places_until_it_starts() -> None:
    w = fixed(SAT_9, 3)
    assert w.claim_deadline == SAT_9


def test_a_flexible_window_takes_places_until_it_ends() -> None:
    w = TimeWindow(NOW, NOW + timedelta(days=5), flexible=True)
    assert w.claim_deadline == NOW + timedelta(days=5)


@pytest.mark.parametrize(
    ("other", "overlap"),
    [
        pytest.param(fixed(SAT_9 + timedelta(hours=1), 3), True, id="overlapping"),
        pytest.param(fixed(SAT_9 + timedelta(hours=1), 1), True, id="inside"),
        pytest.param(fixed(SAT_9 - timedelta(hours=1), 5), True, id="around"),
        pytest.param(fixed(SAT_9, 3), True, id="the same"),
        pytest.param(fixed(SAT_9 + timedelta(hours=3), 1), False, id="touching after"),
        pytest.param(fixed(SAT_9 - timedelta(hours=1), 1), False, id="touching before"),
        pytest.param(fixed(SAT_9 + timedelta(days=1), 3), False, id="next day"),
        pytest.param(
            TimeWindow(SAT_9, SAT_9 + timedelta(hours=3), True), False, id="same, flexible"
        ),
        pytest.param(TimeWindow(NOW, NOW + timedelta(days=30), True), False, id="flexible around"),
    ],
)
def test_fixed_windows_overlap_when_they_share_time_and_flexible_ones_never(
    other: TimeWindow, overlap: bool
) -> None:
    w = fixed(SAT_9, 3)
    assert w.overlaps(other) is overlap
    assert other.overlaps(w) is overlap


def test_a_flexible_window_does_not_even_overlap_itself() -> None:
    w = TimeWindow(NOW, NOW + timedelta(days=3), flexible=True)
    assert not w.overlaps(w)


windows = st.builds(
    lambda start, minutes, flex: TimeWindow(start, start + timedelta(minutes=minutes), flex),
    instants,
    st.integers(1, 3 * 24 * 60),
    st.booleans(),
)


@given(windows, windows)
def test_overlapping_is_symmetric(a: TimeWindow, b: TimeWindow) -> None:
    assert a.overlaps(b) == b.overlaps(a)


@given(windows, windows)
def test_fixed_windows_overlap_iff_some_instant_lies_in_both(a: TimeWindow, b: TimeWindow) -> None:
    shared = min(a.end, b.end) - max(a.start, b.start)
    expected = not a.flexible and not b.flexible and shared > timedelta(0)
    assert a.overlaps(b) == expected


# ---------------------------------------------------------------------------------------------
# Completing a task

ACCEPTED = {"m1", "m2"}


def completion_fields(outcomes: tuple[Outcome, ...], score: int = 5, comment: str = "") -> set[str]:
    try:
        validate_completion(outcomes, ACCEPTED, score, comment)
    except InvalidArgument as e:
        return fields(e.violations)
    return set()


BOTH = (Outcome("m1", 2.0, False), Outcome("m2", 0.0, True))


def test_a_completion_with_one_outcome_per_accepted_member_is_accepted() -> None:
    assert validate_completion(BOTH, ACCEPTED, 5, "  李奶奶很满意 ") == "李奶奶很满意"


def test_a_task_nobody_accepted_is_completed_without_outcomes() -> None:
    assert validate_completion((), set(), 3, "") == ""


def test_every_accepted_member_needs_an_outcome() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_completion(BOTH[:1], ACCEPTED, 5, "")
    [v] = caught.value.violations
    assert v.field == "outcomes"
    assert "m2" in v.description


def test_an_outcome_for_a_member_who_did_not_accept_is_refused() -> None:
    assert completion_fields((*BOTH, Outcome("m3", 1.0, False))) == {"outcomes[2].member_id"}


def test_a_member_may_have_only_one_outcome() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_completion((*BOTH, Outcome("m1", 1.0, False)), ACCEPTED, 5, "")
    [v] = caught.value.violations
    assert (v.field, v.description) == ("outcomes[2].member_id", "appears twice")


@pytest.mark.parametrize("hours", [0.0, 0.24, 24.01, -1.0, math.nan, math.inf])
def test_hours_outside_a_quarter_to_twenty_four_are_refused_for_those_who_came(
    hours: float,
) -> None:
    outcomes = (Outcome("m1", hours, False), BOTH[1])
    assert completion_fields(outcomes) == {"outcomes[0].hours"}


@pytest.mark.parametrize("hours", [0.25, 24.0])
def test_hours_at_the_limits_are_accepted(hours: float) -> None:
    assert completion_fields((Outcome("m1", hours, False), BOTH[1])) == set()


@pytest.mark.parametrize("hours", [0.0, -1.0, 99.0, math.nan])
def test_the_hours_of_a_no_show_are_not_checked(hours: float) -> None:
    assert completion_fields((BOTH[0], Outcome("m2", hours, True))) == set()


@pytest.mark.parametrize(("score", "ok"), [(0, False), (1, True), (5, True), (6, False)])
def test_the_feedback_score_is_one_to_five(score: int, ok: bool) -> None:
    assert completion_fields(BOTH, score=score) == (set() if ok else {"feedback.score"})


def test_the_feedback_comment_is_at_most_500_characters() -> None:
    assert completion_fields(BOTH, comment="好" * COMMENT_MAX) == set()
    assert completion_fields(BOTH, comment="好" * (COMMENT_MAX + 1)) == {"feedback.comment"}


def test_every_problem_of_a_completion_is_reported_at_once() -> None:
    outcomes = (Outcome("m1", 30.0, False), Outcome("m1", 1.0, False), Outcome("m9", 1.0, False))
    assert completion_fields(outcomes, score=9, comment="x" * 501) == {
        "outcomes[0].hours",
        "outcomes[1].member_id",
        "outcomes[2].member_id",
        "outcomes",
        "feedback.score",
        "feedback.comment",
    }


def test_a_reason_is_trimmed_and_may_be_required() -> None:
    assert check_reason("  搬家了 ") == "搬家了"
    assert check_reason("") == ""
    with pytest.raises(InvalidArgument) as caught:
        check_reason("   ", required=True)
    assert fields(caught.value.violations) == {"reason"}
    with pytest.raises(InvalidArgument) as caught:
        check_reason("x" * 201)
    assert fields(caught.value.violations) == {"reason"}


def test_the_elderly_children_disabled_and_poor_come_first() -> None:
    assert {b for b in Beneficiary if b.is_priority} == {
        Beneficiary.ELDERLY,
        Beneficiary.CHILD,
        Beneficiary.DISABLED,
        Beneficiary.POOR,
    }


# ---------------------------------------------------------------------------------------------
# The state changes: claim, propose, answer, expire, release, cancel, complete, close

TTL = timedelta(hours=1)
SOON = local(2026, 5, 6, 9)  # Wednesday 9:00, two days ahead


def open_task(headcount: int = 2, window: TimeWindow | None = None, **changes: object) -> Task:
    """An open task of Binhu (Jiyang street), posted now."""
    task = new_task(
        TaskDraft(
            kind=TaskKind.WISH,
            source_id="w1",
            community_id="binhu",
            street_id="jiyang",
            street_wide=False,
            title="代买蔬菜",
            description="",
            beneficiary=Beneficiary.ELDERLY,
            location=HOME,
            address="",
            skills=(),
            headcount=headcount,
            window=window or fixed(SOON, 2),
            effort_hours=1.0,
        ),
        NOW,
        task_id=str(changes.pop("id", "t1")),
    )
    return replace(task, **changes)  # type: ignore[arg-type]


def someone(member_id: str = "m1", **changes: object) -> MemberView:
    return replace(member_view(id=member_id), **changes)  # type: ignore[arg-type]


def claimed(task: Task, member_id: str = "m1", live: tuple[Assignment, ...] = ()) -> Change:
    return domain.claim(task, live, member_id, someone(member_id), None, NOW, f"a-{member_id}")


def proposal(task: Task, member_id: str = "m1", live: tuple[Assignment, ...] = ()) -> Change:
    found = domain.propose(
        task, task.id, live, member_id, someone(member_id), None, "run", NOW, TTL, f"p-{member_id}"
    )
    assert isinstance(found, Change), found
    return found


def reason_of(err: pytest.ExceptionInfo[FailedPrecondition]) -> str:
    return err.value.metadata.get("refusal") or err.value.reason


def test_a_claim_takes_an_accepted_place_and_announces_it() -> None:
    change = claimed(open_task(headcount=1))
    a = change.assignment
    assert (a.state, a.source, a.member_id, a.expires_at) == (
        AssignmentState.ACCEPTED,
        AssignmentSource.CLAIM,
        "m1",
        None,
    )
    assert (change.task.places_taken, change.task.accepted) == (1, 1)
    assert change.task.status is TaskStatus.FILLED
    assert change.created == {a.id}
    assert change.events == (AssignmentChanged("claimed", a, change.task),)


def test_a_claim_is_refused_with_the_first_reason_that_applies() -> None:
    task = open_task(headcount=1)
    cases = [
        (someone(active=False), NOW, "MEMBER_INACTIVE"),
        (someone(community_id="yinshan"), NOW, "OUT_OF_SCOPE"),
        (someone(), SOON, "DEADLINE_PASSED"),
        (None, NOW, "MEMBER_UNKNOWN"),
    ]
    for member, now, why in cases:
        with pytest.raises(FailedPrecondition) as err:
            domain.claim(task, (), "m1", member, None, now, "a")
        assert err.value.reason == "CLAIM_REFUSED" and reason_of(err) == why
    full = replace(task, places_taken=1)
    with pytest.raises(FailedPrecondition) as err:
        domain.claim(full, (), "m1", someone(), None, NOW, "a")
    assert reason_of(err) == "TASK_FULL"


def test_a_member_holding_a_place_or_a_clashing_task_is_refused() -> None:
    first = claimed(open_task())
    with pytest.raises(FailedPrecondition) as holds:
        claimed(first.task, live=first.written)
    assert reason_of(holds) == "ALREADY_HOLDS"
    with pytest.raises(FailedPrecondition) as clash:
        domain.claim(open_task(), (), "m1", someone(), "t-other", NOW, "a")
    assert reason_of(clash) == "TIME_CONFLICT" and "t-other" in str(clash.value)


def test_claiming_what_one_was_proposed_for_accepts_the_proposal() -> None:
    proposed = proposal(open_task())
    change = claimed(proposed.task, live=proposed.written)
    assert change.assignment.id == proposed.assignment.id
    assert change.assignment.state is AssignmentState.ACCEPTED
    assert (change.task.places_taken, change.task.accepted) == (1, 1)
    assert change.events[0].verb == "accepted"  # type: ignore[union-attr]


def test_a_proposal_holds_a_place_until_the_ttl_or_the_deadline() -> None:
    change = proposal(open_task())
    a = change.assignment
    assert (a.state, a.source, a.match_run_id) == (
        AssignmentState.PROPOSED,
        AssignmentSource.MATCHING,
        "run",
    )
    assert a.expires_at == NOW + TTL
    assert (change.task.places_taken, change.task.accepted) == (1, 0)
    near = open_task(window=fixed(NOW + timedelta(minutes=10), 2))
    assert proposal(near).assignment.expires_at == near.window.start


def test_a_proposal_that_cannot_be_a_place_is_rejected_and_says_whether_the_place_is_gone() -> None:
    task = open_task(headcount=1)

    def rejected(*args: object, **kw: object) -> ProposalRejected:
        found = domain.propose(*args, **kw)  # type: ignore[arg-type]
        assert isinstance(found, ProposalRejected)
        return found

    full = rejected(
        replace(task, places_taken=1), task.id, (), "m1", someone(), None, "r", NOW, TTL, ""
    )
    assert (full.reason, full.place_unavailable) == ("every place on the task is taken", True)
    foreign = rejected(task, task.id, (), "m1", someone(active=False), None, "r", NOW, TTL, "")
    assert (foreign.reason, foreign.place_unavailable) == ("the member is deactivated", False)
    missing = rejected(None, "t9", (), "m1", someone(), None, "r", NOW, TTL, "")
    assert (missing.reason, missing.place_unavailable) == ("the task does not exist", True)
    bad = rejected(task, task.id, (), "m1", someone(), None, "r\x00", NOW, TTL, "")
    assert (bad.run_id, bad.reason) == ("", "malformed run id")
    clash = rejected(task, task.id, (), "m1", someone(), "t2", "r", NOW, TTL, "")
    assert clash.reason == "the member has another accepted task at that time (t2)"


def test_an_accepted_proposal_must_still_stand() -> None:
    proposed = proposal(open_task())
    task, a = proposed.task, proposed.assignment
    with pytest.raises(FailedPrecondition) as expired:
        domain.accept(task, a, someone(), None, NOW + TTL)
    assert expired.value.reason == "PROPOSAL_EXPIRED"
    with pytest.raises(FailedPrecondition) as clash:
        domain.accept(task, a, someone(), "t2", NOW)
    assert reason_of(clash) == "TIME_CONFLICT"
    with pytest.raises(FailedPrecondition) as moved_away:
        domain.accept(task, a, someone(community_id="yinshan"), None, NOW)
    assert reason_of(moved_away) == "OUT_OF_SCOPE"
    accepted = domain.accept(task, a, someone(), None, NOW)
    with pytest.raises(FailedPrecondition) as twice:
        domain.accept(accepted.task, accepted.assignment, someone(), None, NOW)
    assert twice.value.reason == "ASSIGNMENT_STATE"


def test_declining_or_withdrawing_frees_the_place_and_keeps_the_reason() -> None:
    proposed = proposal(open_task(headcount=1))
    declined = domain.give_up(
        proposed.task, proposed.assignment, AssignmentState.DECLINED, "busy", NOW
    )
    assert (declined.assignment.state, declined.assignment.reason) == (
        AssignmentState.DECLINED,
        "busy",
    )
    assert (declined.task.places_taken, declined.task.status) == (0, TaskStatus.OPEN)
    taken = claimed(open_task(headcount=1))
    gone = domain.give_up(taken.task, taken.assignment, AssignmentState.WITHDRAWN, "ill", NOW)
    assert (gone.task.places_taken, gone.task.accepted) == (0, 0)
    assert gone.events[0].verb == "withdrawn"  # type: ignore[union-attr]
    with pytest.raises(FailedPrecondition) as started:
        domain.give_up(taken.task, taken.assignment, AssignmentState.WITHDRAWN, "", SOON)
    assert started.value.reason == "TASK_STARTED"
    with pytest.raises(FailedPrecondition) as not_proposed:
        domain.give_up(taken.task, taken.assignment, AssignmentState.DECLINED, "", NOW)
    assert not_proposed.value.reason == "ASSIGNMENT_STATE"


def test_only_proposals_whose_time_ran_out_expire() -> None:
    one = proposal(open_task(headcount=3), "m1")
    two = claimed(one.task, "m2", one.written)
    live = one.written + two.written
    assert domain.expire_proposals(two.task, live, NOW).written == ()
    change = domain.expire_proposals(two.task, live, NOW + TTL)
    assert [(a.member_id, a.state) for a in change.written] == [("m1", AssignmentState.EXPIRED)]
    assert (change.task.places_taken, change.task.accepted) == (1, 1)


def test_a_member_releases_only_the_places_they_may_no_longer_take() -> None:
    one = claimed(open_task(headcount=3), "m1")
    two = proposal(one.task, "m2", one.written)
    live = one.written + two.written
    assert domain.release(two.task, live, "m1", someone("m1"), NOW).written == ()
    change = domain.release(two.task, live, "m1", someone("m1", active=False), NOW)
    [a] = change.written
    assert (a.member_id, a.state, a.reason) == (
        "m1",
        AssignmentState.WITHDRAWN,
        "released: the member is deactivated",
    )
    assert (change.task.places_taken, change.task.accepted) == (1, 0)
    closed = replace(two.task, status=TaskStatus.CLOSED)
    assert domain.release(closed, live, "m1", None, NOW).written == ()


def test_a_cancelled_task_cancels_every_live_place_and_says_so_first() -> None:
    one = claimed(open_task(headcount=3), "m1")
    two = proposal(one.task, "m2", one.written)
    change = domain.cancel(two.task, one.written + two.written, "moved away", NOW)
    assert (change.task.status, change.task.places_taken, change.task.accepted) == (
        TaskStatus.CANCELLED,
        0,
        0,
    )
    assert {a.state for a in change.written} == {AssignmentState.CANCELLED}
    assert change.events[0] == TaskCancelled(change.task, "moved away")
    with pytest.raises(FailedPrecondition) as twice:
        domain.cancel(change.task, (), "again", NOW)
    assert twice.value.reason == "TASK_STATE"


def test_a_completion_logs_hours_from_the_start_and_cancels_unanswered_proposals() -> None:
    one = claimed(open_task(headcount=3), "m1")
    two = claimed(one.task, "m2", one.written)
    three = proposal(two.task, "m3", one.written + two.written)
    live = one.written + two.written + three.written
    outcomes = (Outcome("m1", 2.0, False), Outcome("m2", 0, True))
    with pytest.raises(FailedPrecondition) as early:
        domain.complete(three.task, live, outcomes, 5, "", NOW)
    assert early.value.reason == "NOT_STARTED"
    later = SOON + timedelta(hours=3)
    change = domain.complete(three.task, live, outcomes, 5, " 谢谢 ", later)
    states = {a.member_id: (a.state, a.hours, a.served_at) for a in change.written}
    assert states == {
        "m1": (AssignmentState.COMPLETED, 2.0, SOON),
        "m2": (AssignmentState.NO_SHOW, 0.0, None),
        "m3": (AssignmentState.CANCELLED, 0.0, None),
    }
    assert (change.task.status, change.task.places_taken) == (TaskStatus.COMPLETED, 2)
    assert change.feedback == Feedback(5, "谢谢")
    with pytest.raises(FailedPrecondition) as nobody:
        domain.complete(open_task(), (), (), 5, "", later)
    assert nobody.value.reason == "NOBODY_ACCEPTED"


def test_a_due_task_closes_when_someone_accepted_and_expires_when_nobody_did() -> None:
    one = claimed(open_task(headcount=3), "m1")
    two = proposal(one.task, "m2", one.written)
    closed = domain.close_due(two.task, one.written + two.written, SOON)
    assert closed.task.status is TaskStatus.CLOSED and closed.task.places_taken == 1
    assert [a.state for a in closed.written] == [AssignmentState.EXPIRED]
    assert closed.events[-1] == TaskClosed(closed.task)
    lone = proposal(open_task())
    expired = domain.close_due(lone.task, lone.written, SOON)
    assert (expired.task.status, expired.task.places_taken) == (TaskStatus.EXPIRED, 0)
    assert expired.events[-1] == TaskExpired(expired.task)


def test_a_clash_is_an_accepted_task_at_an_overlapping_fixed_time() -> None:
    held = [("t1", fixed(SOON, 2)), ("t2", flexible(SOON + timedelta(days=3)))]
    assert domain.clash(fixed(SOON + timedelta(hours=1), 2), held) == "t1"
    assert domain.clash(fixed(SOON + timedelta(hours=2), 2), held) is None
    assert domain.clash(flexible(SOON), held) is None


# A property: whatever members and matching do, in any order, no task holds more places than it
# has, its counts are those of its live assignments, and no member holds two accepted places at
# overlapping times.

MEMBERS = ("m1", "m2", "m3")
SLOTS = [fixed(SOON + timedelta(hours=h), 2) for h in (0, 1, 3)] + [flexible(SOON)]
ACTIONS = ("claim", "propose", "accept", "decline", "withdraw", "expire", "leave", "cancel")


class Model:
    """The tasks and assignments a sequence of changes leaves, and what each member is."""

    def __init__(self) -> None:
        self.tasks = {
            f"t{i}": open_task(headcount=1 + i % 2, window=w, id=f"t{i}")
            for i, w in enumerate(SLOTS)
        }
        self.assignments: dict[str, Assignment] = {}
        self.members = {m: someone(m) for m in MEMBERS}
        self.count = 0

    def live(self, task_id: str) -> tuple[Assignment, ...]:
        return tuple(
            a for a in self.assignments.values() if a.task_id == task_id and a.state in HOLDS_PLACE
        )

    def overlapping(self, member_id: str, task: Task) -> str | None:
        held = [
            (a.task_id, self.tasks[a.task_id].window)
            for a in self.assignments.values()
            if a.member_id == member_id and a.state is AssignmentState.ACCEPTED
        ]
        return domain.clash(task.window, held)

    def apply(self, change: Change | ProposalRejected) -> None:
        if isinstance(change, ProposalRejected):
            return
        for a in change.written:
            self.assignments[a.id] = a
        self.tasks[change.task.id] = change.task

    def act(self, action: str, task_id: str, member_id: str, now: datetime) -> None:
        task, member = self.tasks[task_id], self.members[member_id]
        clash = self.overlapping(member_id, task)
        self.count += 1
        new_id = f"a{self.count}"
        mine = [a for a in self.live(task_id) if a.member_id == member_id]
        if action == "claim":
            change: Change | ProposalRejected = domain.claim(
                task, self.live(task_id), member_id, member, clash, now, new_id
            )
        elif action == "propose":
            change = domain.propose(
                task, task_id, self.live(task_id), member_id, member, clash, "r", now, TTL, new_id
            )
        elif action in ("accept", "decline", "withdraw") and mine:
            target = {
                "accept": AssignmentState.ACCEPTED,
                "decline": AssignmentState.DECLINED,
                "withdraw": AssignmentState.WITHDRAWN,
            }[action]
            change = domain.answer(task, mine[0], target, member, clash, "", now)
        elif action == "expire":
            change = domain.expire_proposals(task, self.live(task_id), now)
        elif action == "leave":
            self.members[member_id] = someone(member_id, active=False)
            change = domain.release(
                task, self.live(task_id), member_id, self.members[member_id], now
            )
        elif action == "cancel":
            change = domain.cancel(task, self.live(task_id), "", now)
        else:
            return
        self.apply(change)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(ACTIONS),
            st.integers(0, len(SLOTS) - 1),
            st.sampled_from(MEMBERS),
            st.integers(0, 3),  # hours passed since the start
        ),
        max_size=40,
    )
)
def test_no_task_is_overbooked_and_no_member_is_in_two_places_at_once(
    steps: list[tuple[str, int, str, int]],
) -> None:
    model = Model()
    for action, slot, member_id, hours in steps:
        # A refused change changes nothing.
        with contextlib.suppress(FailedPrecondition, InvalidArgument):
            model.act(action, f"t{slot}", member_id, NOW + timedelta(hours=hours))
        for task in model.tasks.values():
            live = model.live(task.id)
            assert task.places_taken == len(live) <= task.headcount
            assert task.accepted == sum(a.state is AssignmentState.ACCEPTED for a in live)
        for m in MEMBERS:
            held = [
                model.tasks[a.task_id].window
                for a in model.assignments.values()
                if a.member_id == m and a.state is AssignmentState.ACCEPTED
            ]
            assert not any(x.overlaps(y) for i, x in enumerate(held) for y in held[i + 1 :])


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.integers(1, 5), st.integers(0, 8))
def test_a_task_is_filled_exactly_when_claims_take_every_place(headcount: int, claims: int) -> None:
    task = open_task(headcount=headcount, window=flexible(SOON))
    live: tuple[Assignment, ...] = ()
    for i in range(claims):
        try:
            change = claimed(task, f"m{i}", live)
        except FailedPrecondition as err:
            assert err.metadata["refusal"] == "TASK_FULL" and len(live) == headcount
            continue
        task, live = change.task, live + change.written
    assert task.places_taken == min(claims, headcount)
    assert (task.status is TaskStatus.FILLED) == (task.places_taken == headcount)
