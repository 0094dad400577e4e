"""The rules of a place on a task: claim, propose, accept, decline, withdraw, expire, release.

Each takes the task, its live assignments (those holding a place), what is known of the member
and whether they hold an accepted task at an overlapping time; it returns the Change, or raises
the domain error of the rule broken. Time is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from services.common.errors import FailedPrecondition
from services.common.values import TimeWindow
from services.tasks.domain.access import (
    MemberView,
    claim_problem,
    member_refusal,
    skill_refusal,
)
from services.tasks.domain.assignment import (
    Assignment,
    AssignmentSource,
    AssignmentState,
    require_assignment_transition,
)
from services.tasks.domain.change import (
    AssignmentChanged,
    Change,
    DomainEvent,
    ProposalRejected,
)
from services.tasks.domain.errors import (
    PROPOSAL_EXPIRED,
    TASK_STARTED,
    ClaimRefusal,
    Refusal,
    refused,
    time_conflict,
)
from services.tasks.domain.task import TAKING_PLACES, Task, claimable, moved, task_refusal

RUN_ID_MAX = 64
# The reason of a place freed because its member moved out of the task's reach.
MOVED = "moved"
# The reason of an over-booked proposal withdrawn once the headcount has accepted.
HEADCOUNT_REACHED = "the event's headcount has accepted: over-booked proposals are withdrawn"
TEAM_CLAIM = (
    "the task asks its skills of a team that matching puts together; ask staff to run matching"
    " or join the standby list"
)


def _skills(task: Task) -> list[str]:
    return [s.skill for s in task.skills]


def clash(window: TimeWindow, accepted: Iterable[tuple[str, TimeWindow]]) -> str | None:
    """The id of a task (of those the member is accepted on) whose time overlaps `window`."""
    return next((task_id for task_id, w in accepted if w.overlaps(window)), None)


def _new_assignment(
    task: Task,
    assignment_id: str,
    member_id: str,
    state: AssignmentState,
    source: AssignmentSource,
    now: datetime,
    expires_at: datetime | None = None,
    run_id: str = "",
) -> Assignment:
    return Assignment(
        id=assignment_id,
        task_id=task.id,
        member_id=member_id,
        state=state,
        source=source,
        expires_at=expires_at,
        match_run_id=run_id,
        hours=0.0,
        reason="",
        created_at=now,
        updated_at=now,
    )


def _changed(
    a: Assignment, state: AssignmentState, now: datetime, reason: str | None = None
) -> Assignment:
    return replace(a, state=state, reason=a.reason if reason is None else reason, updated_at=now)


def claim(
    task: Task,
    live: Sequence[Assignment],
    member_id: str,
    member: MemberView | None,
    overlapping: str | None,
    now: datetime,
    assignment_id: str,
) -> Change:
    """A member takes a place: accepted at once. Claiming a task one was proposed for is
    accepting the proposal: the place is already theirs to take."""
    mine = [a for a in live if a.member_id == member_id]
    if mine and mine[0].state is AssignmentState.PROPOSED:
        return accept(task, mine[0], member, overlapping, now, live)
    problem = (
        member_refusal(member, task.community_id, task.street_id, task.street_wide)
        or skill_refusal(member, _skills(task), task.team)
        or task_refusal(task, now)
    )
    if problem is None and task.team and len(task.skills) > 1:
        # The task service knows no member's skills beyond verified certificates, so it cannot
        # tell whether a claimant keeps the team able to cover them all: team places are taken
        # through matching's proposals, which form covering teams.
        problem = ClaimRefusal(Refusal.TEAM_TASK, TEAM_CLAIM)
    if mine:
        problem = ClaimRefusal(Refusal.ALREADY_HOLDS, "the member already has a place on this task")
    elif problem is None and overlapping:
        raise time_conflict("claim", overlapping)
    if problem is not None:
        raise refused("claim", problem)
    a = _new_assignment(
        task, assignment_id, member_id, AssignmentState.ACCEPTED, AssignmentSource.CLAIM, now
    )
    task = moved(task, places=1, accepted=1)
    change = Change(
        task, (a,), (AssignmentChanged("claimed", a, task),), created=frozenset({assignment_id})
    )
    return _settle_overbooking(change, live, now)


def _settle_overbooking(change: Change, live: Sequence[Assignment], now: datetime) -> Change:
    """Once an over-booked task's headcount has accepted, the proposals still open are
    withdrawn, with the reason: nobody waits on a proposal that can no longer be accepted."""
    task = change.task
    if task.overbook_cap <= 0 or task.accepted < task.headcount:
        return change
    touched = {a.id for a in change.written}
    written = list(change.written)
    announced = list(change.events)
    for a in live:
        if a.state is AssignmentState.PROPOSED and a.id not in touched:
            freed = free_place(
                task, a, AssignmentState.WITHDRAWN, "withdrawn", HEADCOUNT_REACHED, now
            )
            task = freed.task
            written += freed.written
            announced += freed.events
    return Change(task, tuple(written), tuple(announced), created=change.created)


def accept(
    task: Task,
    a: Assignment,
    member: MemberView | None,
    overlapping: str | None,
    now: datetime,
    live: Sequence[Assignment] = (),
) -> Change:
    """The member accepts a proposal, while it stands, the task has not begun, and they may
    still take the place at that time. On an over-booked task the headcount is the most that
    accept: the acceptance that reaches it withdraws the other open proposals (`live`), so an
    acceptance beyond it is refused (TASK_FULL) only in a race already settled."""
    require_assignment_transition(a.state, AssignmentState.ACCEPTED, "accept")
    if a.expires_at is not None and a.expires_at <= now:
        raise FailedPrecondition("cannot accept: the proposal has expired", PROPOSAL_EXPIRED)
    if now >= task.window.claim_deadline:
        raise FailedPrecondition("cannot accept: the task's time has passed", TASK_STARTED)
    problem = member_refusal(
        member, task.community_id, task.street_id, task.street_wide
    ) or skill_refusal(member, _skills(task), task.team)
    if problem is None and task.accepted >= task.headcount:
        problem = ClaimRefusal(Refusal.TASK_FULL, "every place of the headcount is accepted")
    if problem is not None:
        raise refused("accept", problem)
    if overlapping:
        raise time_conflict("accept", overlapping)
    accepted = _changed(a, AssignmentState.ACCEPTED, now)
    task = moved(task, accepted=1)
    change = Change(task, (accepted,), (AssignmentChanged("accepted", accepted, task),))
    return _settle_overbooking(change, live, now)


def give_up(
    task: Task, a: Assignment, target: AssignmentState, reason: str, now: datetime
) -> Change:
    """Decline a proposal or withdraw from an accepted place (until the task begins): the
    place is free again."""
    verb, past = {
        AssignmentState.DECLINED: ("decline", "declined"),
        AssignmentState.WITHDRAWN: ("withdraw", "withdrawn"),
    }[target]
    require_assignment_transition(a.state, target, verb)
    if target is AssignmentState.WITHDRAWN and now >= task.window.claim_deadline:
        raise FailedPrecondition("cannot withdraw: the task has started", TASK_STARTED)
    return free_place(task, a, target, past, reason, now)


def free_place(
    task: Task, a: Assignment, target: AssignmentState, verb: str, reason: str | None, now: datetime
) -> Change:
    changed = _changed(a, target, now, reason)
    task = moved(task, places=-1, accepted=-1 if a.state is AssignmentState.ACCEPTED else 0)
    return Change(task, (changed,), (AssignmentChanged(verb, changed, task),))


def answer(
    task: Task,
    a: Assignment,
    target: AssignmentState,
    member: MemberView | None,
    overlapping: str | None,
    reason: str,
    now: datetime,
    live: Sequence[Assignment] = (),
) -> Change:
    """The member's answer to their assignment: accept, decline or withdraw."""
    if target is AssignmentState.ACCEPTED:
        return accept(task, a, member, overlapping, now, live)
    return give_up(task, a, target, reason, now)


