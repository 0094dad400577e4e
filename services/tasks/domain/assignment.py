"""The assignment: a member's place on a task, its states and their transitions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.tasks.domain.errors import assignment_state


class AssignmentState(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


class NoAnswerPolicy(StrEnum):
    """What happens when a member asked to confirm an accepted place does not answer in time:
    staff are alerted (the place kept), or the place is freed."""

    ALERT = "alert"
    RELEASE = "release"


class AssignmentSource(StrEnum):
    CLAIM = "claim"
    MATCHING = "matching"
    # Offered from the task's standby list when a place was freed.
    STANDBY = "standby"


ASSIGNMENT_TRANSITIONS: dict[AssignmentState, frozenset[AssignmentState]] = {
    AssignmentState.PROPOSED: frozenset(
        {
            AssignmentState.ACCEPTED,
            AssignmentState.DECLINED,
            AssignmentState.EXPIRED,
            AssignmentState.CANCELLED,
        }
    ),
    AssignmentState.ACCEPTED: frozenset(
        {
            AssignmentState.WITHDRAWN,
            AssignmentState.COMPLETED,
            AssignmentState.NO_SHOW,
            AssignmentState.CANCELLED,
        }
    ),
}
# States that hold a place on the task.
HOLDS_PLACE = frozenset({AssignmentState.PROPOSED, AssignmentState.ACCEPTED})


def require_assignment_transition(
    current: AssignmentState, target: AssignmentState, action: str
) -> None:
    if target not in ASSIGNMENT_TRANSITIONS.get(current, frozenset()):
        raise assignment_state(action, current.value)


@dataclass(frozen=True)
class Assignment:
    id: str
    task_id: str
    member_id: str
    state: AssignmentState
    source: AssignmentSource
    expires_at: datetime | None
    match_run_id: str
    hours: float
    reason: str
    created_at: datetime
    updated_at: datetime
    # When the member served (a completed assignment's hours count in that month).
    served_at: datetime | None = None
    # Confirm or release: when the member was asked, by when they should answer, when they
    # confirmed, and when staff were alerted that they had not.
    confirm_requested_at: datetime | None = None
    answer_by: datetime | None = None
    confirmed_at: datetime | None = None
    overdue_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    member_id: str
    hours: float
    no_show: bool
