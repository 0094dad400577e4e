"""The task service's rules (services/tasks/domain/): wishes and roles, occurrences, the task
and assignment state machines, who may take a place, who may see and manage a task."""

from __future__ import annotations

import contextlib
import math
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from itertools import pairwise

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.auth import Principal, Role
from services.common.errors import FailedPrecondition, FieldViolation, InvalidArgument
from services.common.settings import Bounds
from services.common.values import PUBLIC_DEGREES as APPROXIMATE_DEGREES
from services.common.values import LatLng, approximate, month_start, year_start
from services.tasks import domain
from services.tasks.domain import (
    ASSIGNMENT_TRANSITIONS,
    COMMENT_MAX,
    DESCRIPTION_MAX,
    HOLDS_PLACE,
    LOCAL_TZ,
    TAKING_PLACES,
    TASK_TRANSITIONS,
    TITLE_MAX,
    Assignment,
    AssignmentChanged,
    AssignmentSource,
    AssignmentState,
    Beneficiary,
    Change,
    Feedback,
    MemberView,
    OneOffSchedule,
    Outcome,
    ProposalRejected,
    Refusal,
    RequiredSkill,
    RoleDraft,
    Task,
    TaskCancelled,
    TaskClosed,
    TaskDraft,
    TaskExpired,
    TaskKind,
    TaskStatus,
    TimeWindow,
    WeeklySchedule,
    WishDraft,
    check_reason,
    claim_problem,
    claimable,
    may_manage_task,
    may_see_task,
    member_refusal,
    new_task,
    occurrences,
    require_assignment_transition,
    require_task_transition,
    status_for_places,
    task_refusal,
    validate_completion,
    validate_role,
    validate_wish,
)

# The defaults: the district around 36.98 N, 117.17 E.
BOUNDS = Bounds()
# Shanghai time as a plain fixed offset: an oracle independent of the zone database (China has
# kept +08:00 all year since 1991).
CST = timezone(timedelta(hours=8))
MON, TUE, WED, THU, FRI, SAT, SUN = range(1, 8)
WEEKDAYS = (MON, TUE, WED, THU, FRI)
HALF_PAST_FOUR, SIX = 16 * 60 + 30, 18 * 60


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CST)


# Monday 4 May 2026, 10:00 in Jiyang.
NOW = local(2026, 5, 4, 10)
TODAY = date(2026, 5, 4)
assert TODAY.isoweekday() == MON
HOME = LatLng(36.9648, 117.1602)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def fixed(start: datetime, hours: float) -> TimeWindow:
    return TimeWindow(start, start + timedelta(hours=hours))


def flexible(end: datetime) -> TimeWindow:
    # The start a caller sends is ignored: a flexible window opens when the task is posted.
    return TimeWindow(LONG_AGO, end, flexible=True)


def wish(**changes: object) -> WishDraft:
    """A valid wish (groceries for an elderly resident tomorrow morning); `changes` replace
    single fields."""
    draft = WishDraft(
        community_id="chengli",
        title="为独居老人代买蔬菜",
        description="清华园3号楼的李奶奶腿脚不便，需要每周买一次菜。",
        beneficiary=Beneficiary.ELDERLY,
        location=HOME,
        address="清华园3号楼2单元401",
        skills=(RequiredSkill("errands", 1),),
        headcount=1,
        window=fixed(local(2026, 5, 5, 9), 2),
        effort_hours=1.5,
    )
    return replace(draft, **changes)  # type: ignore[arg-type]


def weekly(**changes: object) -> WeeklySchedule:
    """Weekdays 16:30-18:00 from today on: the 4:30 school."""
    schedule = WeeklySchedule(
        days=WEEKDAYS,
        start_minute=HALF_PAST_FOUR,
        end_minute=SIX,
        first_date=TODAY,
        last_date=None,
    )
    return replace(schedule, **changes)  # type: ignore[arg-type]


def role(**changes: object) -> RoleDraft:
    """A valid volunteer role (tutoring at the 4:30 school); `changes` replace single fields."""
    draft = RoleDraft(
        community_id="chengli",
        unit_id="u-chengli-primary",
        title="四点半学校课业辅导",
        description="放学后辅导小学生完成作业，直到家长下班。",
        beneficiary=Beneficiary.CHILD,
        location=HOME,
        skills=(RequiredSkill("tutoring", 2),),
        headcount=5,
        effort_hours=1.5,
        schedule=weekly(),
        street_wide=False,
    )
    return replace(draft, **changes)  # type: ignore[arg-type]


def wish_violations(draft: WishDraft) -> list[FieldViolation]:
    try:
        validate_wish(draft, NOW, BOUNDS)
    except InvalidArgument as e:
        return e.violations
    return []


def role_violations(draft: RoleDraft) -> list[FieldViolation]:
    try:
        validate_role(draft, NOW, BOUNDS)
    except InvalidArgument as e:
        return e.violations
    return []


def fields(violations: list[FieldViolation]) -> set[str]:
    return {v.field for v in violations}


# ---------------------------------------------------------------------------------------------
# Wishes


def test_accepts_a_well_formed_wish_and_returns_it_unchanged() -> None:
    assert validate_wish(wish(), NOW, BOUNDS) == wish()


def test_a_wish_comes_back_with_its_texts_trimmed_and_normalised() -> None:
    draft = wish(title="  Cafe\u0301 helper ", description=" 买菜 ", address=" 3号楼 ")
    cleaned = validate_wish(draft, NOW, BOUNDS)
    assert (cleaned.title, cleaned.description, cleaned.address) == ("Café helper", "买菜", "3号楼")


def test_a_flexible_window_opens_when_the_wish_is_posted() -> None:
    cleaned = validate_wish(wish(window=flexible(NOW + timedelta(days=3))), NOW, BOUNDS)
    assert cleaned.window == TimeWindow(NOW, NOW + timedelta(days=3), flexible=True)


TOMORROW_9 = local(2026, 5, 5, 9)
THREE_DAYS = flexible(NOW + timedelta(days=3))

WISH_RULES = [
    pytest.param({"title": ""}, "wish.title", id="title empty"),
    pytest.param({"title": "   "}, "wish.title", id="title only spaces"),
    pytest.param({"title": "助" * (TITLE_MAX + 1)}, "wish.title", id="title overlong"),
    pytest.param({"title": "代买\x07蔬菜"}, "wish.title", id="title with a control character"),
    pytest.param({"description": "x" * (DESCRIPTION_MAX + 1)}, "wish.description", id="desc"),
    pytest.param({"address": "x" * 201}, "wish.address", id="address overlong"),
    pytest.param({"beneficiary": None}, "wish.beneficiary_group", id="beneficiary missing"),
    pytest.param({"location": None}, "wish.location", id="location missing"),
    pytest.param({"location": LatLng(39.9042, 116.4074)}, "wish.location", id="Beijing"),
    pytest.param({"location": LatLng(36.89, 117.17)}, "wish.location", id="just south"),
    pytest.param({"location": LatLng(36.98, 117.31)}, "wish.location", id="just east"),
    pytest.param({"location": LatLng(math.nan, 117.17)}, "wish.location", id="location NaN"),
    pytest.param(
        {"skills": (RequiredSkill("juggling", 1),)}, "wish.skills[0].skill", id="unknown skill"
    ),
    pytest.param(
        {"skills": (RequiredSkill("errands", 1), RequiredSkill("errands", 2))},
        "wish.skills[1].skill",
        id="duplicate skill",
    ),
    pytest.param(
        {"skills": (RequiredSkill("errands", 0),)}, "wish.skills[0].min_level", id="level 0"
    ),
    pytest.param(
        {"skills": (RequiredSkill("errands", 4),)}, "wish.skills[0].min_level", id="level 4"
    ),
    pytest.param({"headcount": 0}, "wish.headcount", id="headcount 0"),
    pytest.param({"headcount": -3}, "wish.headcount", id="headcount negative"),
    pytest.param({"headcount": 101}, "wish.headcount", id="headcount 101"),
    # A flexible window, so that only effort_hours can be wrong.
    pytest.param({"effort_hours": 0.24, "window": THREE_DAYS}, "wish.effort_hours", id="0.24h"),
    pytest.param({"effort_hours": 0.0, "window": THREE_DAYS}, "wish.effort_hours", id="0h"),
    pytest.param({"effort_hours": -1.0, "window": THREE_DAYS}, "wish.effort_hours", id="-1h"),
    pytest.param({"effort_hours": 12.01, "window": THREE_DAYS}, "wish.effort_hours", id="12.01"),
    pytest.param({"effort_hours": math.nan, "window": THREE_DAYS}, "wish.effort_hours", id="NaN"),
    pytest.param({"effort_hours": math.inf, "window": THREE_DAYS}, "wish.effort_hours", id="inf"),
    pytest.param({"window": None}, "wish.window", id="window missing"),
    pytest.param(
        {"window": TimeWindow(TOMORROW_9, TOMORROW_9)},
        "wish.window.end",
        id="fixed end equals start",
    ),
    pytest.param(
        {"window": TimeWindow(TOMORROW_9, TOMORROW_9 - timedelta(hours=2))},
        "wish.window.end",
        id="fixed end before start",
    ),
    pytest.param({"window": fixed(NOW - timedelta(hours=1), 2)}, "wish.window.start", id="past"),
    pytest.param({"window": fixed(NOW, 2)}, "wish.window.start", id="fixed start is now"),
    pytest.param(
        {"window": TimeWindow(TOMORROW_9, TOMORROW_9 + timedelta(days=7, minutes=1))},
        "wish.window.end",
        id="fixed longer than 7 days",
    ),
    pytest.param(
        {"window": fixed(TOMORROW_9, 1), "effort_hours": 1.5},
        "wish.window.end",
        id="fixed shorter than effort",
    ),
    pytest.param(
        {"window": flexible(NOW - timedelta(minutes=1))}, "wish.window.end", id="flexible past"
    ),
    pytest.param({"window": flexible(NOW)}, "wish.window.end", id="flexible ends now"),
    pytest.param(
        {"window": flexible(NOW + timedelta(days=92, minutes=1))},
        "wish.window.end",
        id="flexible beyond 92 days",
    ),
    pytest.param({"community_id": ""}, "wish.community_id", id="community missing"),
]


