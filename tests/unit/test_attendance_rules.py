"""The rules of check-in and hours: codes by time step, the window around the start, the
geofence, what check-in and check-out propose, and confirming, asking for and correcting hours."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.settings import TasksSettings
from services.common.settings.services import AttendanceSettings
from services.common.values import Beneficiary, LatLng, TimeWindow
from services.tasks.domain import Assignment, AssignmentSource, AssignmentState, Task, hours
from services.tasks.domain import attendance as rules
from services.tasks.domain.attendance import Attendance, AttendanceRules, Evidence, Purpose
from services.tasks.domain.errors import (
    CODE_NOT_CURRENT,
    HOURS_ALREADY_RECORDED,
    NO_PLACE_ON_TASK,
    NOT_AT_THE_PLACE,
    OUTSIDE_CHECK_IN_WINDOW,
)
from services.tasks.domain.task import TaskKind, TaskStatus

KEY = b"k" * 32
START = datetime(2026, 12, 5, 1, 30, tzinfo=UTC)  # 09:30 in Jiyang
PLACE = LatLng(36.9805, 117.1705)
RULES = AttendanceRules()
MEMBER = "m-1"


def task(**changes: object) -> Task:
    t = Task(
        id="t-1",
        kind=TaskKind.WISH,
        source_id="w-1",
        community_id="c-1",
        street_id="s-1",
        street_wide=False,
        title="帮老人买菜",
        description="",
        beneficiary=Beneficiary.ELDERLY,
        location=PLACE,
        address="",
        skills=(),
        headcount=2,
        places_taken=1,
        accepted=1,
        window=TimeWindow(START, START + timedelta(hours=2)),
        effort_hours=2,
        status=TaskStatus.CLOSED,
        cancel_reason="",
        created_at=START - timedelta(days=7),
        updated_at=START - timedelta(days=7),
    )
    return replace(t, **changes)  # type: ignore[arg-type]


def place(state: AssignmentState = AssignmentState.ACCEPTED, **changes: object) -> Assignment:
    a = Assignment(
        id="a-1",
        task_id="t-1",
        member_id=MEMBER,
        state=state,
        source=AssignmentSource.CLAIM,
        expires_at=None,
        match_run_id="",
        hours=0,
        reason="",
        created_at=START - timedelta(days=5),
        updated_at=START - timedelta(days=5),
    )
    return replace(a, **changes)  # type: ignore[arg-type]


def metres_north(m: float) -> LatLng:
    return LatLng(PLACE.lat + m / 111_195, PLACE.lng)


def check_in(
    t: Task,
    now: datetime,
    *,
    code: bool = True,
    at: LatLng | None = PLACE,
    held: Assignment | None = None,
) -> Attendance:
    return rules.check(
        t,
        MEMBER,
        Purpose.CHECK_IN,
        held=held or place(),
        checked_in=None,
        code_current=code,
        location=at,
        now=now,
        rules=RULES,
    )


# -- codes -----------------------------------------------------------------------------------------


def test_a_code_is_accepted_in_its_step_and_the_next_but_not_later() -> None:
    code = rules.current_code(KEY, "t-1", Purpose.CHECK_IN, START, 45)
    step = timedelta(seconds=45)
    assert rules.code_is_current(KEY, "t-1", Purpose.CHECK_IN, code.code, START, 45)
    assert rules.code_is_current(KEY, "t-1", Purpose.CHECK_IN, code.code, START + step, 45)
    assert not rules.code_is_current(KEY, "t-1", Purpose.CHECK_IN, code.code, START + 2 * step, 45)
    assert not rules.code_is_current(KEY, "t-1", Purpose.CHECK_IN, code.code, START - step, 45)


def test_a_code_names_its_task_and_purpose_and_key() -> None:
    code = rules.current_code(KEY, "t-1", Purpose.CHECK_IN, START, 45).code
    assert len(code) == rules.CODE_LENGTH
    assert not rules.code_is_current(KEY, "t-2", Purpose.CHECK_IN, code, START, 45)
    assert not rules.code_is_current(KEY, "t-1", Purpose.CHECK_OUT, code, START, 45)
    assert not rules.code_is_current(b"x" * 32, "t-1", Purpose.CHECK_IN, code, START, 45)


def test_a_typed_code_may_be_lower_case_and_spaced() -> None:
    code = rules.current_code(KEY, "t-1", Purpose.CHECK_IN, START, 45).code
    typed = f"{code[:4].lower()} {code[4:]}"
    assert rules.code_is_current(KEY, "t-1", Purpose.CHECK_IN, typed, START, 45)


def test_a_code_is_valid_until_its_step_ends() -> None:
    code = rules.current_code(KEY, "t-1", Purpose.CHECK_IN, START, 45)
    assert START < code.valid_until <= START + timedelta(seconds=45)
    assert rules.step_of(code.valid_until, 45) == code.step + 1


@given(
    issued=st.integers(min_value=1_700_000_000, max_value=2_000_000_000),
    later=st.integers(min_value=0, max_value=200),
    step_s=st.integers(min_value=30, max_value=60),
)
def test_a_code_is_accepted_exactly_in_its_step_and_the_next(
    issued: int, later: int, step_s: int
) -> None:
    when = datetime.fromtimestamp(issued, UTC)
    code = rules.current_code(KEY, "t-1", Purpose.CHECK_IN, when, step_s)
    then = when + timedelta(seconds=later)
    steps_on = rules.step_of(then, step_s) - code.step
    ok = rules.code_is_current(KEY, "t-1", Purpose.CHECK_IN, code.code, then, step_s)
    assert ok == (steps_on in (0, 1))


# -- the window and the place ---------------------------------------------------------------------


def test_check_in_opens_an_hour_before_the_start_and_closes_half_an_hour_after() -> None:
    t = task()
    assert check_in(t, START - timedelta(minutes=60)).evidence is Evidence.CODE_AND_PLACE
    assert check_in(t, START + timedelta(minutes=30)).at == START + timedelta(minutes=30)
    for when in (START - timedelta(minutes=61), START + timedelta(minutes=31)):
        with pytest.raises(FailedPrecondition) as err:
            check_in(t, when)
        assert err.value.reason == OUTSIDE_CHECK_IN_WINDOW


def test_check_out_runs_from_the_start_to_two_hours_after_the_end() -> None:
    t = task()
    came = check_in(t, START)
    opens, closes = rules.window_of(t, Purpose.CHECK_OUT, RULES)
    assert (opens, closes) == (START, t.window.end + timedelta(hours=2))
    with pytest.raises(FailedPrecondition) as err:
        rules.check(
            t,
            MEMBER,
            Purpose.CHECK_OUT,
            held=place(),
            checked_in=None,
            code_current=True,
            location=PLACE,
            now=START,
            rules=RULES,
        )
    assert err.value.reason == "NOT_CHECKED_IN"
    out = rules.check(
        t,
        MEMBER,
        Purpose.CHECK_OUT,
        held=place(AssignmentState.COMPLETED),
        checked_in=came,
        code_current=True,
        location=PLACE,
        now=closes,
        rules=RULES,
    )
    assert out.purpose is Purpose.CHECK_OUT


def test_within_the_geofence_is_code_and_place() -> None:
    assert check_in(task(), START, at=metres_north(150)).evidence is Evidence.CODE_AND_PLACE


@pytest.mark.parametrize("metres", [250, 1_000, 50_000, 5_000_000])
def test_far_away_is_refused_the_same_way_whatever_the_distance(metres: float) -> None:
    with pytest.raises(FailedPrecondition) as err:
        check_in(task(), START, at=metres_north(metres))
    assert err.value.reason == NOT_AT_THE_PLACE
    assert err.value.message == "you are not at the place of the task"


def test_an_approximate_place_takes_the_code_alone() -> None:
    t = task(street_wide=True)
    assert check_in(t, START, at=None).evidence is Evidence.CODE_ONLY
    assert check_in(t, START, at=metres_north(5_000)).evidence is Evidence.CODE_ONLY


def test_an_exact_place_needs_the_members_location() -> None:
    with pytest.raises(InvalidArgument) as err:
        check_in(task(), START, at=None)
    assert err.value.violations[0].field == "location"


def test_an_old_code_is_refused() -> None:
    with pytest.raises(FailedPrecondition) as err:
        check_in(task(), START, code=False)
    assert err.value.reason == CODE_NOT_CURRENT


@pytest.mark.parametrize(
    "held", [None, place(AssignmentState.WITHDRAWN), place(AssignmentState.PROPOSED)]
)
def test_only_a_member_with_an_accepted_place_checks_in(held: Assignment | None) -> None:
    with pytest.raises(FailedPrecondition) as err:
        rules.check(
            task(),
            MEMBER,
            Purpose.CHECK_IN,
            held=held,
            checked_in=None,
            code_current=True,
            location=PLACE,
            now=START,
            rules=RULES,
        )
    assert err.value.reason == NO_PLACE_ON_TASK


def test_a_cancelled_task_takes_no_check_in() -> None:
    with pytest.raises(FailedPrecondition):
        check_in(task(status=TaskStatus.CANCELLED), START)


# -- proposals -------------------------------------------------------------------------------------


def _att(
    purpose: Purpose, at: datetime, evidence: Evidence = Evidence.CODE_AND_PLACE
) -> Attendance:
    return Attendance("t-1", MEMBER, purpose, at, evidence)


def test_the_proposal_runs_from_check_in_to_check_out_within_the_window() -> None:
    t = task()
    early = _att(Purpose.CHECK_IN, START - timedelta(minutes=40))
    left = _att(Purpose.CHECK_OUT, START + timedelta(minutes=95))
    p = rules.propose(t, early, left)
    assert (p.minutes, p.evidence) == (95, Evidence.CODE_AND_PLACE)
    late_out = _att(Purpose.CHECK_OUT, t.window.end + timedelta(hours=1))
    assert rules.propose(t, early, late_out).minutes == 120
    assert (
        rules.propose(t, _att(Purpose.CHECK_IN, START + timedelta(minutes=20)), None).minutes == 100
    )


def test_code_only_anywhere_makes_the_proposal_code_only() -> None:
    p = rules.propose(
        task(), _att(Purpose.CHECK_IN, START, Evidence.CODE_ONLY), _att(Purpose.CHECK_OUT, START)
    )
    assert p.evidence is Evidence.CODE_ONLY


def test_members_without_a_check_in_get_no_proposal() -> None:
    found = rules.proposals(task(), {MEMBER, "m-2"}, [_att(Purpose.CHECK_IN, START)])
    assert set(found) == {MEMBER}


# -- hours -----------------------------------------------------------------------------------------

DONE = task(status=TaskStatus.COMPLETED)
LATER = START + timedelta(hours=5)


def confirm(
    decisions: list[hours.Decision],
    *,
    current: dict[str, hours.HoursRecord] | None = None,
    checked_in: bool = True,
) -> hours.HoursChange:
    atts = [_att(Purpose.CHECK_IN, START), _att(Purpose.CHECK_OUT, START + timedelta(minutes=90))]
    return hours.confirm(
        DONE,
        decisions,
        completed={
            MEMBER: place(AssignmentState.COMPLETED),
            "m-2": place(AssignmentState.COMPLETED, member_id="m-2"),
        },
        proposals=rules.proposals(DONE, {MEMBER, "m-2"}, atts if checked_in else []),
        current=current or {},
        ids=[f"r-{i}" for i in range(len(decisions))],
        now=LATER,
        horizon=timedelta(hours=48),
    )


def test_confirming_the_proposal_keeps_its_evidence() -> None:
    change = confirm([hours.Decision(MEMBER, None, "")])
    (r,) = change.written
    assert (r.minutes, r.evidence, r.state, r.category) == (
        90,
        Evidence.CODE_AND_PLACE,
        hours.HoursState.CONFIRMED,
        "elderly",
    )
    assert (r.scheduled_minutes, r.occurred_at, r.hard_to_fill) == (120, START, False)
    assert isinstance(change.events[0], hours.HoursConfirmed)


def test_other_minutes_need_a_reason_and_are_the_staffs_word() -> None:
    with pytest.raises(InvalidArgument) as err:
        confirm([hours.Decision(MEMBER, 60, "")])
    assert [v.field for v in err.value.violations] == ["decisions[0].reason"]
    (r,) = confirm([hours.Decision(MEMBER, 60, "left early")]).written
    assert (r.minutes, r.evidence, r.reason) == (60, Evidence.STAFF_WORD, "left early")


def test_a_member_who_did_not_check_in_needs_minutes_from_staff() -> None:
    with pytest.raises(InvalidArgument) as err:
        confirm([hours.Decision("m-2", None, "")], checked_in=False)
    assert [v.field for v in err.value.violations] == ["decisions[0].minutes"]
    (r,) = confirm([hours.Decision("m-2", 120, "")], checked_in=False).written
    assert r.evidence is Evidence.STAFF_WORD


def test_only_completed_members_and_completed_tasks_get_confirmed_hours() -> None:
    with pytest.raises(InvalidArgument) as err:
        confirm([hours.Decision("m-9", 60, "")])
    assert err.value.violations[0].field == "decisions[0].member_id"
    with pytest.raises(FailedPrecondition):
        hours.confirm(
            task(),
            [hours.Decision(MEMBER, 60, "x")],
            completed={},
            proposals={},
            current={},
            ids=["r"],
            now=LATER,
            horizon=timedelta(),
        )


def test_confirming_again_answers_the_record_unless_it_differs() -> None:
    (first,) = confirm([hours.Decision(MEMBER, None, "")]).written
    again = confirm([hours.Decision(MEMBER, None, "")], current={MEMBER: first})
    assert again.written == () and again.answer == (first,)
    with pytest.raises(FailedPrecondition) as err:
        confirm([hours.Decision(MEMBER, 30, "no")], current={MEMBER: first})
    assert err.value.reason == HOURS_ALREADY_RECORDED


def test_a_place_taken_close_to_the_start_was_hard_to_fill() -> None:
    late = place(AssignmentState.COMPLETED, created_at=START - timedelta(hours=3))
    assert hours.hard_to_fill(DONE, late, timedelta(hours=48))
    assert not hours.hard_to_fill(DONE, place(), timedelta(hours=48))


def test_a_request_is_approved_or_refused() -> None:
    asked = hours.request(
        DONE,
        MEMBER,
        90,
        "came without a phone",
        checked_in=False,
        current=None,
        place=None,
        record_id="r-1",
        now=LATER,
        horizon=timedelta(hours=48),
    )
    (r,) = asked.written
    assert (r.state, r.evidence) == (hours.HoursState.REQUESTED, Evidence.STAFF_WORD)
    ok = hours.approve(r, LATER)
    assert ok.written[0].state is hours.HoursState.CONFIRMED
    assert isinstance(ok.events[0], hours.HoursConfirmed)
    no = hours.refuse(r, "not seen there", LATER)
    assert (no.written[0].state, no.written[0].reason) == (
        hours.HoursState.REFUSED,
        "not seen there",
    )
    with pytest.raises(InvalidArgument):
        hours.refuse(r, "", LATER)


def test_a_member_who_checked_in_does_not_ask_for_hours() -> None:
    with pytest.raises(FailedPrecondition):
        hours.request(
            DONE,
            MEMBER,
            90,
            "",
            checked_in=True,
            current=None,
            place=None,
            record_id="r-1",
            now=LATER,
            horizon=timedelta(),
        )


def test_nobody_asks_for_hours_before_the_start() -> None:
    with pytest.raises(FailedPrecondition):
        hours.request(
            task(status=TaskStatus.OPEN),
            MEMBER,
            90,
            "",
            checked_in=False,
            current=None,
            place=None,
            record_id="r-1",
            now=START - timedelta(hours=1),
            horizon=timedelta(),
        )


def test_a_correction_is_a_new_record_that_supersedes_the_old() -> None:
    (first,) = confirm([hours.Decision(MEMBER, None, "")]).written
    with pytest.raises(InvalidArgument):
        hours.correct(first, 60, "", record_id="r-2", now=LATER)
    change = hours.correct(first, 60, "left at 10:30", record_id="r-2", now=LATER)
    old, new = change.written
    assert (old.id, old.state) == (first.id, hours.HoursState.SUPERSEDED)
    assert (new.id, new.supersedes, new.minutes, new.evidence) == (
        "r-2",
        first.id,
        60,
        Evidence.STAFF_WORD,
    )
    with pytest.raises(FailedPrecondition):
        hours.correct(old, 30, "again", record_id="r-3", now=LATER)


# -- settings --------------------------------------------------------------------------------------


def test_production_refuses_the_development_check_in_key_and_a_short_one() -> None:
    ring = f"prod1:{base64.b64encode(b'p' * 32).decode()}"
    production = {
        "jwt_secret": "x" * 40,
        "jwks_url": "http://identity:50064/.well-known/jwks.json",
        "event_keys": ring,
        "event_key_id": "prod1",
        "dev_mode": False,
    }
    with pytest.raises(SystemExit, match="LINLI_ATTENDANCE__CODE_KEY"):
        TasksSettings(**production).refuse_unsafe()  # type: ignore[arg-type]
    short = AttendanceSettings(code_key=SecretStr("too short"))
    with pytest.raises(SystemExit, match="at least 32 bytes"):
        TasksSettings(**production, attendance=short).refuse_unsafe()  # type: ignore[arg-type]
    own = AttendanceSettings(code_key=SecretStr("k" * 40))
    TasksSettings(**production, attendance=own).refuse_unsafe()  # type: ignore[arg-type]
    TasksSettings(dev_mode=True, jwt_secret="x" * 40).refuse_unsafe()
