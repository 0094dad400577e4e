"""The task service's rules: wishes, roles and their occurrences, the task and assignment state
machines, who may take a place, and what a caller may see. Pure: no I/O, time passed in.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from services.common.auth import Principal, Role
from services.common.checks import Violations, check_location, check_name, clean_text
from services.common.errors import FailedPrecondition
from services.common.settings import Bounds
from services.common.skills import SKILL_CODES
from services.common.values import LOCAL_TZ, Beneficiary, LatLng
from services.common.values import TimeWindow as Window

TITLE_MAX = 60
DESCRIPTION_MAX = 1000
ADDRESS_MAX = 200
REASON_MAX = 200
COMMENT_MAX = 500
HEADCOUNT_MIN, HEADCOUNT_MAX = 1, 100
EFFORT_MIN, EFFORT_MAX = 0.25, 12.0
HOURS_LOGGED_MAX = 24.0
FIXED_WINDOW_MAX = timedelta(days=7)
FLEXIBLE_WINDOW_MAX = timedelta(days=92)
SCHEDULE_SPAN_MAX = timedelta(days=3 * 366)
# How far ahead a wish's or a one-off event's window may lie (LINLI_POSTING_HORIZON_DAYS): a
# window dated years ahead is a mistake, and every reader of tasks would carry it.
POSTING_REACH = timedelta(days=366)
ID_MAX = 64
EARLIEST_DATE = date(2000, 1, 1)  # anything before is a mistake (or an impossible date)


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


class AssignmentState(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


class AssignmentSource(StrEnum):
    CLAIM = "claim"
    MATCHING = "matching"


# The state machines (drawn in protos/linli/v1/tasks.proto and docs/tasks.md).
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
TAKING_PLACES = frozenset({TaskStatus.OPEN, TaskStatus.FILLED})


def require_task_transition(current: TaskStatus, target: TaskStatus, action: str) -> None:
    if target not in TASK_TRANSITIONS[current]:
        raise FailedPrecondition(
            f"cannot {action}: the task is {current.value}", "TASK_STATE", state=current.value
        )


def require_assignment_transition(
    current: AssignmentState, target: AssignmentState, action: str
) -> None:
    if target not in ASSIGNMENT_TRANSITIONS.get(current, frozenset()):
        raise FailedPrecondition(
            f"cannot {action}: the assignment is {current.value}",
            "ASSIGNMENT_STATE",
            state=current.value,
        )


def status_for_places(places_taken: int, headcount: int) -> TaskStatus:
    return TaskStatus.FILLED if places_taken >= headcount else TaskStatus.OPEN


@dataclass(frozen=True)
class RequiredSkill:
    skill: str
    min_level: int


@dataclass(frozen=True)
class WishDraft:
    community_id: str
    title: str
    description: str
    beneficiary: Beneficiary | None
    location: LatLng | None
    address: str
    skills: tuple[RequiredSkill, ...]
    headcount: int
    window: Window | None
    effort_hours: float


@dataclass(frozen=True)
class WeeklySchedule:
    days: tuple[int, ...]  # ISO weekdays
    start_minute: int
    end_minute: int
    first_date: date | None
    last_date: date | None


@dataclass(frozen=True)
class OneOffSchedule:
    window: Window | None


Schedule = WeeklySchedule | OneOffSchedule


@dataclass(frozen=True)
class RoleDraft:
    community_id: str
    unit_id: str
    title: str
    description: str
    beneficiary: Beneficiary | None
    location: LatLng | None
    skills: tuple[RequiredSkill, ...]
    headcount: int
    effort_hours: float
    schedule: Schedule | None
    street_wide: bool


# -- validation ---------------------------------------------------------------------------------


def shown(value: str, limit: int = 40) -> str:
    """A caller's value as quoted in an error: cut short, so that errors stay small."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _check_text(v: Violations, field: str, value: str, max_len: int) -> str:
    value = clean_text(value)
    if len(value) > max_len:
        v.add(field, f"must be at most {max_len} characters (got {len(value)})")
    elif any(unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\t" for c in value):
        # PostgreSQL refuses NUL in text, and other control characters forge log and screen
        # lines; line breaks and tabs are ordinary in a description.
        v.add(field, "must not contain control characters")
    return value


def _check_common(v: Violations, draft: WishDraft | RoleDraft, bounds: Bounds) -> tuple[str, str]:
    """Fields wishes and roles share; returns the cleaned title and description."""
    title, description = draft.title, draft.description
    beneficiary, location, skills = draft.beneficiary, draft.location, draft.skills
    headcount, effort_hours = draft.headcount, draft.effort_hours
    title = check_name(v, "title", title, TITLE_MAX)
    description = _check_text(v, "description", description, DESCRIPTION_MAX)
    if beneficiary is None:
        v.add("beneficiary_group", "is required: elderly, child, disabled, poor or other")
    check_location(v, "location", location, bounds)
    seen: set[str] = set()
    if len(skills) > len(SKILL_CODES):
        # One violation, not one per entry: an error stays small whatever was sent.
        v.add("skills", f"names at most {len(SKILL_CODES)} skills (got {len(skills)})")
        skills = ()
    for i, s in enumerate(skills):
        if s.skill not in SKILL_CODES:
            v.add(f"skills[{i}].skill", f"unknown skill {shown(s.skill)} (see ListSkills)")
        elif s.skill in seen:
            v.add(f"skills[{i}].skill", f"{s.skill!r} appears twice")
        seen.add(s.skill)
        if not 1 <= s.min_level <= 3:
            v.add(f"skills[{i}].min_level", f"must be 1 to 3 (got {s.min_level})")
    if not HEADCOUNT_MIN <= headcount <= HEADCOUNT_MAX:
        v.add("headcount", f"must be {HEADCOUNT_MIN} to {HEADCOUNT_MAX} (got {headcount})")
    if not (math.isfinite(effort_hours) and EFFORT_MIN <= effort_hours <= EFFORT_MAX):
        v.add(
            "effort_hours",
            f"must be {EFFORT_MIN} to {EFFORT_MAX} hours per occurrence (got {effort_hours})",
        )
    return title, description


def _check_community(v: Violations, community_id: str) -> None:
    if not community_id:
        v.add("community_id", "is required")
    elif len(community_id) > ID_MAX or not community_id.isprintable():
        v.add("community_id", "is not a community id")


def check_window(
    v: Violations,
    field: str,
    window: Window | None,
    now: datetime,
    effort_hours: float,
    reach: timedelta = POSTING_REACH,
) -> Window | None:
    if window is None:
        v.add(field, "is required")
        return None
    if window.flexible:
        # "Any time before end": the window opens when the task is posted.
        window = replace(window, start=now)
        if window.end <= now:
            v.add(f"{field}.end", "lies in the past")
        elif window.end - now > min(FLEXIBLE_WINDOW_MAX, reach):
            v.add(f"{field}.end", f"must be within {min(FLEXIBLE_WINDOW_MAX, reach).days} days")
        elif _effort_ok(effort_hours) and window.end - now < timedelta(hours=effort_hours):
            v.add(f"{field}.end", "leaves less time than effort_hours")
        return window
    if window.end <= window.start:
        v.add(f"{field}.end", "must be after start")
    elif window.start <= now:
        v.add(f"{field}.start", "lies in the past")
    elif window.start - now > reach:
        v.add(f"{field}.start", f"must be within {reach.days} days from now")
    elif window.end - window.start > FIXED_WINDOW_MAX:
        v.add(f"{field}.end", f"a fixed window lasts at most {FIXED_WINDOW_MAX.days} days")
    elif _effort_ok(effort_hours) and window.end - window.start < timedelta(hours=effort_hours):
        v.add(f"{field}.end", "the window is shorter than effort_hours")
    return window


def _effort_ok(effort_hours: float) -> bool:
    """Whether effort_hours is a sane number to compare with (else it is reported elsewhere)."""
    return math.isfinite(effort_hours) and EFFORT_MIN <= effort_hours <= EFFORT_MAX


def validate_wish(
    draft: WishDraft, now: datetime, bounds: Bounds, reach: timedelta = POSTING_REACH
) -> WishDraft:
    v = Violations("wish.")
    title, description = _check_common(v, draft, bounds)
    address = _check_text(v, "address", draft.address, ADDRESS_MAX)
    window = check_window(v, "window", draft.window, now, draft.effort_hours, reach)
    _check_community(v, draft.community_id)
    v.raise_if_any()
    return replace(draft, title=title, description=description, address=address, window=window)


def validate_role(
    draft: RoleDraft, now: datetime, bounds: Bounds, reach: timedelta = POSTING_REACH
) -> RoleDraft:
    v = Violations("role.")
    title, description = _check_common(v, draft, bounds)
    _check_community(v, draft.community_id)
    unit_id = draft.unit_id
    if unit_id and (len(unit_id) > ID_MAX or not unit_id.isprintable()):
        v.add("unit_id", f"must be at most {ID_MAX} printable characters")
    schedule = draft.schedule
    if schedule is None:
        v.add("schedule", "is required: weekly or once")
    elif isinstance(schedule, OneOffSchedule):
        window = check_window(v, "once.window", schedule.window, now, draft.effort_hours, reach)
        if window is not None and window.flexible:
            v.add("once.window.flexible", "a one-off event has a fixed time")
        schedule = OneOffSchedule(window)
    else:
        _check_weekly(v, schedule, now, draft.effort_hours)
    v.raise_if_any()
    return replace(draft, title=title, description=description, schedule=schedule)


def _check_weekly(v: Violations, s: WeeklySchedule, now: datetime, effort_hours: float) -> None:
    ok = True
    days = s.days
    if not days:
        v.add("weekly.days", "must name at least one day")
        ok = False
    elif len(days) > 7:
        v.add("weekly.days", f"names at most 7 days (got {len(days)})")
        ok, days = False, ()
    for i, day in enumerate(days):
        if not 1 <= day <= 7:
            v.add(f"weekly.days[{i}]", "must be a day of the week")
            ok = False
    if len(set(days)) != len(days):
        v.add("weekly.days", "names a day twice")
    if not 0 <= s.start_minute <= 1439:
        v.add("weekly.start_minute", f"must be 0 to 1439 (got {s.start_minute})")
        ok = False
    if not s.start_minute < s.end_minute <= 1440:
        v.add(
            "weekly.end_minute", f"must be after start_minute and at most 1440 (got {s.end_minute})"
        )
        ok = False
    elif _effort_ok(effort_hours) and (s.end_minute - s.start_minute) < effort_hours * 60:
        v.add("weekly.end_minute", "each occurrence is shorter than effort_hours")
    if s.first_date is None:
        v.add("weekly.first_date", "is required")
        ok = False
    latest = now.date() + SCHEDULE_SPAN_MAX
    for name, when in (("first_date", s.first_date), ("last_date", s.last_date)):
        if when is not None and not EARLIEST_DATE <= when <= latest:
            v.add(f"weekly.{name}", "must be a real date at most three years from today")
            ok = False
    if ok and s.first_date and s.last_date:
        if s.last_date < s.first_date:
            v.add("weekly.last_date", "must not be before first_date")
            ok = False
        elif s.last_date - s.first_date > SCHEDULE_SPAN_MAX:
            v.add("weekly.last_date", "a schedule spans at most three years; end it and start anew")
            ok = False
    if ok and s.first_date is not None:
        # Look from whichever is later, now or the first date: a schedule may start far ahead.
        start = max(now, datetime.combine(s.first_date, time(0), LOCAL_TZ) - timedelta(days=1))
        if next(occurrences(s, start, start + SCHEDULE_SPAN_MAX), None) is None:
            v.add("weekly", "yields no occurrence after now: check days, dates and times")


# -- occurrences --------------------------------------------------------------------------------


def _local(day: date, minute: int) -> datetime:
    return datetime.combine(day, time(0), LOCAL_TZ) + timedelta(minutes=minute)


def occurrences(schedule: Schedule, after: datetime, until: datetime) -> Iterator[Window]:
    """The schedule's windows that start after `after` and no later than `until`, in order."""
    if isinstance(schedule, OneOffSchedule):
        w = schedule.window
        if w is not None and after < w.start <= until:
            yield w
        return
    if schedule.first_date is None:
        return
    day = max(schedule.first_date, after.astimezone(LOCAL_TZ).date())
    last = until.astimezone(LOCAL_TZ).date()
    if schedule.last_date is not None:
        last = min(last, schedule.last_date)
    days = set(schedule.days)
    while day <= last:
        if day.isoweekday() in days:
            start = _local(day, schedule.start_minute)
            if after < start <= until:
                yield Window(
                    start.astimezone(UTC), _local(day, schedule.end_minute).astimezone(UTC)
                )
        day += timedelta(days=1)


# -- people -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberView:
    """What the task service knows of a member, from the registry's events."""

    id: str
    community_id: str | None
    street_id: str | None
    active: bool
    reported_in: bool


class Refusal(StrEnum):
    """Why a place may not be taken: the machine-readable `refusal` of a CLAIM_REFUSED error
    (documented in protos/linli/v1/tasks.proto and docs/tasks.md)."""

    TASK_FULL = "TASK_FULL"
    TASK_NOT_OPEN = "TASK_NOT_OPEN"
    DEADLINE_PASSED = "DEADLINE_PASSED"
    MEMBER_UNKNOWN = "MEMBER_UNKNOWN"
    MEMBER_INACTIVE = "MEMBER_INACTIVE"
    NOT_REPORTED_IN = "NOT_REPORTED_IN"
    OUT_OF_SCOPE = "OUT_OF_SCOPE"
    TIME_CONFLICT = "TIME_CONFLICT"
    ALREADY_HOLDS = "ALREADY_HOLDS"


@dataclass(frozen=True)
class ClaimRefusal:
    refusal: Refusal
    message: str


def member_refusal(
    member: MemberView | None, community_id: str, street_id: str, street_wide: bool
) -> ClaimRefusal | None:
    """Why this member may not take a place on a task of this community, or None."""
    if member is None:
        return ClaimRefusal(
            Refusal.MEMBER_UNKNOWN, "the member is not known to the task service yet"
        )
    if not member.active:
        return ClaimRefusal(Refusal.MEMBER_INACTIVE, "the member is deactivated")
    if not member.reported_in or not member.community_id:
        return ClaimRefusal(
            Refusal.NOT_REPORTED_IN, "the member has not reported in to a community"
        )
    if member.community_id == community_id:
        return None
    if street_wide and member.street_id == street_id:
        return None
    return ClaimRefusal(
        Refusal.OUT_OF_SCOPE,
        f"the member reported in to {member.community_id!r}, not to this task's community",
    )


def claim_problem(
    member: MemberView | None, community_id: str, street_id: str, street_wide: bool
) -> str | None:
    """Why this member may not take a place on a task of this community, or None."""
    found = member_refusal(member, community_id, street_id, street_wide)
    return None if found is None else found.message


def may_see_task(
    principal: Principal,
    member: MemberView | None,
    community_id: str,
    street_id: str,
    street_wide: bool,
) -> bool:
    if principal.role is Role.MEMBER:
        # A deactivated member still sees their community's tasks; claiming says why not.
        if member is None or not member.reported_in:
            return False
        return member.community_id == community_id or (
            street_wide and member.street_id == street_id
        )
    return principal.holds(community_id, street_id)


def may_manage_task(principal: Principal, community_id: str, street_id: str) -> bool:
    """Post, change, cancel and complete: staff of the community and the administrators above."""
    return principal.role is not Role.MEMBER and principal.holds(community_id, street_id)


@dataclass(frozen=True)
class Outcome:
    member_id: str
    hours: float
    no_show: bool


def validate_completion(
    outcomes: tuple[Outcome, ...], accepted: set[str], score: int, comment: str
) -> str:
    """Check a completion against the task's accepted members; return the cleaned comment."""
    v = Violations()
    seen: set[str] = set()
    if len(outcomes) > HEADCOUNT_MAX:
        v.add("outcomes", f"a task has at most {HEADCOUNT_MAX} members (got {len(outcomes)})")
        outcomes = ()
    for i, o in enumerate(outcomes):
        if o.member_id in seen:
            v.add(f"outcomes[{i}].member_id", "appears twice")
        seen.add(o.member_id)
        if o.member_id not in accepted:
            v.add(f"outcomes[{i}].member_id", "is not an accepted member of this task")
        if not o.no_show and not (math.isfinite(o.hours) and 0.25 <= o.hours <= HOURS_LOGGED_MAX):
            v.add(f"outcomes[{i}].hours", f"must be 0.25 to {HOURS_LOGGED_MAX} (got {o.hours})")
    missing = sorted(accepted - seen)
    if missing:
        v.add("outcomes", f"no outcome for accepted member(s) {', '.join(missing)}")
    if not 1 <= score <= 5:
        v.add("feedback.score", f"must be 1 to 5 (got {score})")
    comment = _check_text(v, "feedback.comment", comment, COMMENT_MAX)
    v.raise_if_any()
    return comment


def check_reason(reason: str, required: bool = False) -> str:
    v = Violations()
    reason = _check_text(v, "reason", reason, REASON_MAX)
    if required and not reason:
        v.add("reason", "is required")
    v.raise_if_any()
    return reason


# -- records ------------------------------------------------------------------------------------


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
    window: Window
    effort_hours: float
    status: TaskStatus
    cancel_reason: str
    created_at: datetime
    updated_at: datetime
    distance_m: float = 0.0


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


@dataclass(frozen=True)
class Wish:
    id: str
    draft: WishDraft
    task_id: str
    created_at: datetime


@dataclass(frozen=True)
class VolunteerRole:
    id: str
    draft: RoleDraft
    ended: bool
    created_at: datetime


@dataclass(frozen=True)
class MemberRecord:
    member_id: str
    hours_this_month: float
    hours_this_year: float
    hours_total: float
    tasks_done: int
    no_shows: int
    upcoming: int


def task_refusal(task: Task, now: datetime) -> ClaimRefusal | None:
    """Why no place can be taken on this task now, or None."""
    if task.status not in TAKING_PLACES:
        return ClaimRefusal(Refusal.TASK_NOT_OPEN, f"the task is {task.status.value}")
    if now >= task.window.claim_deadline:
        return ClaimRefusal(Refusal.DEADLINE_PASSED, "the task's time to take places has passed")
    if task.places_taken >= task.headcount:
        return ClaimRefusal(Refusal.TASK_FULL, "every place on the task is taken")
    return None


def claimable(task: Task, now: datetime) -> str | None:
    """Why no place can be taken on this task now, or None."""
    found = task_refusal(task, now)
    return None if found is None else found.message
