"""Checks shared by what staff post and answer: text fields, a task's time window, the fields
wishes and roles share, a reason and a completion report."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Protocol

from services.common.checks import Violations, check_location, check_name, clean_text
from services.common.settings import Bounds
from services.common.skills import SKILL_CODES
from services.common.values import Beneficiary, LatLng, TimeWindow
from services.tasks.domain.assignment import Outcome
from services.tasks.domain.task import RequiredSkill

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


def shown(value: str, limit: int = 40) -> str:
    """A caller's value as quoted in an error: cut short, so that errors stay small."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def check_text(v: Violations, field: str, value: str, max_len: int) -> str:
    value = clean_text(value)
    if len(value) > max_len:
        v.add(field, f"must be at most {max_len} characters (got {len(value)})")
    elif any(unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\t" for c in value):
        # PostgreSQL refuses NUL in text, and other control characters forge log and screen
        # lines; line breaks and tabs are ordinary in a description.
        v.add(field, "must not contain control characters")
    return value


class _Skill(Protocol):
    @property
    def skill(self) -> str: ...
    @property
    def min_level(self) -> int: ...


class Draft(Protocol):
    """What wishes and roles ask alike (WishDraft and RoleDraft both are one)."""

    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def beneficiary(self) -> Beneficiary | None: ...
    @property
    def location(self) -> LatLng | None: ...
    @property
    def skills(self) -> Sequence[_Skill]: ...
    @property
    def headcount(self) -> int: ...
    @property
    def effort_hours(self) -> float: ...


def check_common(v: Violations, draft: Draft, bounds: Bounds) -> tuple[str, str]:
    """Fields wishes and roles share; returns the cleaned title and description."""
    title, description = draft.title, draft.description
    beneficiary, location, skills = draft.beneficiary, draft.location, draft.skills
    headcount, effort_hours = draft.headcount, draft.effort_hours
    title = check_name(v, "title", title, TITLE_MAX)
    description = check_text(v, "description", description, DESCRIPTION_MAX)
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


def check_community(v: Violations, community_id: str) -> None:
    if not community_id:
        v.add("community_id", "is required")
    elif len(community_id) > ID_MAX or not community_id.isprintable():
        v.add("community_id", "is not a community id")


def check_window(
    v: Violations,
    field: str,
    window: TimeWindow | None,
    now: datetime,
    effort_hours: float,
    reach: timedelta = POSTING_REACH,
) -> TimeWindow | None:
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
        elif effort_ok(effort_hours) and window.end - now < timedelta(hours=effort_hours):
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
    elif effort_ok(effort_hours) and window.end - window.start < timedelta(hours=effort_hours):
        v.add(f"{field}.end", "the window is shorter than effort_hours")
    return window


def effort_ok(effort_hours: float) -> bool:
    """Whether effort_hours is a sane number to compare with (else it is reported elsewhere)."""
    return math.isfinite(effort_hours) and EFFORT_MIN <= effort_hours <= EFFORT_MAX


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
    comment = check_text(v, "feedback.comment", comment, COMMENT_MAX)
    v.raise_if_any()
    return comment


def check_reason(reason: str, required: bool = False) -> str:
    v = Violations()
    reason = check_text(v, "reason", reason, REASON_MAX)
    if required and not reason:
        v.add("reason", "is required")
    v.raise_if_any()
    return reason


def check_team(v: Violations, team: bool, skills: Sequence[RequiredSkill], headcount: int) -> None:
    """A team is two or more people asked for two or more skills together."""
    if not team:
        return
    if len(skills) < 2:
        v.add("team", "a team is asked for two or more skills; with one, ask it of each member")
    if headcount < 2:
        v.add("team", "a team needs a headcount of two or more")


def check_overbooking(
    v: Violations, cap: int, headcount: int, one_off: bool, min_headcount: int
) -> None:
    """Over-booking is for large one-off events only, and at most doubles the headcount."""
    if cap == 0:
        return
    if cap < 0:
        v.add("overbook_cap", f"must not be negative (got {cap})")
    elif not one_off:
        v.add("overbook_cap", "only a one-off event is over-booked; a weekly role is not")
    elif headcount < min_headcount:
        v.add(
            "overbook_cap",
            f"only an event asking at least {min_headcount} people is over-booked"
            f" (headcount {headcount})",
        )
    elif cap > headcount:
        v.add("overbook_cap", f"must be at most the headcount, {headcount} (got {cap})")
