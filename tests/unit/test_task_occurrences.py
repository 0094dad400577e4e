"""A role's occurrences (services/tasks/domain/role.py): the local days and times of a
schedule, in any interval, however it is split."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.tasks.domain import (
    LOCAL_TZ,
    OneOffSchedule,
    TimeWindow,
    WeeklySchedule,
    occurrences,
)
from tests.unit.task_drafts import (
    CST,
    FRI,
    LONG_AGO,
    MON,
    NOW,
    SUN,
    fixed,
    instants,
    local,
    spans,
    utc,
    weekly,
)

# ---------------------------------------------------------------------------------------------
# Occurrences


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
