"""The rules that end a task: staff cancel or complete it; when its time to take places has
passed, it closes (someone accepted) or expires (nobody did)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.common.errors import FailedPrecondition
from services.tasks.domain.assignment import Assignment, AssignmentState, Outcome
from services.tasks.domain.change import (
    AssignmentChanged,
    Change,
    DomainEvent,
    Feedback,
    TaskCancelled,
    TaskClosed,
    TaskCompleted,
    TaskExpired,
)
from services.tasks.domain.checks import validate_completion
from services.tasks.domain.errors import NOBODY_ACCEPTED, NOT_STARTED
from services.tasks.domain.task import Task, TaskStatus, moved, require_task_transition


def _set(
    a: Assignment,
    state: AssignmentState,
    now: datetime,
    *,
    reason: str | None = None,
    hours: float | None = None,
    served_at: datetime | None = None,
) -> Assignment:
    return Assignment(
        id=a.id,
        task_id=a.task_id,
        member_id=a.member_id,
        state=state,
        source=a.source,
        expires_at=a.expires_at,
        match_run_id=a.match_run_id,
        hours=a.hours if hours is None else hours,
        reason=a.reason if reason is None else reason,
        created_at=a.created_at,
        updated_at=now,
        served_at=a.served_at if served_at is None else served_at,
    )


def cancel(task: Task, live: Sequence[Assignment], reason: str, now: datetime) -> Change:
    """Staff (or the end of its role) cancel the task: every place it held is cancelled too."""
    require_task_transition(task.status, TaskStatus.CANCELLED, "cancel")
    changed = tuple(_set(a, AssignmentState.CANCELLED, now, reason=reason) for a in live)
    task = moved(
        task,
        places=-task.places_taken,
        accepted=-task.accepted,
        status=TaskStatus.CANCELLED,
        cancel_reason=reason,
    )
    announced: list[DomainEvent] = [TaskCancelled(task, reason)]
    announced += [AssignmentChanged("cancelled", a, task) for a in changed]
    return Change(task, changed, tuple(announced))


def complete(
    task: Task,
    live: Sequence[Assignment],
    outcomes: tuple[Outcome, ...],
    score: int,
    comment: str,
    now: datetime,
) -> Change:
    """Staff report the task done, with an outcome (hours, or no-show) for every accepted
    member; proposals still unanswered are cancelled."""
    require_task_transition(task.status, TaskStatus.COMPLETED, "complete")
    accepted = [a for a in live if a.state is AssignmentState.ACCEPTED]
    if not accepted:
        raise FailedPrecondition(
            "cannot complete: nobody was accepted for the task", NOBODY_ACCEPTED
        )
    if not task.window.flexible and now < task.window.start:
        raise FailedPrecondition("cannot complete: the task has not started yet", NOT_STARTED)
    comment = validate_completion(outcomes, {a.member_id for a in accepted}, score, comment)
    by_member = {o.member_id: o for o in outcomes}
    served = now if task.window.flexible else task.window.start
    written: list[Assignment] = []
    done: list[Assignment] = []
    for a in live:
        if a.state is AssignmentState.PROPOSED:
            written.append(_set(a, AssignmentState.CANCELLED, now, reason="task completed"))
            continue
        o = by_member[a.member_id]
        if o.no_show:
            done.append(_set(a, AssignmentState.NO_SHOW, now))
        else:
            done.append(_set(a, AssignmentState.COMPLETED, now, hours=o.hours, served_at=served))
        written.append(done[-1])
    task = moved(task, places=-(len(live) - len(accepted)), status=TaskStatus.COMPLETED)
    return Change(
        task,
        tuple(written),
        (TaskCompleted(task, tuple(done), score, comment),),
        feedback=Feedback(score, comment),
    )


def close_due(task: Task, live: Sequence[Assignment], now: datetime) -> Change:
    """The task's time to take places has passed: unanswered proposals expire, and the task is
    CLOSED if someone accepted (it goes ahead), else EXPIRED."""
    written: list[Assignment] = []
    announced: list[DomainEvent] = []
    for a in live:
        if a.state is AssignmentState.PROPOSED:
            expired = _set(a, AssignmentState.EXPIRED, now)
            task = moved(task, places=-1)
            written.append(expired)
            announced.append(AssignmentChanged("expired", expired, task))
    if task.accepted == 0:
        task = moved(task, status=TaskStatus.EXPIRED)
        announced.append(TaskExpired(task))
    else:
        task = moved(task, status=TaskStatus.CLOSED)
        announced.append(TaskClosed(task))
    return Change(task, tuple(written), tuple(announced))