def malformed_run_id(run_id: str) -> bool:
    # Never stored (PostgreSQL refuses NUL in text, and the event would be redelivered
    # forever): the proposal is answered as rejected instead.
    return len(run_id) > RUN_ID_MAX or not run_id.isprintable()


def propose(
    task: Task | None,
    task_id: str,
    live: Sequence[Assignment],
    member_id: str,
    member: MemberView | None,
    overlapping: str | None,
    run_id: str,
    now: datetime,
    ttl: timedelta,
    assignment_id: str,
    source: AssignmentSource = AssignmentSource.MATCHING,
) -> Change | ProposalRejected:
    """Matching's proposal becomes a PROPOSED assignment holding a place until it is answered
    or expires; else the rejection that tells matching why (and whether the place is gone)."""
    if malformed_run_id(run_id):
        return ProposalRejected("", task_id, member_id, "malformed run id", False)
    if task is None:
        return ProposalRejected(run_id, task_id, member_id, "the task does not exist", True)
    reason = claimable(task, now)
    place_unavailable = reason is not None
    reason = reason or claim_problem(member, task.community_id, task.street_id, task.street_wide)
    if reason is None and any(a.member_id == member_id for a in live):
        reason = "the member already holds a place on this task"
    if reason is None and overlapping:
        reason = f"the member has another accepted task at that time ({overlapping})"
    if reason is not None:
        return ProposalRejected(run_id, task_id, member_id, reason, place_unavailable)
    expires = min(now + ttl, task.window.claim_deadline)
    a = _new_assignment(
        task,
        assignment_id,
        member_id,
        AssignmentState.PROPOSED,
        source,
        now,
        expires,
        run_id,
    )
    task = moved(task, places=1)
    return Change(
        task, (a,), (AssignmentChanged("proposed", a, task),), created=frozenset({assignment_id})
    )


