"""The points rules: hours to points (capped by the scheduled length and the yearly cap, with the
bonus for hard places), corrections, redemptions, reversals and the year's reset; and the
ledger's invariants as properties."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.errors import NotFound
from services.common.settings.points import PointsRules
from services.common.values import LOCAL_TZ
from services.points.domain.errors import (
    AlreadyReversed,
    InsufficientPoints,
    NotReversible,
    RequestIdReused,
)
from services.points.domain.ledger import Booking, Kind, MemberLedger, Movement
from services.points.domain.redemption import Redemption, redeem, reverse_redemption
from services.points.domain.rules import HoursRecord, book_hours, points_for
from services.points.domain.year_end import reset

NOW = datetime(2026, 6, 1, 10, tzinfo=UTC)
M = "member-1"
C = "community-1"
RULES = PointsRules()


def fresh_ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"m{next(counter)}"


def record(record_id: str = "r1", minutes: int = 120, **kw: object) -> HoursRecord:
    values: dict[str, object] = {
        "record_id": record_id,
        "member_id": M,
        "community_id": C,
        "category": "elderly",
        "minutes": minutes,
        "scheduled_minutes": 120,
        "hard_to_fill": False,
        "occurred_at": NOW,
    }
    values.update(kw)
    return HoursRecord(**values)  # type: ignore[arg-type]


def apply(ledger: MemberLedger, booking: Booking) -> MemberLedger:
    return MemberLedger(
        ledger.member_id,
        (*ledger.movements, *booking.movements),
        ledger.superseded | booking.superseded,
    )


def test_an_hour_is_a_point_by_default() -> None:
    assert points_for(RULES, record(minutes=90, scheduled_minutes=0)) == 150


def test_hours_count_at_most_the_scheduled_length() -> None:
    assert points_for(RULES, record(minutes=300, scheduled_minutes=120)) == 200


def test_a_hard_to_fill_place_earns_the_bonus() -> None:
    assert points_for(RULES, record(minutes=120, hard_to_fill=True)) == 300


def test_a_category_may_have_its_own_rate() -> None:
    rules = PointsRules(per_hour_by_category={"child": 200})
    assert points_for(rules, record(category="child")) == 400


def test_the_yearly_cap_of_a_category_is_never_passed() -> None:
    rules = PointsRules(yearly_cap=500)
    ledger = MemberLedger(M)
    new = fresh_ids()
    amounts = []
    for i in range(4):
        b = book_hours(rules, ledger, record(f"r{i}"), new, NOW)
        ledger = apply(ledger, b)
        amounts.append(sum(m.amount for m in b.movements))
    assert amounts == [200, 200, 100, 0]
    # Another category, and the next year, have caps of their own.
    other = book_hours(rules, ledger, record("x", category="child"), new, NOW)
    assert other.movements[0].amount == 200
    later = book_hours(rules, ledger, record("y", occurred_at=NOW + timedelta(days=365)), new, NOW)
    assert later.movements[0].amount == 200


def test_a_record_is_awarded_once() -> None:
    new = fresh_ids()
    ledger = apply(MemberLedger(M), book_hours(RULES, MemberLedger(M), record(), new, NOW))
    assert book_hours(RULES, ledger, record(), new, NOW).movements == []


def test_a_correction_reverses_the_replaced_award_and_books_the_new_one() -> None:
    new = fresh_ids()
    ledger = apply(MemberLedger(M), book_hours(RULES, MemberLedger(M), record("r1"), new, NOW))
    b = book_hours(
        RULES, ledger, record("r2", minutes=60, supersedes="r1", reason="left early"), new, NOW
    )
    kinds = [(m.kind, m.amount) for m in b.movements]
    assert kinds == [(Kind.REVERSAL, -200), (Kind.AWARD, 100)]
    assert b.movements[0].reverses == ledger.movements[0].id
    assert apply(ledger, b).balance == 100
    # The replaced record arriving again earns nothing.
    assert book_hours(RULES, apply(ledger, b), record("r1"), new, NOW).movements == []


def test_a_correction_to_nothing_only_reverses() -> None:
    new = fresh_ids()
    ledger = apply(MemberLedger(M), book_hours(RULES, MemberLedger(M), record("r1"), new, NOW))
    b = book_hours(RULES, ledger, record("r2", minutes=0, supersedes="r1"), new, NOW)
    assert [m.kind for m in b.movements] == [Kind.REVERSAL]
    assert apply(ledger, b).balance == 0


def test_redemption_beyond_the_balance_is_refused() -> None:
    ledger = apply(MemberLedger(M), book_hours(RULES, MemberLedger(M), record(), fresh_ids(), NOW))
    with pytest.raises(InsufficientPoints) as e:
        redeem(ledger, Redemption("q1", M, 201, "理发券"), C, "x", NOW, "staff")
    assert e.value.reason == "INSUFFICIENT_POINTS"
    b = redeem(ledger, Redemption("q1", M, 200, "理发券"), C, "x", NOW, "staff")
    assert apply(ledger, b).balance == 0


def test_a_redemption_retried_books_nothing_and_a_reused_request_id_is_refused() -> None:
    ledger = apply(MemberLedger(M), book_hours(RULES, MemberLedger(M), record(), fresh_ids(), NOW))
    ledger = apply(ledger, redeem(ledger, Redemption("q1", M, 50, "茶叶"), C, "x", NOW, "s"))
    assert redeem(ledger, Redemption("q1", M, 50, "茶叶"), C, "y", NOW, "s").movements == []
    with pytest.raises(RequestIdReused):
        redeem(ledger, Redemption("q1", M, 70, "茶叶"), C, "y", NOW, "s")


def test_staff_reverse_a_redemption_once_and_nothing_else() -> None:
    ledger = apply(MemberLedger(M), book_hours(RULES, MemberLedger(M), record(), fresh_ids(), NOW))
    ledger = apply(ledger, redeem(ledger, Redemption("q1", M, 50, "茶叶"), C, "x", NOW, "s"))
    b = reverse_redemption(ledger, "x", "wrong member", "y", NOW, "s")
    after = apply(ledger, b)
    assert after.balance == 200
    with pytest.raises(AlreadyReversed):
        reverse_redemption(after, "x", "again", "z", NOW, "s")
    with pytest.raises(NotReversible):
        reverse_redemption(after, ledger.movements[0].id, "no", "z", NOW, "s")
    with pytest.raises(NotFound):
        reverse_redemption(after, "unknown", "no", "z", NOW, "s")


def test_the_reset_takes_back_what_was_held_at_the_year_start_per_community() -> None:
    start = datetime(2027, 1, 1, tzinfo=LOCAL_TZ)
    new = fresh_ids()
    ledger = MemberLedger(M)
    ledger = apply(ledger, book_hours(RULES, ledger, record("a"), new, start - timedelta(days=3)))
    ledger = apply(
        ledger, book_hours(RULES, ledger, record("b", community_id="c2"), new, start - timedelta(1))
    )
    # Booked after the year began: kept.
    ledger = apply(
        ledger,
        book_hours(RULES, ledger, record("c", category="child"), new, start + timedelta(hours=1)),
    )
    b = reset(ledger, start, new)
    held = sorted((m.community_id, m.amount) for m in b.movements)
    assert held == sorted([(C, -200), ("c2", -200)])
    assert all(m.booked_at == start and m.kind is Kind.RESET for m in b.movements)
    after = apply(ledger, b)
    assert after.balance == 200
    assert reset(after, start, new).movements == []


# -- properties ------------------------------------------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("hours"),
            st.integers(0, 600),
            st.integers(0, 300),
            st.booleans(),
            st.sampled_from(["elderly", "child"]),
        ),
        st.tuples(
            st.just("correct"),
            st.integers(0, 600),
            st.integers(0, 300),
            st.booleans(),
            st.sampled_from(["elderly", "child"]),
        ),
        st.tuples(st.just("redeem"), st.integers(1, 800)),
        st.tuples(st.just("reverse"), st.integers(0, 50)),
        st.tuples(st.just("reset"), st.integers(0, 3)),
    ),
    max_size=40,
)


def run(
    ops: list[tuple[object, ...]], rules: PointsRules
) -> tuple[MemberLedger, list[tuple[MemberLedger, Booking]]]:
    new = fresh_ids()
    ledger = MemberLedger(M)
    steps = []
    when = NOW
    records: list[str] = []
    for n, op in enumerate(ops):
        when += timedelta(days=20)
        b = Booking()
        try:
            if op[0] in ("hours", "correct"):
                _, minutes, scheduled, hard, category = op
                supersedes = records[-1] if op[0] == "correct" and records else ""
                rec = record(
                    f"r{n}",
                    minutes,
                    scheduled_minutes=scheduled,
                    hard_to_fill=hard,
                    category=category,
                    supersedes=supersedes,
                    occurred_at=when,
                )
                records.append(rec.record_id)
                b = book_hours(rules, ledger, rec, new, when)
            elif op[0] == "redeem":
                b = redeem(ledger, Redemption(f"q{n}", M, int(op[1]), "item"), C, new(), when, "s")  # type: ignore[call-overload]
            elif op[0] == "reverse":
                redemptions = [m for m in ledger.movements if m.kind is Kind.REDEMPTION]
                if redemptions:
                    target = redemptions[int(op[1]) % len(redemptions)]  # type: ignore[call-overload]
                    b = reverse_redemption(ledger, target.id, "mistake", new(), when, "s")
            else:
                b = reset(
                    ledger, datetime(when.astimezone(LOCAL_TZ).year, 1, 1, tzinfo=LOCAL_TZ), new
                )
        except (InsufficientPoints, AlreadyReversed):
            b = Booking()
        steps.append((ledger, b))
        ledger = apply(ledger, b)
    return ledger, steps


@settings(max_examples=200, derandomize=True, deadline=None)
@given(operations)
def test_every_movement_is_two_entries_that_sum_to_zero(ops: list[tuple[object, ...]]) -> None:
    ledger, _ = run(ops, RULES)
    for m in ledger.movements:
        assert len(m.entries) == 2
        assert sum(e.amount for e in m.entries) == 0
        assert m.amount != 0


@settings(max_examples=200, derandomize=True, deadline=None)
@given(operations)
def test_a_balance_is_the_sum_of_the_members_entries_and_never_goes_negative_by_redemption(
    ops: list[tuple[object, ...]],
) -> None:
    ledger, steps = run(ops, RULES)
    entries = [e for m in ledger.movements for e in m.entries if e.account == f"member:{M}"]
    assert ledger.balance == sum(e.amount for e in entries)
    for before, b in steps:
        for m in b.movements:
            if m.kind is Kind.REDEMPTION:
                assert before.balance + m.amount >= 0


@settings(max_examples=200, derandomize=True, deadline=None)
@given(operations)
def test_a_reversal_restores_the_balance_exactly(ops: list[tuple[object, ...]]) -> None:
    ledger, _ = run(ops, RULES)
    for m in ledger.movements:
        if m.kind is Kind.REVERSAL:
            target = ledger.find(m.reverses)
            assert target is not None and target.amount + m.amount == 0
    undone = {m.reverses for m in ledger.movements if m.kind is Kind.REVERSAL}
    assert len(undone) == sum(1 for m in ledger.movements if m.kind is Kind.REVERSAL)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(operations, st.integers(0, 1000))
def test_the_yearly_caps_are_never_exceeded(ops: list[tuple[object, ...]], cap: int) -> None:
    rules = PointsRules(yearly_cap=cap, yearly_cap_by_category={"child": cap // 2})
    _, steps = run(ops, rules)
    for before, b in steps:
        after = apply(before, b)
        for m in b.movements:
            if m.kind is Kind.AWARD:
                assert after.earned(m.category, m.year) <= rules.cap(m.category)


def test_movements_carry_their_entries() -> None:
    m = Movement("x", Kind.AWARD, M, C, 150, "r", "why", NOW)
    assert [(e.account, e.amount) for e in m.entries] == [
        (f"member:{M}", 150),
        (f"community:{C}", -150),
    ]


def test_a_record_naming_no_member_or_community_books_nothing() -> None:
    for broken in (record(member_id=""), record(community_id=""), record(record_id="")):
        assert book_hours(RULES, MemberLedger(M), broken, fresh_ids(), NOW).movements == []