@pytest.mark.parametrize(("changes", "field"), WISH_RULES)
def test_each_broken_wish_rule_is_reported_under_its_own_wish_field(
    changes: dict[str, object], field: str
) -> None:
    violations = wish_violations(wish(**changes))
    assert fields(violations) == {field}
    assert all(v.description for v in violations)


WISH_LIMITS = [
    pytest.param({"title": "助" * TITLE_MAX}, id="title of 60"),
    pytest.param({"description": "x" * DESCRIPTION_MAX, "address": "x" * 200}, id="long texts"),
    pytest.param({"description": "", "address": "", "skills": ()}, id="no texts, no skills"),
    pytest.param({"beneficiary": Beneficiary.OTHER}, id="other beneficiary"),
    pytest.param({"location": LatLng(36.90, 117.05)}, id="south-west corner"),
    pytest.param({"location": LatLng(37.06, 117.30)}, id="north-east corner"),
    pytest.param(
        {"skills": (RequiredSkill("errands", 1), RequiredSkill("driving", 3))}, id="levels 1, 3"
    ),
    pytest.param({"headcount": 100}, id="headcount 100"),
    pytest.param({"effort_hours": 0.25, "window": fixed(TOMORROW_9, 0.25)}, id="0.25h"),
    pytest.param({"effort_hours": 12.0, "window": fixed(TOMORROW_9, 12)}, id="12h"),
    pytest.param({"window": TimeWindow(TOMORROW_9, TOMORROW_9 + timedelta(days=7))}, id="7 days"),
    pytest.param({"window": fixed(NOW + timedelta(seconds=1), 2)}, id="starts in a second"),
    pytest.param({"window": flexible(NOW + timedelta(days=92))}, id="flexible 92 days"),
    pytest.param(
        {"window": flexible(NOW + timedelta(minutes=15)), "effort_hours": 0.25},
        id="flexible just long enough",
    ),
]


@pytest.mark.parametrize("changes", WISH_LIMITS)
def test_a_wish_at_the_limits_of_every_rule_is_accepted(changes: dict[str, object]) -> None:
    assert wish_violations(wish(**changes)) == []


def test_every_broken_rule_of_a_wish_is_reported_at_once() -> None:
    draft = wish(
        community_id="",
        title="",
        description="x" * (DESCRIPTION_MAX + 1),
        beneficiary=None,
        location=LatLng(39.9, 116.4),
        address="x" * 201,
        skills=(RequiredSkill("juggling", 0),),
        headcount=0,
        effort_hours=0.1,
        window=fixed(NOW - timedelta(days=1), 2),
    )
    with pytest.raises(InvalidArgument) as caught:
        validate_wish(draft, NOW, BOUNDS)
    assert fields(caught.value.violations) == {
        "wish.community_id",
        "wish.title",
        "wish.description",
        "wish.beneficiary_group",
        "wish.location",
        "wish.address",
        "wish.skills[0].skill",
        "wish.skills[0].min_level",
        "wish.headcount",
        "wish.effort_hours",
        "wish.window.start",
    }
    assert caught.value.message.endswith("(and 6 more)")


@pytest.mark.parametrize("effort", [math.nan, math.inf, 1e20])
def test_a_non_finite_or_huge_effort_on_a_wish_with_a_fixed_window_is_a_violation(
    effort: float,
) -> None:
    assert "wish.effort_hours" in fields(wish_violations(wish(effort_hours=effort)))


# ---------------------------------------------------------------------------------------------
# Volunteer roles


def test_accepts_a_well_formed_weekly_role_and_returns_it_unchanged() -> None:
    assert validate_role(role(), NOW, BOUNDS) == role()


def test_accepts_a_one_off_role_at_a_fixed_time() -> None:
    draft = role(schedule=OneOffSchedule(fixed(local(2026, 5, 9, 9), 3)))
    assert validate_role(draft, NOW, BOUNDS) == draft


def test_a_role_comes_back_with_its_texts_trimmed() -> None:
    cleaned = validate_role(role(title=" 消防安全宣传 ", description=" 微型消防站 "), NOW, BOUNDS)
    assert (cleaned.title, cleaned.description) == ("消防安全宣传", "微型消防站")


SAT_9 = local(2026, 5, 9, 9)
THREE_YEARS = timedelta(days=3 * 366)

ROLE_RULES = [
    pytest.param({"title": ""}, "role.title", id="title empty"),
    pytest.param({"title": "x" * (TITLE_MAX + 1)}, "role.title", id="title overlong"),
    pytest.param({"description": "x" * (DESCRIPTION_MAX + 1)}, "role.description", id="desc"),
    pytest.param({"beneficiary": None}, "role.beneficiary_group", id="beneficiary missing"),
    pytest.param({"location": None}, "role.location", id="location missing"),
    pytest.param({"location": LatLng(31.23, 121.47)}, "role.location", id="Shanghai"),
    pytest.param(
        {"skills": (RequiredSkill("knitting", 2),)}, "role.skills[0].skill", id="unknown skill"
    ),
    pytest.param(
        {"skills": (RequiredSkill("tutoring", 2), RequiredSkill("tutoring", 3))},
        "role.skills[1].skill",
        id="duplicate skill",
    ),
    pytest.param(
        {"skills": (RequiredSkill("tutoring", 0),)}, "role.skills[0].min_level", id="level 0"
    ),
    pytest.param(
        {"skills": (RequiredSkill("tutoring", 4),)}, "role.skills[0].min_level", id="level 4"
    ),
    pytest.param({"headcount": 0}, "role.headcount", id="headcount 0"),
    pytest.param({"headcount": 101}, "role.headcount", id="headcount 101"),
    pytest.param({"effort_hours": 0.24}, "role.effort_hours", id="0.24h"),
    pytest.param({"effort_hours": math.nan}, "role.effort_hours", id="NaN"),
    pytest.param(
        {"effort_hours": 12.01, "schedule": weekly(start_minute=0, end_minute=1440)},
        "role.effort_hours",
        id="12.01h",
    ),
    pytest.param({"community_id": ""}, "role.community_id", id="community missing"),
    pytest.param({"schedule": None}, "role.schedule", id="schedule missing"),
    # Weekly schedules
    pytest.param({"schedule": weekly(days=())}, "role.weekly.days", id="no days"),
    pytest.param({"schedule": weekly(days=(0,))}, "role.weekly.days[0]", id="day 0"),
    pytest.param({"schedule": weekly(days=(MON, 8))}, "role.weekly.days[1]", id="day 8"),
    pytest.param({"schedule": weekly(days=(MON, TUE, MON))}, "role.weekly.days", id="dup day"),
    pytest.param({"schedule": weekly(start_minute=-1)}, "role.weekly.start_minute", id="start<0"),
    pytest.param(
        {"schedule": weekly(end_minute=HALF_PAST_FOUR)}, "role.weekly.end_minute", id="end=start"
    ),
    pytest.param(
        {"schedule": weekly(end_minute=HALF_PAST_FOUR - 1)},
        "role.weekly.end_minute",
        id="end before start",
    ),
    pytest.param({"schedule": weekly(end_minute=1441)}, "role.weekly.end_minute", id="end 1441"),
    pytest.param(
        {"schedule": weekly(end_minute=HALF_PAST_FOUR + 60)},
        "role.weekly.end_minute",
        id="shorter than effort",
    ),
    pytest.param({"schedule": weekly(first_date=None)}, "role.weekly.first_date", id="no first"),
    pytest.param(
        {"schedule": weekly(first_date=TODAY, last_date=TODAY - timedelta(days=1))},
        "role.weekly.last_date",
        id="last before first",
    ),
    pytest.param(
        {"schedule": weekly(last_date=TODAY + THREE_YEARS + timedelta(days=1))},
        "role.weekly.last_date",
        id="longer than three years",
    ),
    pytest.param(
        {"schedule": weekly(first_date=date(2025, 1, 1), last_date=date(2025, 12, 31))},
        "role.weekly",
        id="all in the past",
    ),
    pytest.param(
        {"schedule": weekly(first_date=TODAY, last_date=TODAY + timedelta(days=4), days=(SAT,))},
        "role.weekly",
        id="no chosen weekday between the dates",
    ),
    pytest.param(
        {"schedule": weekly(days=(MON,), start_minute=9 * 60, end_minute=11 * 60, last_date=TODAY)},
        "role.weekly",
        id="only occurrence began this morning",
    ),
    # One-off events
    pytest.param({"schedule": OneOffSchedule(None)}, "role.once.window", id="once no window"),
    pytest.param(
        {"schedule": OneOffSchedule(fixed(NOW - timedelta(hours=1), 3))},
        "role.once.window.start",
        id="once in the past",
    ),
    pytest.param(
        {"schedule": OneOffSchedule(TimeWindow(SAT_9, SAT_9))},
        "role.once.window.end",
        id="once end equals start",
    ),
    pytest.param(
        {"schedule": OneOffSchedule(TimeWindow(SAT_9, SAT_9 + timedelta(days=7, hours=1)))},
        "role.once.window.end",
        id="once longer than 7 days",
    ),
    pytest.param(
        {"schedule": OneOffSchedule(fixed(SAT_9, 1))},
        "role.once.window.end",
        id="once shorter than effort",
    ),
    pytest.param(
        {"schedule": OneOffSchedule(flexible(NOW + timedelta(days=3)))},
        "role.once.window.flexible",
        id="once flexible",
    ),
]


