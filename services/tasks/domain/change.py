"""What a state change yields: the task as it now stands, the assignments it wrote, and the
domain events that announce them (services/tasks/events.py turns them into payloads)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.tasks.domain.assignment import Assignment
from services.tasks.domain.role import VolunteerRole
from services.tasks.domain.task import Task


@dataclass(frozen=True)
class AssignmentChanged:
    """verb: claimed, proposed, accepted, declined, expired, withdrawn or cancelled. The task
    is as it stood right after this assignment changed."""

    verb: str
    assignment: Assignment
    task: Task


@dataclass(frozen=True)
class StandbyEntry:
    """A member waiting for a place on a full task."""

    task_id: str
    member_id: str
    joined_at: datetime


@dataclass(frozen=True)
class StandbyJoined:
    entry: StandbyEntry


@dataclass(frozen=True)
class StandbyLeft:
    task_id: str
    member_id: str
    reason: str


@dataclass(frozen=True)
class TaskPosted:
    task: Task


@dataclass(frozen=True)
class TaskCancelled:
    task: Task
    reason: str


@dataclass(frozen=True)
class TaskExpired:
    task: Task


@dataclass(frozen=True)
class TaskClosed:
    task: Task


@dataclass(frozen=True)
class TaskCompleted:
    task: Task
    assignments: tuple[Assignment, ...]
    score: int
    comment: str


@dataclass(frozen=True)
class RoleCreated:
    role: VolunteerRole


@dataclass(frozen=True)
class RoleEnded:
    role: VolunteerRole


@dataclass(frozen=True)
class ProposalRejected:
    """Matching's proposal could not become an assignment; `place_unavailable` when the task
    itself takes no place (rather than this member)."""

    run_id: str
    task_id: str
    member_id: str
    reason: str
    place_unavailable: bool


@dataclass(frozen=True)
class ConfirmationRequested:
    """The member is asked to confirm an accepted place by `answer_by`."""

    assignment: Assignment
    task: Task
    answer_by: datetime


@dataclass(frozen=True)
class ConfirmationOverdue:
    """No answer in time; the role's policy is to alert staff (the place is kept)."""

    assignment: Assignment
    task: Task


@dataclass(frozen=True)
class PlaceLeftEmpty:
    """The task came within the alert horizon of its start with places still empty."""

    task: Task
    empty_places: int


@dataclass(frozen=True)
class TaskChanged:
    """Staff changed the task: `paths` name the fields of Task that changed."""

    task: Task
    paths: tuple[str, ...]
    reason: str


DomainEvent = (
    AssignmentChanged
    | StandbyJoined
    | StandbyLeft
    | ConfirmationRequested
    | ConfirmationOverdue
    | PlaceLeftEmpty
    | TaskChanged
    | TaskPosted
    | TaskCancelled
    | TaskExpired
    | TaskClosed
    | TaskCompleted
    | RoleCreated
    | RoleEnded
    | ProposalRejected
)


@dataclass(frozen=True)
class Feedback:
    """What staff reported on completing a task."""

    score: int
    comment: str


@dataclass(frozen=True)
class Change:
    """A change to one task and its assignments, to be written in one transaction."""

    task: Task
    # Assignments new or changed, in the order they changed; `created` names the new ones.
    written: tuple[Assignment, ...] = ()
    events: tuple[DomainEvent, ...] = ()
    created: frozenset[str] = field(default_factory=frozenset)
    feedback: Feedback | None = None

    @property
    def assignment(self) -> Assignment:
        """The assignment a member's change (claim, answer) wrote: the first, before any
        over-booked proposals the change withdrew."""
        assert self.written
        return self.written[0]
