"""The notifications service's rules: fatigue (quiet hours, the daily budget, digests that lose
nothing), reminders (once per offset and start, the nearest only, none for a past time), whose
inbox a caller reads, and the words of every kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.auth import Principal, Role
from services.notifications.domain import fatigue, reminders, templates
from services.notifications.domain.errors import InboxNotFound
from services.notifications.domain.fatigue import Fatigue, Pushes
from services.notifications.domain.items import (
    Delivery,
    Item,
    Kind,
    Resource,
    Urgency,
    inbox_of,
)
from services.notifications.domain.world import Preferences, StaffAccount

F = Fatigue.parse("22:00", "07:00", 3)
# 2026-12-02 10:00 in Shanghai.
MORNING = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
NIGHT = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 23:00 local


def test_quiet_hours_run_across_midnight_in_local_time() -> None:
    assert F.quiet(NIGHT)
    assert F.quiet(datetime(2026, 12, 2, 22, 30, tzinfo=UTC))  # 06:30 local
    assert not F.quiet(datetime(2026, 12, 2, 23, 0, tzinfo=UTC))  # 07:00 local
    assert not F.quiet(MORNING)


def test_items_beyond_the_budget_are_held_and_urgent_ones_always_pass() -> None:
    pushes = Pushes()
    verdicts = []
    for _ in range(5):
        v, pushes = fatigue.decide(F, pushes, MORNING, Urgency.NORMAL)
        verdicts.append(v)
    assert verdicts == [Delivery.PUSHED] * 3 + [Delivery.HELD] * 2
    assert fatigue.decide(F, pushes, MORNING, Urgency.URGENT)[0] == Delivery.PUSHED
    assert fatigue.decide(F, Pushes(), NIGHT, Urgency.NORMAL)[0] == Delivery.HELD
    assert fatigue.decide(F, Pushes(), NIGHT, Urgency.URGENT)[0] == Delivery.PUSHED


def test_a_new_day_opens_a_new_budget_and_the_digest_waits_for_it() -> None:
    spent = Pushes(MORNING.astimezone(templates.LOCAL_TZ).date(), 3)
    assert not fatigue.digest_due(F, spent, MORNING)
    assert not fatigue.digest_due(F, spent, NIGHT)
    next_morning = MORNING + timedelta(days=1)
    assert fatigue.digest_due(F, spent, next_morning)
    assert fatigue.decide(F, spent, next_morning, Urgency.NORMAL)[0] == Delivery.PUSHED


def _item(cursor: int, kind: Kind) -> Item:
    return Item(
        str(cursor),
        "m",
        cursor,
        kind,
        "t",
        "b",
        Resource(),
        Urgency.NORMAL,
        Delivery.HELD,
        False,
        MORNING,
    )


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=3 * 24 * 60),  # minutes since the start
            st.booleans(),  # urgent
        ),
        max_size=80,
    ),
    budget=st.integers(min_value=1, max_value=6),
)
def test_never_more_than_the_budget_pushed_a_day_and_every_held_item_reaches_a_digest(
    steps: list[tuple[int, bool]], budget: int
) -> None:
    f = Fatigue.parse("22:00", "07:00", budget)
    start = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)  # midnight local
    pushes = Pushes()
    held: list[int] = []
    digested: set[int] = set()
    pushed_per_day: dict[object, int] = {}
    cursor = 0

    def push(day: object) -> None:
        pushed_per_day[day] = pushed_per_day.get(day, 0) + 1

    def fold_if_due(now: datetime) -> None:
        nonlocal pushes, cursor
        if held and fatigue.digest_due(f, pushes, now):
            d = fatigue.fold([_item(c, Kind.REMINDER) for c in held])
            assert set(d.cursors) == set(held)
            digested.update(d.cursors)
            held.clear()
            today = pushes.on(now)
            pushes = Pushes(today.day, today.count + 1)
            cursor += 1
            push(today.day)

    for minute, urgent in sorted(steps):
        now = start + timedelta(minutes=minute)
        fold_if_due(now)
        cursor += 1
        verdict, pushes = fatigue.decide(
            f, pushes, now, Urgency.URGENT if urgent else Urgency.NORMAL
        )
        if verdict == Delivery.HELD:
            held.append(cursor)
        elif not urgent:
            push(pushes.day)
    # Time goes on, hour by hour, until every held item went out in a digest.
    now = start + timedelta(days=3)
    for _ in range(72):
        fold_if_due(now)
        now += timedelta(hours=1)
    assert held == []
    assert all(n <= budget for n in pushed_per_day.values())


def test_a_digest_counts_each_kind_held() -> None:
    d = fatigue.fold([_item(2, Kind.REMINDER), _item(5, Kind.ACCEPTED), _item(7, Kind.REMINDER)])
    assert d.cursors == (2, 5, 7)
    assert "3 条" in d.body and "服务提醒 2 条" in d.body


START = datetime(2026, 12, 10, 1, 0, tzinfo=UTC)
DAY = 24 * 3600.0


def _place(accepted_before: timedelta = timedelta(days=5)) -> reminders.Accepted:
    return reminders.Accepted("a1", "t1", "m1", START, START - accepted_before)


def test_a_reminder_is_due_a_day_before_and_once() -> None:
    p = _place()
    assert reminders.due(p, [DAY], START - timedelta(days=1, seconds=1), set()) is None
    due = reminders.due(p, [DAY], START - timedelta(hours=23), set())
    assert due is not None and due.offset_s == int(DAY)
    assert reminders.due(p, [DAY], START - timedelta(hours=23), {int(DAY)}) is None
    assert reminders.due(p, [DAY], START + timedelta(minutes=1), set()) is None


def test_only_the_nearest_of_several_due_reminders_goes_out() -> None:
    due = reminders.due(_place(), [DAY, 7200.0], START - timedelta(hours=1), set())
    assert due is not None and due.offset_s == 7200 and due.skipped == (int(DAY),)


def test_no_reminder_for_a_time_that_passed_before_the_place_was_taken() -> None:
    late = _place(accepted_before=timedelta(hours=3))
    due = reminders.due(late, [DAY, 7200.0], START - timedelta(hours=2), set())
    assert due is not None and due.offset_s == 7200 and due.skipped == (int(DAY),)
    just = _place(accepted_before=timedelta(hours=1))
    due = reminders.due(just, [DAY], START - timedelta(minutes=30), set())
    assert due is not None and due.offset_s is None and due.skipped == (int(DAY),)


def test_a_moved_task_is_reminded_again_for_its_new_start() -> None:
    p = _place()
    moved = reminders.Accepted("a1", "t1", "m1", START + timedelta(days=1), p.accepted_at)
    assert reminders.key(p, int(DAY)) != reminders.key(moved, int(DAY))


def test_a_caller_reads_only_their_own_inbox_and_another_id_is_not_found() -> None:
    me = Principal("m1", Role.MEMBER)
    assert inbox_of(me, "") == "m1"
    assert inbox_of(me, "m1") == "m1"
    with pytest.raises(InboxNotFound):
        inbox_of(me, "m2")
    admin = Principal("acc", Role.DISTRICT_ADMIN)
    with pytest.raises(InboxNotFound):
        inbox_of(admin, "m1")


def test_staff_items_reach_the_community_staff_and_the_street_admins_only() -> None:
    staff = StaffAccount("s", Role.COMMUNITY_STAFF, frozenset({"c1"}), frozenset())
    street = StaffAccount("a", Role.STREET_ADMIN, frozenset(), frozenset({"st1"}))
    off = StaffAccount("x", Role.COMMUNITY_STAFF, frozenset({"c1"}), frozenset(), disabled=True)
    district = StaffAccount("d", Role.DISTRICT_ADMIN, frozenset(), frozenset())
    assert staff.serves("c1", "st1") and not staff.serves("c2", "st1")
    assert street.serves("c2", "st1") and not street.serves("c1", "st2")
    assert not off.serves("c1", "st1") and not district.serves("c1", "st1")


def test_channels_follow_the_members_choice_and_a_wechat_refusal() -> None:
    assert Preferences().channels() == []
    assert Preferences(sms=True, wechat=True, openid="o1").channels() == ["sms", "wechat"]
    assert Preferences(wechat=True).channels() == []
    assert Preferences(wechat=True, openid="o1", wechat_refused=True).channels() == []


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_has_its_words_and_a_missing_fact_leaves_a_blank(kind: Kind) -> None:
    title, body = templates.text(kind, {"task": "帮老人买菜"})
    assert title and body and "{" not in body
