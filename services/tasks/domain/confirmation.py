"""Confirm or release: a member holding an accepted place is asked, once, some time before the
start, whether they will come; they confirm, or release the place at once; unanswered, the
role's policy applies. Also the staff's alert for places still empty close to the start.

Pure: the time and the settings' spans are passed in.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from services.common.errors import FailedPrecondition
from services.tasks.domain.assignment import (
    Assignment,
    AssignmentState,
    NoAnswerPolicy,
)
from services.tasks.domain.change import (
    Change,
    ConfirmationOverdue,
    ConfirmationRequested,
    PlaceLeftEmpty,
)
from services.tasks.domain.errors import TASK_STARTED, assignment_state
from services.tasks.domain.places import free_place, give_up
from services.tasks.domain.task import TAKING_PLACES, Task

# The reason of a place freed by the member's release, and by the policy for no answer.
RELEASED = "released"
UNCONFIRMED = "unconfirmed"


def _before_start(task: Task, now: datetime) -> bool:
    return task.status in TAKING_PLACES and now < task.window.start


def ask(
    task: Task, a: Assignment, now: datetime, before: timedelta, within: timedelta
) -> Change | None:
    """Ask the member once, `before` the start; the answer is due `within` of the asking, and
    at the latest halfway to the start (a member asked late still leaves time to fill a place
    freed for no answer). None when it is not time (or already done)."""
    if (
        a.state is not AssignmentState.ACCEPTED
        or a.confirm_requested_at is not None
        or a.confirmed_at is not None
        or not _before_start(task, now)
        or now < task.window.start - before
    ):
        return None
    answer_by = min(now + within, now + (task.window.start - now) / 2)
    asked = replace(a, confirm_requested_at=now, answer_by=answer_by, updated_at=now)
    return Change(task, (asked,), (ConfirmationRequested(asked, task, answer_by),))


def confirm(task: Task, a: Assignment, now: datetime) -> Change:
    """The member will come. Confirming again changes nothing."""
    if a.state is not AssignmentState.ACCEPTED:
        raise assignment_state("confirm", a.state.value)
    if now >= task.window.start:
        raise FailedPrecondition("cannot confirm: the task has started", TASK_STARTED)
    if a.confirmed_at is not None:
        return Change(task)
    return Change(task, (replace(a, confirmed_at=now, updated_at=now),))


def release(task: Task, a: Assignment, now: datetime) -> Change:
    """The member will not come: the place is freed at once, for the standby list first."""
    if a.state is not AssignmentState.ACCEPTED:
        raise assignment_state("release", a.state.value)
    return give_up(task, a, AssignmentState.WITHDRAWN, RELEASED, now)


def unanswered(task: Task, a: Assignment, now: datetime, policy: NoAnswerPolicy) -> Change | None:
    """Past the answer's time without one: alert staff once (the place kept), or free it."""
    if (
        a.state is not AssignmentState.ACCEPTED
        or a.answer_by is None
        or a.confirmed_at is not None
        or a.overdue_at is not None
        or now < a.answer_by
        or not _before_start(task, now)
    ):
        return None
    if policy is NoAnswerPolicy.RELEASE:
        return free_place(task, a, AssignmentState.WITHDRAWN, "withdrawn", UNCONFIRMED, now)
    alerted = replace(a, overdue_at=now, updated_at=now)
    return Change(task, (alerted,), (ConfirmationOverdue(alerted, task),))


def empty_alert(task: Task, now: datetime, horizon: timedelta) -> Change | None:
    """Once per task, when it comes within `horizon` of its start with places still empty."""
    empty = task.headcount - task.places_taken
    if (
        task.empty_alerted_at is not None
        or empty <= 0
        or not _before_start(task, now)
        or now < task.window.start - horizon
    ):
        return None
    alerted = replace(task, empty_alerted_at=now)
    return Change(alerted, (), (PlaceLeftEmpty(alerted, empty),))
