"""The task: its states and their transitions, its places, and why no place can be taken."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from services.common.values import Beneficiary, LatLng, TimeWindow
from services.tasks.domain.errors import ClaimRefusal, Refusal, task_state


class TaskKind(StrEnum):
    WISH = "wish"
    ROLE_OCCURRENCE = "role_occurrence"


class TaskStatus(StrEnum):
    OPEN = "open"
    FILLED = "filled"
    CLOSED = "closed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# The state machine (drawn in protos/linli/v1/tasks.proto and docs/tasks.md).
TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.OPEN: frozenset(
        {
            TaskStatus.FILLED,
            TaskStatus.CLOSED,
            TaskStatus.EXPIRED,
            TaskStatus.COMPLETED,
            TaskStatus.CANCELLED,
        }
    ),
    TaskStatus.FILLED: frozenset(
        {
            TaskStatus.OPEN,
            TaskStatus.CLOSED,
            TaskStatus.EXPIRED,
            TaskStatus.COMPLETED,
            TaskStatus.CANCELLED,
        }
    ),
    TaskStatus.CLOSED: frozenset({TaskStatus.COMPLETED, TaskStatus.CANCELLED}),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
    TaskStatus.EXPIRED: frozenset(),
}
TAKING_PLACES = frozenset({TaskStatus.OPEN, TaskStatus.FILLED})


def require_task_transition(current: TaskStatus, target: TaskStatus, action: str) -> None:
    if target not in TASK_TRANSITIONS[current]:
        raise task_state(action, current.value)


def status_for_places(
    places_taken: int, headcount: int, accepted: int = 0, overbook_cap: int = 0
) -> TaskStatus:
    """FILLED once no place may be taken: every place held (over-booked ones included), or
    every place of the headcount accepted."""
    full = places_taken >= headcount + overbook_cap or accepted >= headcount
    return TaskStatus.FILLED if full else TaskStatus.OPEN


@dataclass(frozen=True)
class RequiredSkill:
    skill: str
    min_level: int


@dataclass(frozen=True)
class Task:
    id: str
    kind: TaskKind
    source_id: str
    community_id: str
    street_id: str
    street_wide: bool
    title: str
    description: str
    beneficiary: Beneficiary
    location: LatLng
    address: str
    skills: tuple[RequiredSkill, ...]
    headcount: int
    places_taken: int
    accepted: int
    window: TimeWindow
    effort_hours: float
    status: TaskStatus
    cancel_reason: str
    created_at: datetime
    updated_at: datetime
    distance_m: float = 0.0
    # Raised by each change staff make (the calendar's SEQUENCE).
    revision: int = 0
    # When staff were told that places were still empty close to the start.
    empty_alerted_at: datetime | None = None
    # The role's paired unit, whose members matching prefers ("" for none and for wishes).
    unit_id: str = ""
    # The skills are asked of the team together, not of each member.
    team: bool = False
    # Proposals a large one-off event may hold beyond its headcount (never more accepted).
    overbook_cap: int = 0

    @property
    def most_places(self) -> int:
        """Places (proposed and accepted) the task may hold at once."""
        return self.headcount + self.overbook_cap


@dataclass(frozen=True)
class MemberRecord:
    member_id: str
    hours_this_month: float
    hours_this_year: float
    hours_total: float
    tasks_done: int
    no_shows: int
    upcoming: int


@dataclass(frozen=True)
class TaskDraft:
    """What a posted task is made of, whether from a wish or from a role's occurrence."""

    kind: TaskKind
    source_id: str
    community_id: str
    street_id: str
    street_wide: bool
    title: str
    description: str
    beneficiary: Beneficiary
    location: LatLng
    address: str
    skills: tuple[RequiredSkill, ...]
    headcount: int
    window: TimeWindow
    effort_hours: float
    unit_id: str = ""
    team: bool = False
    overbook_cap: int = 0


def new_task(draft: TaskDraft, now: datetime, task_id: str | None = None) -> Task:
    """A freshly posted task: open, no place taken."""
    return Task(
        id=task_id or str(uuid.uuid4()),
        kind=draft.kind,
        source_id=draft.source_id,
        community_id=draft.community_id,
        street_id=draft.street_id,
        street_wide=draft.street_wide,
        title=draft.title,
        description=draft.description,
        beneficiary=draft.beneficiary,
        location=draft.location,
        address=draft.address,
        skills=draft.skills,
        headcount=draft.headcount,
        places_taken=0,
        accepted=0,
        window=draft.window,
        effort_hours=draft.effort_hours,
        unit_id=draft.unit_id,
        team=draft.team,
        overbook_cap=draft.overbook_cap,
        status=TaskStatus.OPEN,
        cancel_reason="",
        created_at=now,
        updated_at=now,
    )


def moved(
    task: Task,
    *,
    places: int = 0,
    accepted: int = 0,
    status: TaskStatus | None = None,
    cancel_reason: str | None = None,
) -> Task:
    """The task with its counts moved. Without an explicit status an OPEN or FILLED task
    follows its places."""
    taken = task.places_taken + places
    held = task.accepted + accepted
    new_status = status or (
        status_for_places(taken, task.headcount, held, task.overbook_cap)
        if task.status in TAKING_PLACES
        else task.status
    )
    return replace(
        task,
        places_taken=taken,
        accepted=held,
        status=new_status,
        cancel_reason=task.cancel_reason if cancel_reason is None else cancel_reason,
    )


def task_refusal(task: Task, now: datetime) -> ClaimRefusal | None:
    """Why no place can be taken on this task now, or None."""
    if task.status not in TAKING_PLACES:
        return ClaimRefusal(Refusal.TASK_NOT_OPEN, f"the task is {task.status.value}")
    if now >= task.window.claim_deadline:
        return ClaimRefusal(Refusal.DEADLINE_PASSED, "the task's time to take places has passed")
    if task.places_taken >= task.most_places or task.accepted >= task.headcount:
        return ClaimRefusal(Refusal.TASK_FULL, "every place on the task is taken")
    return None


def claimable(task: Task, now: datetime) -> str | None:
    """Why no place can be taken on this task now, or None."""
    found = task_refusal(task, now)
    return None if found is None else found.message
