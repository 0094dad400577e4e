"""The shared kernel's values and conversions: the same answers for every service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from linli.v1 import common_pb2
from services.common.protoconv import (
    ASSIGNMENT_STATE_WORDS,
    BENEFICIARY_FROM_PROTO,
    BENEFICIARY_TO_PROTO,
    TASK_STATUS_WORDS,
    time_from_proto,
    ts,
    weekly_window_from_proto,
    weekly_window_to_proto,
)
from services.common.values import (
    PRIORITY_GROUPS,
    Beneficiary,
    LatLng,
    TimeWindow,
    WeeklyWindow,
    approximate,
    claim_deadline,
    distance_m,
    public_place,
)

START = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
END = START + timedelta(hours=2)


def test_places_are_taken_until_a_fixed_window_starts_or_a_flexible_one_ends() -> None:
    assert claim_deadline(START, END, flexible=False) == START
    assert claim_deadline(START, END, flexible=True) == END
    assert TimeWindow(START, END).claim_deadline == START
    assert TimeWindow(START, END, flexible=True).claim_deadline == END


@given(st.floats(-90, 90), st.floats(-180, 180))
def test_a_location_and_a_place_round_to_the_same_public_cell(lat: float, lng: float) -> None:
    # The task service rounds a LatLng, matching a (lat, lng) pair: what one shows, the other
    # measures from.
    assert approximate(LatLng(lat, lng)) == LatLng(*public_place(lat, lng))


def test_distance_is_symmetric_and_about_a_kilometre_per_hundredth_of_latitude() -> None:
    a, b = (36.98, 117.17), (36.99, 117.17)
    assert distance_m(*a, *b) == distance_m(*b, *a)
    assert 1100 < distance_m(*a, *b) < 1120


def test_the_priority_groups_are_every_group_but_other() -> None:
    assert {Beneficiary(g) for g in PRIORITY_GROUPS} == set(Beneficiary) - {Beneficiary.OTHER}
    assert set(BENEFICIARY_TO_PROTO) == set(Beneficiary)
    assert BENEFICIARY_FROM_PROTO[common_pb2.BENEFICIARY_GROUP_ELDERLY] is Beneficiary.ELDERLY


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2199, 12, 31), timezones=st.just(UTC)
    )
)
def test_a_time_survives_the_trip_through_a_timestamp(when: datetime) -> None:
    assert time_from_proto(ts(when)) == when  # type: ignore[arg-type]


def test_a_weekly_window_survives_the_trip_through_its_message() -> None:
    w = WeeklyWindow(3, 18 * 60, 21 * 60)
    assert weekly_window_from_proto(weekly_window_to_proto(w)) == w


def test_the_state_words_matching_reads_are_the_task_services_own() -> None:
    # Matching keeps the task service's states in its read model by these words.
    from services.tasks.domain import AssignmentState, TaskStatus

    assert set(TASK_STATUS_WORDS.values()) == {s.value for s in TaskStatus}
    assert set(ASSIGNMENT_STATE_WORDS.values()) == {s.value for s in AssignmentState}
