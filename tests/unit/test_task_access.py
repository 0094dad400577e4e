"""Who may take a place, see and manage a task (services/tasks/domain/access.py, task.py),
approximate places and local months."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.auth import Principal, Role
from services.common.errors import InvalidArgument
from services.common.values import PUBLIC_DEGREES as APPROXIMATE_DEGREES
from services.common.values import LatLng, approximate, month_start, year_start
from services.tasks.domain import (
    Beneficiary,
    MemberView,
    OneOffSchedule,
    Outcome,
    Refusal,
    RequiredSkill,
    Task,
    TaskKind,
    TaskStatus,
    TimeWindow,
    claim_problem,
    claimable,
    may_manage_task,
    may_see_task,
    member_refusal,
    task_refusal,
    validate_completion,
    validate_role,
    validate_wish,
)
from tests.unit.task_drafts import (
    BOUNDS,
    CST,
    HOME,
    MON,
    NOW,
    SAT_9,
    fields,
    fixed,
    local,
    member_view,
    role,
    utc,
    weekly,
    wish,
)

# ---------------------------------------------------------------------------------------------
# Who may take a place


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


@pytest.mark.parametrize(
    "status", [TaskStatus.CLOSED, TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.EXPIRED]
)
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
        pytest.param({"status": TaskStatus.CANCELLED}, NOW, Refusal.TASK_NOT_OPEN, id="cancelled"),
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
