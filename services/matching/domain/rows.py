"""The read model's rows as values: members, tasks, and members' assignments, as the registry's
and the task service's events describe them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.common.values import LOCAL_TZ, WeeklyWindow, claim_deadline

# Assignment states that hold a member's time, hours and place.
LIVE = frozenset({"proposed", "accepted"})
# Assignment states by which a member stands in the weekly slot of its task.
STANDING = frozenset({"accepted", "completed"})


@dataclass(frozen=True)
class MemberRow:
    id: str
    community_id: str | None
    street_id: str | None
    active: bool
    reported_in: bool
    lat: float | None
    lng: float | None
    skills: dict[str, int]
    availability: tuple[WeeklyWindow, ...]
    hours_per_month: int
    unit_id: str = ""


@dataclass(frozen=True)
class TaskRow:
    id: str
    community_id: str
    street_id: str
    street_wide: bool
    lat: float
    lng: float
    skills: tuple[tuple[str, int], ...]
    headcount: int
    places_taken: int
    start: datetime
    end: datetime
    flexible: bool
    effort_hours: float
    beneficiary: str
    status: str
    posted_at: datetime
    slot: str = ""  # a role occurrence's weekly slot; "" for a wish
    team: bool = False  # the skills are asked of the team together
    unit_id: str = ""  # the role's paired unit
    overbook_cap: int = 0  # a large one-off event's over-booking cap

    @property
    def deadline(self) -> datetime:
        return claim_deadline(self.start, self.end, self.flexible)

    def open_places(self, now: datetime) -> int:
        if self.status != "open" or self.deadline <= now:
            return 0
        return max(0, self.headcount - self.places_taken)


@dataclass(frozen=True)
class AssignmentRow:
    """A member's place on a task (proposed, accepted, done, no-show...), with the task's window
    and effort: their busy times, hours this month and record of turning up."""

    assignment_id: str
    member_id: str
    task_id: str
    state: str
    start: datetime
    end: datetime
    flexible: bool
    effort_hours: float
    hours: float
    slot: str = ""  # the weekly slot of its task, if any


def slot_of(role_id: str, start: datetime) -> str:
    """A role occurrence's weekly slot: the role, and the local weekday and time it starts."""
    local = start.astimezone(LOCAL_TZ)
    return f"{role_id}:{local.isoweekday()}:{local:%H%M}"