@pytest.mark.parametrize(("changes", "field"), ROLE_RULES)
def test_each_broken_role_rule_is_reported_under_its_own_role_field(
    changes: dict[str, object], field: str
) -> None:
    violations = role_violations(role(**changes))
    assert fields(violations) == {field}
    assert all(v.description for v in violations)


def test_a_flexible_one_off_in_the_past_is_wrong_twice_over() -> None:
    draft = role(schedule=OneOffSchedule(flexible(NOW - timedelta(days=3))))
    assert fields(role_violations(draft)) == {"role.once.window.end", "role.once.window.flexible"}


def test_a_start_minute_of_1440_is_out_of_range_and_leaves_no_room_for_an_end() -> None:
    draft = role(schedule=weekly(start_minute=1440, end_minute=1440))
    assert fields(role_violations(draft)) == {"role.weekly.start_minute", "role.weekly.end_minute"}


ROLE_LIMITS = [
    pytest.param({"schedule": weekly(days=(SUN,))}, id="Sundays only"),
    pytest.param({"schedule": weekly(days=(1, 2, 3, 4, 5, 6, 7))}, id="every day"),
    pytest.param({"schedule": weekly(start_minute=0, end_minute=90)}, id="from midnight"),
    pytest.param({"schedule": weekly(start_minute=1350, end_minute=1440)}, id="to midnight"),
    pytest.param({"schedule": weekly(end_minute=HALF_PAST_FOUR + 90)}, id="exactly effort"),
    pytest.param({"schedule": weekly(last_date=TODAY)}, id="first and last today, still ahead"),
    pytest.param({"schedule": weekly(last_date=TODAY + THREE_YEARS)}, id="exactly three years"),
    pytest.param(
        {"schedule": weekly(first_date=date(2024, 1, 1), last_date=TODAY)}, id="began long ago"
    ),
    pytest.param({"schedule": weekly(first_date=date(2028, 1, 1))}, id="begins in 2028"),
]


@pytest.mark.parametrize("changes", ROLE_LIMITS)
def test_a_role_at_the_limits_of_every_rule_is_accepted(changes: dict[str, object]) -> None:
    assert role_violations(role(**changes)) == []


def test_a_weekly_schedule_with_a_broken_field_is_not_also_called_empty() -> None:
    # Days and times that cannot be read are reported; "yields no occurrence" would only add noise.
    draft = role(
        schedule=weekly(days=(9,), first_date=date(2020, 1, 1), last_date=date(2020, 2, 1))
    )
    assert fields(role_violations(draft)) == {"role.weekly.days[0]"}


def test_every_broken_rule_of_a_role_is_reported_at_once() -> None:
    draft = role(
        community_id="",
        title="x" * (TITLE_MAX + 1),
        description="x" * (DESCRIPTION_MAX + 1),
        headcount=101,
        skills=(RequiredSkill("tutoring", 9),),
        schedule=weekly(days=(0, 0), start_minute=-5, first_date=None),
    )
    assert fields(role_violations(draft)) == {
        "role.community_id",
        "role.title",
        "role.description",
        "role.headcount",
        "role.skills[0].min_level",
        "role.weekly.days[0]",
        "role.weekly.days[1]",
        "role.weekly.days",
        "role.weekly.start_minute",
        "role.weekly.first_date",
    }


@pytest.mark.parametrize("effort", [math.nan, math.inf])
def test_a_non_finite_effort_on_a_one_off_role_is_a_violation(effort: float) -> None:
    draft = role(effort_hours=effort, schedule=OneOffSchedule(fixed(SAT_9, 3)))
    assert "role.effort_hours" in fields(role_violations(draft))


# ---------------------------------------------------------------------------------------------
# Occurrences


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


def test_weekday_afternoons_in_jiyang_are_morning_hours_in_utc() -> None:
    got = list(occurrences(weekly(), local(2026, 5, 4), local(2026, 5, 11)))
    assert got == [TimeWindow(utc(2026, 5, d, 8, 30), utc(2026, 5, d, 10)) for d in range(4, 9)]
    assert all(w.start.tzinfo is UTC and w.end.tzinfo is UTC for w in got)
    assert not any(w.flexible for w in got)


def test_occurrences_fall_on_the_local_weekday_even_when_utc_is_still_the_day_before() -> None:
    # Monday 00:30 in Jiyang is Sunday 16:30 UTC.
    schedule = weekly(days=(MON,), start_minute=30, end_minute=90)
    got = list(occurrences(schedule, utc(2026, 5, 3), utc(2026, 5, 5)))
    assert got == [TimeWindow(utc(2026, 5, 3, 16, 30), utc(2026, 5, 3, 17, 30))]


def test_an_occurrence_ending_at_midnight_ends_at_the_next_local_day() -> None:
    schedule = weekly(days=(FRI,), start_minute=22 * 60, end_minute=1440)
    got = list(occurrences(schedule, local(2026, 5, 4), local(2026, 5, 11)))
    assert got == [TimeWindow(local(2026, 5, 8, 22), local(2026, 5, 9))]


def test_occurrences_begin_on_first_date_and_end_on_last_date() -> None:
    schedule = weekly(first_date=date(2026, 5, 6), last_date=date(2026, 5, 7))
    got = list(occurrences(schedule, local(2026, 5, 1), local(2026, 6, 1)))
    assert [w.start.astimezone(CST).date() for w in got] == [date(2026, 5, 6), date(2026, 5, 7)]


def test_occurrences_before_the_interval_are_left_out_and_one_starting_at_its_end_is_kept() -> None:
    # (after, until]: Monday's start is `after` itself, so it is out; Friday's is `until`, in.
    got = list(occurrences(weekly(), local(2026, 5, 4, 16, 30), local(2026, 5, 8, 16, 30)))
    assert [w.start.astimezone(CST).day for w in got] == [5, 6, 7, 8]


def test_the_interval_may_be_given_in_any_time_zone() -> None:
    in_local = list(occurrences(weekly(), local(2026, 5, 4), local(2026, 5, 18)))
    in_utc = list(occurrences(weekly(), utc(2026, 5, 3, 16), utc(2026, 5, 17, 16)))
    assert in_local == in_utc
    assert len(in_local) == 10
    # In Kiribati (+14) it is already Tuesday while Jiyang's late Monday session is still ahead.
    kiribati = timezone(timedelta(hours=14))
    monday_8pm = local(2026, 5, 4, 20).astimezone(kiribati)
    assert monday_8pm.date() == date(2026, 5, 5)
    late = weekly(start_minute=22 * 60 + 30, end_minute=1440)
    got = list(occurrences(late, monday_8pm, local(2026, 5, 5, 23)))
    assert [w.start for w in got] == [local(2026, 5, 4, 22, 30), local(2026, 5, 5, 22, 30)]


def test_shanghai_time_has_no_daylight_saving_so_the_utc_hour_never_moves() -> None:
    # Sundays through 2026, across the dates when Europe and America change their clocks.
    schedule = weekly(days=(SUN,), first_date=date(2026, 1, 1))
    got = list(occurrences(schedule, local(2026, 1, 1), local(2027, 1, 1)))
    assert len(got) == 52
    assert {(w.start.hour, w.start.minute) for w in got} == {(8, 30)}
    assert {w.end - w.start for w in got} == {timedelta(minutes=90)}
    assert all(b.start - a.start == timedelta(days=7) for a, b in pairwise(got))


def test_a_weekly_schedule_without_a_first_date_has_no_occurrences() -> None:
    assert list(occurrences(weekly(first_date=None), local(2026, 5, 1), local(2026, 6, 1))) == []


def test_an_empty_or_reversed_interval_has_no_occurrences() -> None:
    assert list(occurrences(weekly(), local(2026, 5, 5), local(2026, 5, 5))) == []
    assert list(occurrences(weekly(), local(2026, 5, 9), local(2026, 5, 5))) == []


ONCE = fixed(local(2026, 5, 9, 9), 3)


@pytest.mark.parametrize(
    ("after", "until", "expected"),
    [
        pytest.param(NOW, NOW + timedelta(days=28), [ONCE], id="inside"),
        pytest.param(ONCE.start, NOW + timedelta(days=28), [], id="starts at after"),
        pytest.param(NOW, ONCE.start, [ONCE], id="starts at until"),
        pytest.param(NOW, ONCE.start - timedelta(seconds=1), [], id="starts after until"),
        pytest.param(ONCE.start + timedelta(hours=1), ONCE.end + timedelta(days=1), [], id="ran"),
    ],
)
def test_a_one_off_event_yields_its_window_once_when_it_starts_in_the_interval(
    after: datetime, until: datetime, expected: list[TimeWindow]
) -> None:
    assert list(occurrences(OneOffSchedule(ONCE), after, until)) == expected


def test_a_one_off_event_without_a_window_yields_nothing() -> None:
    assert list(occurrences(OneOffSchedule(None), LONG_AGO, NOW + timedelta(days=999))) == []


EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
# Whole minutes, so that an interval's ends often fall exactly on an occurrence's start.
instants = st.integers(0, 3 * 366 * 24 * 60).map(lambda m: EPOCH + timedelta(minutes=m))
spans = st.integers(0, 45 * 24 * 60).map(lambda m: timedelta(minutes=m))


@st.composite
def weekly_schedules(draw: st.DrawFn) -> WeeklySchedule:
    days = tuple(sorted(draw(st.sets(st.integers(1, 7), min_size=1))))
    start = draw(st.integers(0, 1439))
    end = draw(st.integers(start + 1, 1440))
    first = draw(st.dates(date(2024, 12, 1), date(2028, 1, 31)))
    last = draw(st.none() | st.integers(0, 120).map(lambda n: first + timedelta(days=n)))
    return WeeklySchedule(days, start, end, first, last)


def by_hand(s: WeeklySchedule, after: datetime, until: datetime) -> list[TimeWindow]:
    """The same occurrences with a fixed +08:00 offset instead of the zone database."""
    assert s.first_date is not None
    found = []
    day = after.astimezone(CST).date() - timedelta(days=1)
    while day <= until.astimezone(CST).date() + timedelta(days=1):
        in_dates = s.first_date <= day and (s.last_date is None or day <= s.last_date)
        midnight = datetime.combine(day, time(0), CST)
        start = midnight + timedelta(minutes=s.start_minute)
        if in_dates and day.isoweekday() in s.days and after < start <= until:
            found.append(TimeWindow(start, midnight + timedelta(minutes=s.end_minute)))
        day += timedelta(days=1)
    return found


@settings(deadline=None)
@given(weekly_schedules(), instants, spans)
def test_occurrences_are_ordered_in_the_interval_on_the_chosen_local_days_and_times(
    s: WeeklySchedule, after: datetime, span: timedelta
) -> None:
    until = after + span
    got = list(occurrences(s, after, until))
    assert all(a.start < b.start for a, b in pairwise(got))
    for w in got:
        assert after < w.start <= until
        start = w.start.astimezone(LOCAL_TZ)
        assert start.isoweekday() in s.days
        assert start.hour * 60 + start.minute == s.start_minute
        assert s.first_date is not None and s.first_date <= start.date()
        assert s.last_date is None or start.date() <= s.last_date
        assert w.end - w.start == timedelta(minutes=s.end_minute - s.start_minute)
    assert got == by_hand(s, after, until)


@settings(deadline=None)
@given(weekly_schedules(), instants, spans, st.data())
def test_splitting_the_interval_anywhere_yields_the_same_occurrences_without_duplicates(
    s: WeeklySchedule, after: datetime, span: timedelta, data: st.DataObject
) -> None:
    until = after + span
    whole = list(occurrences(s, after, until))
    # Split sometimes exactly at an occurrence's start, the case that could duplicate or drop it.
    at_a_start = st.sampled_from([w.start for w in whole]) if whole else st.nothing()
    anywhere = st.integers(0, span // timedelta(minutes=1)).map(
        lambda m: after + timedelta(minutes=m)
    )
    split = data.draw(at_a_start | anywhere)
    assert list(occurrences(s, after, split)) + list(occurrences(s, split, until)) == whole


@given(instants, st.integers(1, 7 * 24 * 60), instants, spans)
def test_a_one_off_yields_its_window_once_however_the_interval_is_split(
    start: datetime, minutes: int, after: datetime, span: timedelta
) -> None:
    s = OneOffSchedule(TimeWindow(start, start + timedelta(minutes=minutes)))
    until = after + span
    whole = list(occurrences(s, after, until))
    assert whole == ([s.window] if after < start <= until else [])
    # Split exactly at the event's start: it belongs to the earlier part only.
    split = min(max(start, after), until)
    assert list(occurrences(s, after, split)) + list(occurrences(s, split, until)) == whole


# ---------------------------------------------------------------------------------------------
# The state machines

T, A = TaskStatus, AssignmentState
# Transcribed from the diagram in protos/linli/v1/tasks.proto.
TASK_DIAGRAM = {
    (T.OPEN, T.FILLED),
    (T.FILLED, T.OPEN),
    (T.OPEN, T.CLOSED),
    (T.FILLED, T.CLOSED),
    (T.OPEN, T.EXPIRED),
    (T.FILLED, T.EXPIRED),
    (T.OPEN, T.COMPLETED),
    (T.FILLED, T.COMPLETED),
    (T.CLOSED, T.COMPLETED),
    (T.OPEN, T.CANCELLED),
    (T.FILLED, T.CANCELLED),
    (T.CLOSED, T.CANCELLED),
}
ASSIGNMENT_DIAGRAM = {
    (A.PROPOSED, A.ACCEPTED),
    (A.PROPOSED, A.DECLINED),
    (A.PROPOSED, A.EXPIRED),
    (A.ACCEPTED, A.WITHDRAWN),
    (A.ACCEPTED, A.COMPLETED),
    (A.ACCEPTED, A.NO_SHOW),
    (A.PROPOSED, A.CANCELLED),
    (A.ACCEPTED, A.CANCELLED),
}
FINAL_TASK = {T.COMPLETED, T.CANCELLED, T.EXPIRED}
FINAL_ASSIGNMENT = {A.DECLINED, A.EXPIRED, A.WITHDRAWN, A.COMPLETED, A.NO_SHOW, A.CANCELLED}


def test_the_task_transitions_are_those_drawn_in_the_proto() -> None:
    assert set(TASK_TRANSITIONS) == set(TaskStatus)
    drawn = {(a, b) for a, targets in TASK_TRANSITIONS.items() for b in targets}
    assert drawn == TASK_DIAGRAM


def test_the_assignment_transitions_are_those_drawn_in_the_proto() -> None:
    drawn = {(a, b) for a, targets in ASSIGNMENT_TRANSITIONS.items() for b in targets}
    assert drawn == ASSIGNMENT_DIAGRAM


def test_final_states_have_no_way_out() -> None:
    assert all(not TASK_TRANSITIONS[s] for s in FINAL_TASK)
    assert all(not ASSIGNMENT_TRANSITIONS.get(s) for s in FINAL_ASSIGNMENT)
    assert {a for a, _ in TASK_DIAGRAM} == set(TaskStatus) - FINAL_TASK
    assert {a for a, _ in ASSIGNMENT_DIAGRAM} == set(AssignmentState) - FINAL_ASSIGNMENT


def test_places_are_held_by_live_assignments_and_taken_on_live_tasks() -> None:
    assert {A.PROPOSED, A.ACCEPTED} == HOLDS_PLACE
    assert {T.OPEN, T.FILLED} == TAKING_PLACES


@pytest.mark.parametrize("target", list(TaskStatus))
@pytest.mark.parametrize("current", list(TaskStatus))
def test_a_task_moves_only_along_the_diagram(current: TaskStatus, target: TaskStatus) -> None:
    if (current, target) in TASK_DIAGRAM:
        require_task_transition(current, target, "change the task")
        return
    with pytest.raises(FailedPrecondition) as caught:
        require_task_transition(current, target, "change the task")
    assert caught.value.code is grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.reason == "TASK_STATE"
    assert caught.value.metadata == {"state": current.value}
    assert caught.value.message == f"cannot change the task: the task is {current.value}"


@pytest.mark.parametrize("target", list(AssignmentState))
@pytest.mark.parametrize("current", list(AssignmentState))
def test_an_assignment_moves_only_along_the_diagram(
    current: AssignmentState, target: AssignmentState
) -> None:
    if (current, target) in ASSIGNMENT_DIAGRAM:
        require_assignment_transition(current, target, "withdraw")
        return
    with pytest.raises(FailedPrecondition) as caught:
        require_assignment_transition(current, target, "withdraw")
    assert caught.value.code is grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.reason == "ASSIGNMENT_STATE"
    assert caught.value.metadata == {"state": current.value}
    assert caught.value.message == f"cannot withdraw: the assignment is {current.value}"


def test_the_error_for_a_refused_transition_carries_the_state_to_the_caller() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        require_task_transition(T.EXPIRED, T.CANCELLED, "cancel")
    status = caught.value.to_status()
    assert status.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert "expired" in status.message
    assert len(status.details) == 1


@pytest.mark.parametrize(
    ("taken", "headcount", "status"),
    [(0, 1, T.OPEN), (1, 1, T.FILLED), (4, 5, T.OPEN), (5, 5, T.FILLED), (6, 5, T.FILLED)],
)
def test_a_task_is_filled_exactly_when_every_place_is_taken(
    taken: int, headcount: int, status: TaskStatus
) -> None:
    assert status_for_places(taken, headcount) is status


@given(st.integers(0, 200), st.integers(1, 100))
def test_status_for_places_is_filled_iff_no_place_is_free(taken: int, headcount: int) -> None:
    assert (status_for_places(taken, headcount) is T.FILLED) == (taken >= headcount)


# ---------------------------------------------------------------------------------------------
# Windows


def test_a_fixed_window_takes_places_until_it_starts() -> None:
    w = fixed(SAT_9, 3)
    assert w.claim_deadline == SAT_9


def test_a_flexible_window_takes_places_until_it_ends() -> None:
    w = TimeWindow(NOW, NOW + timedelta(days=5), flexible=True)
    assert w.claim_deadline == NOW + timedelta(days=5)


