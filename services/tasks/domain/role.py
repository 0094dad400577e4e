"""The volunteer role: a recurring (or one-off) duty whose schedule yields one task per
occurrence, generated ahead of time until the role ends."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from services.common.checks import Violations
from services.common.settings import Bounds
from services.common.values import (
    LOCAL_TZ,
    OVERBOOK_MIN_HEADCOUNT,
    Beneficiary,
    LatLng,
    TimeWindow,
)
from services.tasks.domain.assignment import NoAnswerPolicy
from services.tasks.domain.checks import (
    EARLIEST_DATE,
    ID_MAX,
    POSTING_REACH,
    SCHEDULE_SPAN_MAX,
    check_common,
    check_community,
    check_overbooking,
    check_team,
    check_window,
    effort_ok,
)
from services.tasks.domain.task import (
    TAKING_PLACES,
    RequiredSkill,
    Task,
    TaskDraft,
    TaskKind,
    new_task,
)


@dataclass(frozen=True)
class WeeklySchedule:
    days: tuple[int, ...]  # ISO weekdays
    start_minute: int
    end_minute: int
    first_date: date | None
    last_date: date | None


@dataclass(frozen=True)
class OneOffSchedule:
    window: TimeWindow | None


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
    # None: the service's setting.
    no_answer: NoAnswerPolicy | None = None
    # The skills are asked of the team together, not of each member.
    team: bool = False
    # For a large one-off event: proposals allowed beyond the headcount (for no-shows).
    overbook_cap: int = 0


@dataclass(frozen=True)
class VolunteerRole:
    id: str
    draft: RoleDraft
    ended: bool
    created_at: datetime


def validate_role(
    draft: RoleDraft,
    now: datetime,
    bounds: Bounds,
    reach: timedelta = POSTING_REACH,
    overbook_min_headcount: int = OVERBOOK_MIN_HEADCOUNT,
) -> RoleDraft:
    v = Violations("role.")
    title, description = check_common(v, draft, bounds)
    check_community(v, draft.community_id)
    unit_id = draft.unit_id
    if unit_id and (len(unit_id) > ID_MAX or not unit_id.isprintable()):
        v.add("unit_id", f"must be at most {ID_MAX} printable characters")
    check_team(v, draft.team, draft.skills, draft.headcount)
    one_off = isinstance(draft.schedule, OneOffSchedule)
    check_overbooking(v, draft.overbook_cap, draft.headcount, one_off, overbook_min_headcount)
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
    elif effort_ok(effort_hours) and (s.end_minute - s.start_minute) < effort_hours * 60:
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


def occurrences(schedule: Schedule, after: datetime, until: datetime) -> Iterator[TimeWindow]:
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
                yield TimeWindow(
                    start.astimezone(UTC), _local(day, schedule.end_minute).astimezone(UTC)
                )
        day += timedelta(days=1)


def occurrence_tasks(
    role: VolunteerRole, street_id: str, since: datetime, until: datetime, now: datetime
) -> list[Task]:
    """The role's tasks that start in (since, until], open (the store keeps those that exist)."""
    d = role.draft
    assert d.schedule is not None and d.location is not None and d.beneficiary is not None
    return [
        new_task(
            TaskDraft(
                kind=TaskKind.ROLE_OCCURRENCE,
                source_id=role.id,
                community_id=d.community_id,
                street_id=street_id,
                street_wide=d.street_wide,
                title=d.title,
                description=d.description,
                beneficiary=d.beneficiary,
                location=d.location,
                address="",
                skills=d.skills,
                headcount=d.headcount,
                window=window,
                effort_hours=d.effort_hours,
                unit_id=d.unit_id,
                team=d.team,
                overbook_cap=d.overbook_cap,
            ),
            now,
        )
        for window in occurrences(d.schedule, since, until)
    ]


def end_role(role: VolunteerRole) -> VolunteerRole | None:
    """The role, ended; None when it had ended already (ending twice changes nothing)."""
    return None if role.ended else replace(role, ended=True)


def role_ended_reason(reason: str) -> str:
    """Why the role's future tasks are cancelled, as their cancel reason says."""
    return f"role ended: {reason}" if reason else "role ended"


def tasks_to_cancel(tasks: list[Task], now: datetime) -> list[Task]:
    """Of an ended role's tasks, those still taking places whose time has not come."""
    return [t for t in tasks if t.status in TAKING_PLACES and t.window.claim_deadline > now]