def expire_proposals(task: Task, live: Sequence[Assignment], now: datetime) -> Change:
    """Proposals not answered in time free their places."""
    written: list[Assignment] = []
    announced: list[DomainEvent] = []
    for a in live:
        if a.state is AssignmentState.PROPOSED and a.expires_at and a.expires_at <= now:
            change = free_place(task, a, AssignmentState.EXPIRED, "expired", None, now)
            task = change.task
            written += change.written
            announced += change.events
    return Change(task, tuple(written), tuple(announced))


def release(
    task: Task, live: Sequence[Assignment], member_id: str, member: MemberView | None, now: datetime
) -> Change:
    """The member's places on this task, if they could no longer take them as they now stand
    (deactivated, moved out of the task's scope, or no longer holding a verified certificate
    the task needs): withdrawn, so that matching offers them again."""
    why = member_refusal(
        member, task.community_id, task.street_id, task.street_wide
    ) or skill_refusal(member, _skills(task), task.team)
    if why is None or task.status not in TAKING_PLACES:
        return Change(task)
    # A member gone to another community (or whose new report-in is not accepted yet) "moved";
    # the reason says so, since notices and the staff's view tell it apart from a deactivation.
    moved_away = why.refusal in (Refusal.OUT_OF_SCOPE, Refusal.NOT_REPORTED_IN)
    reason = MOVED if moved_away else f"released: {why.message}"
    written: list[Assignment] = []
    announced: list[DomainEvent] = []
    for a in live:
        if a.member_id != member_id:
            continue
        change = free_place(task, a, AssignmentState.WITHDRAWN, "withdrawn", reason, now)
        task = change.task
        written += change.written
        announced += change.events
    return Change(task, tuple(written), tuple(announced))