@pytest.mark.parametrize(
    ("other", "overlap"),
    [
        pytest.param(fixed(SAT_9 + timedelta(hours=1), 3), True, id="overlapping"),
        pytest.param(fixed(SAT_9 + timedelta(hours=1), 1), True, id="inside"),
        pytest.param(fixed(SAT_9 - timedelta(hours=1), 5), True, id="around"),
        pytest.param(fixed(SAT_9, 3), True, id="the same"),
        pytest.param(fixed(SAT_9 + timedelta(hours=3), 1), False, id="touching after"),
        pytest.param(fixed(SAT_9 - timedelta(hours=1), 1), False, id="touching before"),
        pytest.param(fixed(SAT_9 + timedelta(days=1), 3), False, id="next day"),
        pytest.param(
            TimeWindow(SAT_9, SAT_9 + timedelta(hours=3), True), False, id="same, flexible"
        ),
        pytest.param(TimeWindow(NOW, NOW + timedelta(days=30), True), False, id="flexible around"),
    ],
)
def test_fixed_windows_overlap_when_they_share_time_and_flexible_ones_never(
    other: TimeWindow, overlap: bool
) -> None:
    w = fixed(SAT_9, 3)
    assert w.overlaps(other) is overlap
    assert other.overlaps(w) is overlap


def test_a_flexible_window_does_not_even_overlap_itself() -> None:
    w = TimeWindow(NOW, NOW + timedelta(days=3), flexible=True)
    assert not w.overlaps(w)


windows = st.builds(
    lambda start, minutes, flex: TimeWindow(start, start + timedelta(minutes=minutes), flex),
    instants,
    st.integers(1, 3 * 24 * 60),
    st.booleans(),
)


@given(windows, windows)
def test_overlapping_is_symmetric(a: TimeWindow, b: TimeWindow) -> None:
    assert a.overlaps(b) == b.overlaps(a)


@given(windows, windows)
def test_fixed_windows_overlap_iff_some_instant_lies_in_both(a: TimeWindow, b: TimeWindow) -> None:
    shared = min(a.end, b.end) - max(a.start, b.start)
    expected = not a.flexible and not b.flexible and shared > timedelta(0)
    assert a.overlaps(b) == expected


# ---------------------------------------------------------------------------------------------
# Who may take a place


def member_view(**changes: object) -> MemberView:
    """A member active and reported in to Binhu, in Jiyang street."""
    m = MemberView(id="m1", community_id="binhu", street_id="jiyang", active=True, reported_in=True)
    return replace(m, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("member", "community", "street", "street_wide", "problem"),
    [
        pytest.param(None, "binhu", "jiyang", False, "not known", id="unknown"),
        pytest.param(member_view(active=False), "binhu", "jiyang", False, "deactivated", id="off"),
        pytest.param(
            member_view(reported_in=False), "binhu", "jiyang", False, "not reported in", id="nrep"
        ),
        pytest.param(
            member_view(community_id=None), "binhu", "jiyang", False, "not reported in", id="nocom"
        ),
        pytest.param(member_view(), "yinshan", "jiyang", False, "'binhu'", id="other community"),
        pytest.param(member_view(), "binhu", "jiyang", False, None, id="own community"),
        pytest.param(member_view(), "binhu", "jiyang", True, None, id="own community street-wide"),
        pytest.param(member_view(), "yinshan", "jiyang", True, None, id="street-wide same street"),
        pytest.param(member_view(), "beiyuan", "jibei", True, "'binhu'", id="street-wide other"),
    ],
)
def test_only_an_active_member_reported_in_to_the_task_community_or_street_may_claim(
    member: MemberView | None, community: str, street: str, street_wide: bool, problem: str | None
) -> None:
    got = claim_problem(member, community, street, street_wide)
    if problem is None:
        assert got is None
    else:
        assert got is not None and problem in got


def test_a_deactivated_member_is_refused_before_anything_else_is_looked_at() -> None:
    m = member_view(active=False, reported_in=False, community_id=None)
    assert claim_problem(m, "binhu", "jiyang", False) == "the member is deactivated"


