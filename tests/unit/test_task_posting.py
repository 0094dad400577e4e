"""The task service's posting rules (services/tasks/domain/wish.py, role.py, checks.py): what
makes a wish or a volunteer role valid, every broken rule reported by its field."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from services.common.errors import InvalidArgument
from services.common.values import LatLng
from services.tasks.domain import (
    DESCRIPTION_MAX,
    TITLE_MAX,
    Beneficiary,
    OneOffSchedule,
    RequiredSkill,
    TimeWindow,
    validate_role,
    validate_wish,
)
from tests.unit.task_drafts import (
    BOUNDS,
    HALF_PAST_FOUR,
    MON,
    NOW,
    SAT,
    SAT_9,
    SUN,
    TODAY,
    TUE,
    fields,
    fixed,
    flexible,
    local,
    role,
    role_violations,
    weekly,
    wish,
    wish_violations,
)

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
