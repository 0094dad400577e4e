"""Drafts, members and times shared by the task service's rule tests: valid wishes and roles
in Jiyang, a member of Binhu, and Shanghai time as a plain offset."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import strategies as st

from services.common.errors import FieldViolation, InvalidArgument
from services.common.settings import Bounds
from services.common.values import LatLng
from services.tasks.domain import (
    Beneficiary,
    MemberView,
    RequiredSkill,
    RoleDraft,
    TimeWindow,
    WeeklySchedule,
    WishDraft,
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


def member_view(**changes: object) -> MemberView:
    """A member active and reported in to Binhu, in Jiyang street."""
    m = MemberView(id="m1", community_id="binhu", street_id="jiyang", active=True, reported_in=True)
    return replace(m, **changes)  # type: ignore[arg-type]


SAT_9 = local(2026, 5, 9, 9)


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
# Whole minutes, so that an interval's ends often fall exactly on an occurrence's start.
instants = st.integers(0, 3 * 366 * 24 * 60).map(lambda m: EPOCH + timedelta(minutes=m))
spans = st.integers(0, 45 * 24 * 60).map(lambda m: timedelta(minutes=m))