def task(**changes: object) -> Task:
    """An open wish task in Binhu with two places, one taken, starting Saturday 9:00."""
    t = Task(
        id="t1",
        kind=TaskKind.WISH,
        source_id="w1",
        community_id="binhu",
        street_id="jiyang",
        street_wide=False,
        title="代买蔬菜",
        description="",
        beneficiary=Beneficiary.ELDERLY,
        location=HOME,
        address="",
        skills=(),
        headcount=2,
        places_taken=1,
        accepted=1,
        window=fixed(SAT_9, 2),
        effort_hours=1.5,
        status=TaskStatus.OPEN,
        cancel_reason="",
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(t, **changes)  # type: ignore[arg-type]


def test_a_place_can_be_taken_on_an_open_task_with_room_before_its_deadline() -> None:
    assert claimable(task(), NOW) is None


def test_a_filled_task_with_a_place_freed_again_can_be_claimed() -> None:
    assert claimable(task(status=TaskStatus.FILLED), NOW) is None


@pytest.mark.parametrize("status", [T.CLOSED, T.COMPLETED, T.CANCELLED, T.EXPIRED])
def test_no_place_can_be_taken_on_a_task_that_no_longer_takes_places(status: TaskStatus) -> None:
    assert claimable(task(status=status), NOW) == f"the task is {status.value}"


def test_no_place_can_be_taken_once_a_fixed_window_has_started() -> None:
    assert claimable(task(), SAT_9 - timedelta(seconds=1)) is None
    assert claimable(task(), SAT_9) == "the task's time to take places has passed"


def test_a_flexible_task_takes_places_until_its_window_ends() -> None:
    t = task(window=TimeWindow(NOW, NOW + timedelta(days=2), flexible=True))
    assert claimable(t, NOW + timedelta(days=1)) is None
    assert claimable(t, NOW + timedelta(days=2)) == "the task's time to take places has passed"


def test_no_place_can_be_taken_when_every_place_is_taken() -> None:
    assert claimable(task(places_taken=2), NOW) == "every place on the task is taken"


@pytest.mark.parametrize(
    ("changes", "now", "refusal"),
    [
        pytest.param({"places_taken": 2}, NOW, Refusal.TASK_FULL, id="full"),
        pytest.param({"status": T.CANCELLED}, NOW, Refusal.TASK_NOT_OPEN, id="cancelled"),
        pytest.param({}, SAT_9, Refusal.DEADLINE_PASSED, id="started"),
    ],
)
def test_a_task_that_takes_no_place_says_why_for_machines(
    changes: dict[str, object], now: datetime, refusal: Refusal
) -> None:
    got = task_refusal(task(**changes), now)
    assert got is not None and got.refusal is refusal
    assert got.message == claimable(task(**changes), now)


@pytest.mark.parametrize(
    ("member", "community", "street_wide", "refusal"),
    [
        pytest.param(None, "binhu", False, Refusal.MEMBER_UNKNOWN, id="unknown"),
        pytest.param(member_view(active=False), "binhu", False, Refusal.MEMBER_INACTIVE, id="off"),
        pytest.param(
            member_view(reported_in=False), "binhu", False, Refusal.NOT_REPORTED_IN, id="nocom"
        ),
        pytest.param(member_view(), "yinshan", False, Refusal.OUT_OF_SCOPE, id="elsewhere"),
    ],
)
def test_a_member_who_may_not_take_a_place_is_told_why_for_machines(
    member: MemberView | None, community: str, street_wide: bool, refusal: Refusal
) -> None:
    got = member_refusal(member, community, "jiyang", street_wide)
    assert got is not None and got.refusal is refusal


def test_a_member_moved_within_the_street_keeps_street_wide_places_only() -> None:
    moved = member_view(community_id="yinshan")
    assert member_refusal(moved, "binhu", "jiyang", True) is None
    got = member_refusal(moved, "binhu", "jiyang", False)
    assert got is not None and got.refusal is Refusal.OUT_OF_SCOPE


def test_a_wish_or_one_off_event_far_ahead_is_refused_by_its_start() -> None:
    far = fixed(NOW + timedelta(days=400), 2)
    with pytest.raises(InvalidArgument) as err:
        validate_wish(wish(window=far), NOW, BOUNDS)
    assert "wish.window.start" in fields(err.value.violations)
    with pytest.raises(InvalidArgument) as err:
        validate_role(role(schedule=OneOffSchedule(far)), NOW, BOUNDS)
    assert "role.once.window.start" in fields(err.value.violations)
    last_day = fixed(datetime(9999, 12, 31, 10, tzinfo=UTC), 2)
    with pytest.raises(InvalidArgument) as err:
        validate_wish(wish(window=last_day), NOW, BOUNDS)
    assert "wish.window.start" in fields(err.value.violations)
    # The horizon is a setting.
    soon_enough = fixed(NOW + timedelta(days=20), 2)
    validate_wish(wish(window=soon_enough), NOW, BOUNDS, timedelta(days=30))
    with pytest.raises(InvalidArgument):
        validate_wish(wish(window=soon_enough), NOW, BOUNDS, timedelta(days=10))


@pytest.mark.parametrize("field", ["title", "description", "address", "community_id"])
def test_nul_and_control_characters_in_a_wish_are_refused_by_name(field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_wish(wish(**{field: "清华园\x00401"}), NOW, BOUNDS)
    assert f"wish.{field}" in fields(err.value.violations)


def test_line_breaks_and_tabs_in_a_description_are_ordinary() -> None:
    assert validate_wish(wish(description="第一行\n\t第二行"), NOW, BOUNDS)


def test_a_role_unit_id_with_a_nul_is_refused_by_name() -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_role(role(unit_id="u\x00"), NOW, BOUNDS)
    assert "role.unit_id" in fields(err.value.violations)


def test_errors_stay_small_whatever_was_sent() -> None:
    many = tuple(RequiredSkill(f"skill-{i}", 1) for i in range(10_000))
    with pytest.raises(InvalidArgument) as err:
        validate_wish(wish(skills=many), NOW, BOUNDS)
    assert [v.field for v in err.value.violations] == ["wish.skills"]
    with pytest.raises(InvalidArgument) as err:
        validate_wish(wish(skills=(RequiredSkill("x" * 10_000, 1),)), NOW, BOUNDS)
    assert sum(len(v.description) for v in err.value.violations) < 200
    with pytest.raises(InvalidArgument) as err:
        validate_role(role(schedule=weekly(days=(MON,) * 10_000)), NOW, BOUNDS)
    assert len(err.value.violations) == 1
    outcomes = tuple(Outcome(f"m{i}", 1.0, False) for i in range(10_000))
    with pytest.raises(InvalidArgument) as err:
        validate_completion(outcomes, {"m1"}, 5, "")
    assert len(err.value.violations) <= 2


# ---------------------------------------------------------------------------------------------
# Who may see and manage a task

BINHU_MEMBER = Principal("m1", Role.MEMBER)
BINHU_STAFF = Principal("s1", Role.COMMUNITY_STAFF, frozenset({"binhu"}))
JIYANG_ADMIN = Principal("a1", Role.STREET_ADMIN, street_ids=frozenset({"jiyang"}))
DISTRICT_ADMIN = Principal("d1", Role.DISTRICT_ADMIN)
SERVICE = Principal("matching", Role.SERVICE)

SEE = [
    pytest.param(BINHU_MEMBER, member_view(), "binhu", "jiyang", False, True, id="member own"),
    pytest.param(BINHU_MEMBER, member_view(), "yinshan", "jiyang", False, False, id="member nb"),
    pytest.param(BINHU_MEMBER, member_view(), "yinshan", "jiyang", True, True, id="member sw"),
    pytest.param(BINHU_MEMBER, member_view(), "beiyuan", "jibei", True, False, id="member osw"),
    pytest.param(BINHU_MEMBER, None, "binhu", "jiyang", False, False, id="member unknown"),
    pytest.param(
        BINHU_MEMBER, member_view(reported_in=False), "binhu", "jiyang", True, False, id="nrep"
    ),
    pytest.param(BINHU_STAFF, None, "binhu", "jiyang", False, True, id="staff in scope"),
    pytest.param(BINHU_STAFF, None, "yinshan", "jiyang", False, False, id="staff out of scope"),
    pytest.param(JIYANG_ADMIN, None, "yinshan", "jiyang", False, True, id="street in"),
    pytest.param(JIYANG_ADMIN, None, "beiyuan", "jibei", True, False, id="street out"),
    pytest.param(DISTRICT_ADMIN, None, "beiyuan", "jibei", False, True, id="district"),
    pytest.param(SERVICE, None, "beiyuan", "jibei", False, True, id="service"),
]


@pytest.mark.parametrize(("who", "member", "community", "street", "street_wide", "sees"), SEE)
def test_a_caller_sees_the_tasks_of_its_community_street_or_the_whole_district(
    who: Principal,
    member: MemberView | None,
    community: str,
    street: str,
    street_wide: bool,
    sees: bool,
) -> None:
    assert may_see_task(who, member, community, street, street_wide) is sees


MANAGE = [
    pytest.param(BINHU_MEMBER, "binhu", "jiyang", False, id="member"),
    pytest.param(
        Principal("m1", Role.MEMBER, frozenset({"binhu"}), frozenset({"jiyang"})),
        "binhu",
        "jiyang",
        False,
        id="member with a scope in its token",
    ),
    pytest.param(BINHU_STAFF, "binhu", "jiyang", True, id="staff in scope"),
    pytest.param(BINHU_STAFF, "yinshan", "jiyang", False, id="staff out of scope"),
    pytest.param(JIYANG_ADMIN, "yinshan", "jiyang", True, id="street admin in"),
    pytest.param(JIYANG_ADMIN, "beiyuan", "jibei", False, id="street admin out"),
    pytest.param(DISTRICT_ADMIN, "beiyuan", "jibei", True, id="district admin"),
    pytest.param(SERVICE, "beiyuan", "jibei", True, id="service"),
]


@pytest.mark.parametrize(("who", "community", "street", "manages"), MANAGE)
def test_only_staff_and_administrators_above_them_manage_a_task(
    who: Principal, community: str, street: str, manages: bool
) -> None:
    assert may_manage_task(who, community, street) is manages


# ---------------------------------------------------------------------------------------------
# Approximate places


def test_a_place_is_rounded_to_the_nearest_point_of_a_0_003_degree_grid() -> None:
    assert approximate(HOME) == LatLng(36.966, 117.159)
    assert approximate(LatLng(36.98, 117.17)) == LatLng(36.981, 117.171)


def test_a_point_on_the_grid_stays_where_it_is() -> None:
    assert approximate(LatLng(36.975, 117.168)) == LatLng(36.975, 117.168)


@given(st.floats(36.90, 37.06), st.floats(117.05, 117.30))
def test_approximating_moves_a_point_at_most_half_a_grid_step_onto_the_grid(
    lat: float, lng: float
) -> None:
    half, eps = APPROXIMATE_DEGREES / 2, 1e-6
    got = approximate(LatLng(lat, lng))
    assert abs(got.lat - lat) <= half + eps
    assert abs(got.lng - lng) <= half + eps
    for value in (got.lat, got.lng):
        steps = value / APPROXIMATE_DEGREES
        assert abs(steps - round(steps)) < 1e-3
    assert approximate(got) == got


# ---------------------------------------------------------------------------------------------
# Completing a task

ACCEPTED = {"m1", "m2"}


def completion_fields(outcomes: tuple[Outcome, ...], score: int = 5, comment: str = "") -> set[str]:
    try:
        validate_completion(outcomes, ACCEPTED, score, comment)
    except InvalidArgument as e:
        return fields(e.violations)
    return set()


BOTH = (Outcome("m1", 2.0, False), Outcome("m2", 0.0, True))


def test_a_completion_with_one_outcome_per_accepted_member_is_accepted() -> None:
    assert validate_completion(BOTH, ACCEPTED, 5, "  李奶奶很满意 ") == "李奶奶很满意"


def test_a_task_nobody_accepted_is_completed_without_outcomes() -> None:
    assert validate_completion((), set(), 3, "") == ""


def test_every_accepted_member_needs_an_outcome() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_completion(BOTH[:1], ACCEPTED, 5, "")
    [v] = caught.value.violations
    assert v.field == "outcomes"
    assert "m2" in v.description


def test_an_outcome_for_a_member_who_did_not_accept_is_refused() -> None:
    assert completion_fields((*BOTH, Outcome("m3", 1.0, False))) == {"outcomes[2].member_id"}


def test_a_member_may_have_only_one_outcome() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_completion((*BOTH, Outcome("m1", 1.0, False)), ACCEPTED, 5, "")
    [v] = caught.value.violations
    assert (v.field, v.description) == ("outcomes[2].member_id", "appears twice")


@pytest.mark.parametrize("hours", [0.0, 0.24, 24.01, -1.0, math.nan, math.inf])
def test_hours_outside_a_quarter_to_twenty_four_are_refused_for_those_who_came(
    hours: float,
) -> None:
    outcomes = (Outcome("m1", hours, False), BOTH[1])
    assert completion_fields(outcomes) == {"outcomes[0].hours"}


@pytest.mark.parametrize("hours", [0.25, 24.0])
def test_hours_at_the_limits_are_accepted(hours: float) -> None:
    assert completion_fields((Outcome("m1", hours, False), BOTH[1])) == set()


@pytest.mark.parametrize("hours", [0.0, -1.0, 99.0, math.nan])
def test_the_hours_of_a_no_show_are_not_checked(hours: float) -> None:
    assert completion_fields((BOTH[0], Outcome("m2", hours, True))) == set()


@pytest.mark.parametrize(("score", "ok"), [(0, False), (1, True), (5, True), (6, False)])
def test_the_feedback_score_is_one_to_five(score: int, ok: bool) -> None:
    assert completion_fields(BOTH, score=score) == (set() if ok else {"feedback.score"})


def test_the_feedback_comment_is_at_most_500_characters() -> None:
    assert completion_fields(BOTH, comment="好" * COMMENT_MAX) == set()
    assert completion_fields(BOTH, comment="好" * (COMMENT_MAX + 1)) == {"feedback.comment"}


def test_every_problem_of_a_completion_is_reported_at_once() -> None:
    outcomes = (Outcome("m1", 30.0, False), Outcome("m1", 1.0, False), Outcome("m9", 1.0, False))
    assert completion_fields(outcomes, score=9, comment="x" * 501) == {
        "outcomes[0].hours",
        "outcomes[1].member_id",
        "outcomes[2].member_id",
        "outcomes",
        "feedback.score",
        "feedback.comment",
    }


def test_a_reason_is_trimmed_and_may_be_required() -> None:
    assert check_reason("  搬家了 ") == "搬家了"
    assert check_reason("") == ""
    with pytest.raises(InvalidArgument) as caught:
        check_reason("   ", required=True)
    assert fields(caught.value.violations) == {"reason"}
    with pytest.raises(InvalidArgument) as caught:
        check_reason("x" * 201)
    assert fields(caught.value.violations) == {"reason"}


def test_the_elderly_children_disabled_and_poor_come_first() -> None:
    assert {b for b in Beneficiary if b.is_priority} == {
        Beneficiary.ELDERLY,
        Beneficiary.CHILD,
        Beneficiary.DISABLED,
        Beneficiary.POOR,
    }


# ---------------------------------------------------------------------------------------------
# This month and this year, in local time


def test_a_late_evening_in_utc_on_the_last_of_november_is_already_december_in_jiyang() -> None:
    assert month_start(utc(2026, 11, 30, 20)) == local(2026, 12, 1)
    assert month_start(utc(2026, 11, 30, 20)) == utc(2026, 11, 30, 16)


def test_a_minute_before_local_midnight_is_still_the_old_month() -> None:
    assert month_start(utc(2026, 11, 30, 15, 59)) == local(2026, 11, 1)


def test_the_local_new_year_begins_at_four_in_the_afternoon_utc() -> None:
    assert year_start(utc(2026, 12, 31, 16)) == local(2027, 1, 1)
    assert year_start(utc(2026, 12, 31, 15, 59)) == local(2026, 1, 1)
    assert month_start(utc(2026, 12, 31, 16)) == local(2027, 1, 1)


@given(st.datetimes(datetime(2020, 1, 1), datetime(2035, 1, 1), timezones=st.just(UTC)))
def test_month_and_year_start_at_a_local_midnight_no_later_than_now(now: datetime) -> None:
    m, y = month_start(now), year_start(now)
    local_now = now.astimezone(CST)
    assert y <= m <= now
    assert m.astimezone(CST) == local(local_now.year, local_now.month, 1)
    assert y.astimezone(CST) == local(local_now.year, 1, 1)
    assert month_start(m) == m
    assert year_start(y) == y


# ---------------------------------------------------------------------------------------------
# The state changes: claim, propose, answer, expire, release, cancel, complete, close

TTL = timedelta(hours=1)
SOON = local(2026, 5, 6, 9)  # Wednesday 9:00, two days ahead


def open_task(headcount: int = 2, window: TimeWindow | None = None, **changes: object) -> Task:
    """An open task of Binhu (Jiyang street), posted now."""
    task = new_task(
        TaskDraft(
            kind=TaskKind.WISH,
            source_id="w1",
            community_id="binhu",
            street_id="jiyang",
            street_wide=False,
            title="代买蔬菜",
            description="",
            beneficiary=Beneficiary.ELDERLY,
            location=HOME,
            address="",
            skills=(),
            headcount=headcount,
            window=window or fixed(SOON, 2),
            effort_hours=1.0,
        ),
        NOW,
        task_id=str(changes.pop("id", "t1")),
    )
    return replace(task, **changes)  # type: ignore[arg-type]


def someone(member_id: str = "m1", **changes: object) -> MemberView:
    return replace(member_view(id=member_id), **changes)  # type: ignore[arg-type]


def claimed(task: Task, member_id: str = "m1", live: tuple[Assignment, ...] = ()) -> Change:
    return domain.claim(task, live, member_id, someone(member_id), None, NOW, f"a-{member_id}")


def proposal(task: Task, member_id: str = "m1", live: tuple[Assignment, ...] = ()) -> Change:
    found = domain.propose(
        task, task.id, live, member_id, someone(member_id), None, "run", NOW, TTL, f"p-{member_id}"
    )
    assert isinstance(found, Change), found
    return found


def reason_of(err: pytest.ExceptionInfo[FailedPrecondition]) -> str:
    return err.value.metadata.get("refusal") or err.value.reason


def test_a_claim_takes_an_accepted_place_and_announces_it() -> None:
    change = claimed(open_task(headcount=1))
    a = change.assignment
    assert (a.state, a.source, a.member_id, a.expires_at) == (
        AssignmentState.ACCEPTED,
        AssignmentSource.CLAIM,
        "m1",
        None,
    )
    assert (change.task.places_taken, change.task.accepted) == (1, 1)
    assert change.task.status is TaskStatus.FILLED
    assert change.created == {a.id}
    assert change.events == (AssignmentChanged("claimed", a, change.task),)


def test_a_claim_is_refused_with_the_first_reason_that_applies() -> None:
    task = open_task(headcount=1)
    cases = [
        (someone(active=False), NOW, "MEMBER_INACTIVE"),
        (someone(community_id="yinshan"), NOW, "OUT_OF_SCOPE"),
        (someone(), SOON, "DEADLINE_PASSED"),
        (None, NOW, "MEMBER_UNKNOWN"),
    ]
    for member, now, why in cases:
        with pytest.raises(FailedPrecondition) as err:
            domain.claim(task, (), "m1", member, None, now, "a")
        assert err.value.reason == "CLAIM_REFUSED" and reason_of(err) == why
    full = replace(task, places_taken=1)
    with pytest.raises(FailedPrecondition) as err:
        domain.claim(full, (), "m1", someone(), None, NOW, "a")
    assert reason_of(err) == "TASK_FULL"


def test_a_member_holding_a_place_or_a_clashing_task_is_refused() -> None:
    first = claimed(open_task())
    with pytest.raises(FailedPrecondition) as holds:
        claimed(first.task, live=first.written)
    assert reason_of(holds) == "ALREADY_HOLDS"
    with pytest.raises(FailedPrecondition) as clash:
        domain.claim(open_task(), (), "m1", someone(), "t-other", NOW, "a")
    assert reason_of(clash) == "TIME_CONFLICT" and "t-other" in str(clash.value)


def test_claiming_what_one_was_proposed_for_accepts_the_proposal() -> None:
    proposed = proposal(open_task())
    change = claimed(proposed.task, live=proposed.written)
    assert change.assignment.id == proposed.assignment.id
    assert change.assignment.state is AssignmentState.ACCEPTED
    assert (change.task.places_taken, change.task.accepted) == (1, 1)
    assert change.events[0].verb == "accepted"  # type: ignore[union-attr]


def test_a_proposal_holds_a_place_until_the_ttl_or_the_deadline() -> None:
    change = proposal(open_task())
    a = change.assignment
    assert (a.state, a.source, a.match_run_id) == (
        AssignmentState.PROPOSED,
        AssignmentSource.MATCHING,
        "run",
    )
    assert a.expires_at == NOW + TTL
    assert (change.task.places_taken, change.task.accepted) == (1, 0)
    near = open_task(window=fixed(NOW + timedelta(minutes=10), 2))
    assert proposal(near).assignment.expires_at == near.window.start


def test_a_proposal_that_cannot_be_a_place_is_rejected_and_says_whether_the_place_is_gone() -> None:
    task = open_task(headcount=1)

    def rejected(*args: object, **kw: object) -> ProposalRejected:
        found = domain.propose(*args, **kw)  # type: ignore[arg-type]
        assert isinstance(found, ProposalRejected)
        return found

    full = rejected(
        replace(task, places_taken=1), task.id, (), "m1", someone(), None, "r", NOW, TTL, ""
    )
    assert (full.reason, full.place_unavailable) == ("every place on the task is taken", True)
    foreign = rejected(task, task.id, (), "m1", someone(active=False), None, "r", NOW, TTL, "")
    assert (foreign.reason, foreign.place_unavailable) == ("the member is deactivated", False)
    missing = rejected(None, "t9", (), "m1", someone(), None, "r", NOW, TTL, "")
    assert (missing.reason, missing.place_unavailable) == ("the task does not exist", True)
    bad = rejected(task, task.id, (), "m1", someone(), None, "r\x00", NOW, TTL, "")
    assert (bad.run_id, bad.reason) == ("", "malformed run id")
    clash = rejected(task, task.id, (), "m1", someone(), "t2", "r", NOW, TTL, "")
    assert clash.reason == "the member has another accepted task at that time (t2)"


def test_an_accepted_proposal_must_still_stand() -> None:
    proposed = proposal(open_task())
    task, a = proposed.task, proposed.assignment
    with pytest.raises(FailedPrecondition) as expired:
        domain.accept(task, a, someone(), None, NOW + TTL)
    assert expired.value.reason == "PROPOSAL_EXPIRED"
    with pytest.raises(FailedPrecondition) as clash:
        domain.accept(task, a, someone(), "t2", NOW)
    assert reason_of(clash) == "TIME_CONFLICT"
    with pytest.raises(FailedPrecondition) as moved_away:
        domain.accept(task, a, someone(community_id="yinshan"), None, NOW)
    assert reason_of(moved_away) == "OUT_OF_SCOPE"
    accepted = domain.accept(task, a, someone(), None, NOW)
    with pytest.raises(FailedPrecondition) as twice:
        domain.accept(accepted.task, accepted.assignment, someone(), None, NOW)
    assert twice.value.reason == "ASSIGNMENT_STATE"


def test_declining_or_withdrawing_frees_the_place_and_keeps_the_reason() -> None:
    proposed = proposal(open_task(headcount=1))
    declined = domain.give_up(
        proposed.task, proposed.assignment, AssignmentState.DECLINED, "busy", NOW
    )
    assert (declined.assignment.state, declined.assignment.reason) == (
        AssignmentState.DECLINED,
        "busy",
    )
    assert (declined.task.places_taken, declined.task.status) == (0, TaskStatus.OPEN)
    taken = claimed(open_task(headcount=1))
    gone = domain.give_up(taken.task, taken.assignment, AssignmentState.WITHDRAWN, "ill", NOW)
    assert (gone.task.places_taken, gone.task.accepted) == (0, 0)
    assert gone.events[0].verb == "withdrawn"  # type: ignore[union-attr]
    with pytest.raises(FailedPrecondition) as started:
        domain.give_up(taken.task, taken.assignment, AssignmentState.WITHDRAWN, "", SOON)
    assert started.value.reason == "TASK_STARTED"
    with pytest.raises(FailedPrecondition) as not_proposed:
        domain.give_up(taken.task, taken.assignment, AssignmentState.DECLINED, "", NOW)
    assert not_proposed.value.reason == "ASSIGNMENT_STATE"


def test_only_proposals_whose_time_ran_out_expire() -> None:
    one = proposal(open_task(headcount=3), "m1")
    two = claimed(one.task, "m2", one.written)
    live = one.written + two.written
    assert domain.expire_proposals(two.task, live, NOW).written == ()
    change = domain.expire_proposals(two.task, live, NOW + TTL)
    assert [(a.member_id, a.state) for a in change.written] == [("m1", AssignmentState.EXPIRED)]
    assert (change.task.places_taken, change.task.accepted) == (1, 1)


def test_a_member_releases_only_the_places_they_may_no_longer_take() -> None:
    one = claimed(open_task(headcount=3), "m1")
    two = proposal(one.task, "m2", one.written)
    live = one.written + two.written
    assert domain.release(two.task, live, "m1", someone("m1"), NOW).written == ()
    change = domain.release(two.task, live, "m1", someone("m1", active=False), NOW)
    [a] = change.written
    assert (a.member_id, a.state, a.reason) == (
        "m1",
        AssignmentState.WITHDRAWN,
        "released: the member is deactivated",
    )
    assert (change.task.places_taken, change.task.accepted) == (1, 0)
    closed = replace(two.task, status=TaskStatus.CLOSED)
    assert domain.release(closed, live, "m1", None, NOW).written == ()


def test_a_cancelled_task_cancels_every_live_place_and_says_so_first() -> None:
    one = claimed(open_task(headcount=3), "m1")
    two = proposal(one.task, "m2", one.written)
    change = domain.cancel(two.task, one.written + two.written, "moved away", NOW)
    assert (change.task.status, change.task.places_taken, change.task.accepted) == (
        TaskStatus.CANCELLED,
        0,
        0,
    )
    assert {a.state for a in change.written} == {AssignmentState.CANCELLED}
    assert change.events[0] == TaskCancelled(change.task, "moved away")
    with pytest.raises(FailedPrecondition) as twice:
        domain.cancel(change.task, (), "again", NOW)
    assert twice.value.reason == "TASK_STATE"


def test_a_completion_logs_hours_from_the_start_and_cancels_unanswered_proposals() -> None:
    one = claimed(open_task(headcount=3), "m1")
    two = claimed(one.task, "m2", one.written)
    three = proposal(two.task, "m3", one.written + two.written)
    live = one.written + two.written + three.written
    outcomes = (Outcome("m1", 2.0, False), Outcome("m2", 0, True))
    with pytest.raises(FailedPrecondition) as early:
        domain.complete(three.task, live, outcomes, 5, "", NOW)
    assert early.value.reason == "NOT_STARTED"
    later = SOON + timedelta(hours=3)
    change = domain.complete(three.task, live, outcomes, 5, " 谢谢 ", later)
    states = {a.member_id: (a.state, a.hours, a.served_at) for a in change.written}
    assert states == {
        "m1": (AssignmentState.COMPLETED, 2.0, SOON),
        "m2": (AssignmentState.NO_SHOW, 0.0, None),
        "m3": (AssignmentState.CANCELLED, 0.0, None),
    }
    assert (change.task.status, change.task.places_taken) == (TaskStatus.COMPLETED, 2)
    assert change.feedback == Feedback(5, "谢谢")
    with pytest.raises(FailedPrecondition) as nobody:
        domain.complete(open_task(), (), (), 5, "", later)
    assert nobody.value.reason == "NOBODY_ACCEPTED"


def test_a_due_task_closes_when_someone_accepted_and_expires_when_nobody_did() -> None:
    one = claimed(open_task(headcount=3), "m1")
    two = proposal(one.task, "m2", one.written)
    closed = domain.close_due(two.task, one.written + two.written, SOON)
    assert closed.task.status is TaskStatus.CLOSED and closed.task.places_taken == 1
    assert [a.state for a in closed.written] == [AssignmentState.EXPIRED]
    assert closed.events[-1] == TaskClosed(closed.task)
    lone = proposal(open_task())
    expired = domain.close_due(lone.task, lone.written, SOON)
    assert (expired.task.status, expired.task.places_taken) == (TaskStatus.EXPIRED, 0)
    assert expired.events[-1] == TaskExpired(expired.task)


def test_a_clash_is_an_accepted_task_at_an_overlapping_fixed_time() -> None:
    held = [("t1", fixed(SOON, 2)), ("t2", flexible(SOON + timedelta(days=3)))]
    assert domain.clash(fixed(SOON + timedelta(hours=1), 2), held) == "t1"
    assert domain.clash(fixed(SOON + timedelta(hours=2), 2), held) is None
    assert domain.clash(flexible(SOON), held) is None


# A property: whatever members and matching do, in any order, no task holds more places than it
# has, its counts are those of its live assignments, and no member holds two accepted places at
# overlapping times.

MEMBERS = ("m1", "m2", "m3")
SLOTS = [fixed(SOON + timedelta(hours=h), 2) for h in (0, 1, 3)] + [flexible(SOON)]
ACTIONS = ("claim", "propose", "accept", "decline", "withdraw", "expire", "leave", "cancel")


class Model:
    """The tasks and assignments a sequence of changes leaves, and what each member is."""

    def __init__(self) -> None:
        self.tasks = {
            f"t{i}": open_task(headcount=1 + i % 2, window=w, id=f"t{i}")
            for i, w in enumerate(SLOTS)
        }
        self.assignments: dict[str, Assignment] = {}
        self.members = {m: someone(m) for m in MEMBERS}
        self.count = 0

    def live(self, task_id: str) -> tuple[Assignment, ...]:
        return tuple(
            a for a in self.assignments.values() if a.task_id == task_id and a.state in HOLDS_PLACE
        )

    def overlapping(self, member_id: str, task: Task) -> str | None:
        held = [
            (a.task_id, self.tasks[a.task_id].window)
            for a in self.assignments.values()
            if a.member_id == member_id and a.state is AssignmentState.ACCEPTED
        ]
        return domain.clash(task.window, held)

    def apply(self, change: Change | ProposalRejected) -> None:
        if isinstance(change, ProposalRejected):
            return
        for a in change.written:
            self.assignments[a.id] = a
        self.tasks[change.task.id] = change.task

    def act(self, action: str, task_id: str, member_id: str, now: datetime) -> None:
        task, member = self.tasks[task_id], self.members[member_id]
        clash = self.overlapping(member_id, task)
        self.count += 1
        new_id = f"a{self.count}"
        mine = [a for a in self.live(task_id) if a.member_id == member_id]
        if action == "claim":
            change: Change | ProposalRejected = domain.claim(
                task, self.live(task_id), member_id, member, clash, now, new_id
            )
        elif action == "propose":
            change = domain.propose(
                task, task_id, self.live(task_id), member_id, member, clash, "r", now, TTL, new_id
            )
        elif action in ("accept", "decline", "withdraw") and mine:
            target = {
                "accept": AssignmentState.ACCEPTED,
                "decline": AssignmentState.DECLINED,
                "withdraw": AssignmentState.WITHDRAWN,
            }[action]
            change = domain.answer(task, mine[0], target, member, clash, "", now)
        elif action == "expire":
            change = domain.expire_proposals(task, self.live(task_id), now)
        elif action == "leave":
            self.members[member_id] = someone(member_id, active=False)
            change = domain.release(
                task, self.live(task_id), member_id, self.members[member_id], now
            )
        elif action == "cancel":
            change = domain.cancel(task, self.live(task_id), "", now)
        else:
            return
        self.apply(change)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(ACTIONS),
            st.integers(0, len(SLOTS) - 1),
            st.sampled_from(MEMBERS),
            st.integers(0, 3),  # hours passed since the start
        ),
        max_size=40,
    )
)
def test_no_task_is_overbooked_and_no_member_is_in_two_places_at_once(
    steps: list[tuple[str, int, str, int]],
) -> None:
    model = Model()
    for action, slot, member_id, hours in steps:
        # A refused change changes nothing.
        with contextlib.suppress(FailedPrecondition, InvalidArgument):
            model.act(action, f"t{slot}", member_id, NOW + timedelta(hours=hours))
        for task in model.tasks.values():
            live = model.live(task.id)
            assert task.places_taken == len(live) <= task.headcount
            assert task.accepted == sum(a.state is AssignmentState.ACCEPTED for a in live)
        for m in MEMBERS:
            held = [
                model.tasks[a.task_id].window
                for a in model.assignments.values()
                if a.member_id == m and a.state is AssignmentState.ACCEPTED
            ]
            assert not any(x.overlaps(y) for i, x in enumerate(held) for y in held[i + 1 :])


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.integers(1, 5), st.integers(0, 8))
def test_a_task_is_filled_exactly_when_claims_take_every_place(headcount: int, claims: int) -> None:
    task = open_task(headcount=headcount, window=flexible(SOON))
    live: tuple[Assignment, ...] = ()
    for i in range(claims):
        try:
            change = claimed(task, f"m{i}", live)
        except FailedPrecondition as err:
            assert err.metadata["refusal"] == "TASK_FULL" and len(live) == headcount
            continue
        task, live = change.task, live + change.written
    assert task.places_taken == min(claims, headcount)
    assert (task.status is TaskStatus.FILLED) == (task.places_taken == headcount)
