"""The notifications service on the in-memory store, fed events through its handler table: who
hears of what, once; fatigue; reminders that follow the task; reading one's own inbox only;
deliveries on the member's channels, retried without duplicates."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from services.common import paging
from services.common.auth import Principal, Role
from services.common.settings import NotificationsSettings
from services.notifications.domain.errors import InboxNotFound, MembersOnly
from services.notifications.domain.items import Delivery, Kind, Urgency
from services.notifications.domain.world import Preferences
from services.notifications.handlers import table
from services.notifications.service import Notifications
from services.notifications.service.schedule import Schedule
from services.notifications.store import Job, Outcome
from services.notifications.store.memory import MemoryStore
from tests import notify_events as ev

# Wednesday 2026-12-02, 10:00 in the district.
NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
C, S = "c-binhu", "s-jiyang"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class FlakyChannel:
    """A channel whose provider is down for the first `down` attempts."""

    name: str = "sms"
    down: int = 0
    sent: list[int] = field(default_factory=list)

    async def send(self, job: Job) -> tuple[Outcome, str]:
        if self.down > 0:
            self.down -= 1
            return Outcome.RETRY, "provider away"
        self.sent.append(job.item.cursor)
        return Outcome.SENT, ""

    async def aclose(self) -> None:
        return None


@dataclass
class World:
    clock: Clock
    store: MemoryStore
    n: Notifications
    schedule: Schedule
    sms: FlakyChannel

    async def apply(self, *events: ev.Event) -> None:
        t = table(self.n)
        for subject, payload in events:
            await t.apply(None, ev.env(subject, payload))

    async def items(self, inbox: str) -> list[tuple[Kind, Delivery]]:
        return [(i.kind, i.delivery) for i in await self.store.after(inbox, 0, 1000)]


@pytest.fixture
async def w() -> World:
    clock = Clock()
    store = MemoryStore()
    settings = NotificationsSettings(daily_budget=3, delivery_backoff_s=0)
    n = Notifications(store, settings, clock)
    sms = FlakyChannel()
    world = World(clock, store, n, Schedule(n, {"sms": sms}), sms)
    await world.apply(ev.community_created(C, S), ev.staff_account("staff-1", C))
    return world


async def test_a_proposal_is_told_once_it_is_a_proposed_place_and_a_reoffer_as_such(
    w: World,
) -> None:
    t1 = ev.task("t1", C, S, NOW + timedelta(days=5))
    t2 = ev.task("t2", C, S, NOW + timedelta(days=6))
    await w.apply(ev.task_posted(t1), ev.task_posted(t2), ev.proposal_made("t1", "m1"))
    assert await w.items("m1") == []
    await w.apply(ev.assignment("proposed", t1, "m1", "a1"))
    await w.apply(ev.proposal_made("t2", "m1", reoffer=True))
    await w.apply(ev.assignment("proposed", t2, "m1", "a2"))
    assert [k for k, _ in await w.items("m1")] == [Kind.PROPOSED, Kind.REOFFERED]


async def test_an_event_applied_twice_writes_its_items_once(w: World) -> None:
    t1 = ev.task("t1", C, S, NOW + timedelta(days=5))
    accepted = ev.env(*ev.assignment("accepted", t1, "m1", "a1"))
    t = table(w.n)
    await t.apply(None, accepted)
    await t.apply(None, accepted)
    assert [k for k, _ in await w.items("m1")] == [Kind.ACCEPTED]


async def test_a_cancelled_task_of_today_is_urgent_and_passes_quiet_hours(w: World) -> None:
    w.clock.now = NOW.replace(hour=15)  # 23:00 local
    soon = ev.task("t1", C, S, w.clock.now + timedelta(hours=9))
    later = ev.task("t2", C, S, w.clock.now + timedelta(days=4))
    await w.apply(
        ev.assignment("accepted", soon, "m1", "a1"),
        ev.assignment("accepted", later, "m1", "a2"),
        ev.task_cancelled(soon, "天气原因"),
        ev.task_cancelled(later, "场地调整"),
    )
    items = await w.store.after("m1", 0, 100)
    cancelled = [i for i in items if i.kind == Kind.TASK_CANCELLED]
    assert [(i.urgency, i.delivery) for i in cancelled] == [
        (Urgency.URGENT, Delivery.PUSHED),
        (Urgency.NORMAL, Delivery.HELD),
    ]
    assert "天气原因" in cancelled[0].body


async def test_a_place_released_by_a_move_tells_the_member_and_the_staff(w: World) -> None:
    t1 = ev.task("t1", C, S, NOW + timedelta(days=5))
    await w.apply(
        ev.member_registered("m1", C, "13800000001", NOW),
        ev.assignment("accepted", t1, "m1", "a1"),
        ev.assignment("withdrawn", t1, "m1", "a1", reason="moved"),
    )
    assert [k for k, _ in await w.items("m1")] == [Kind.ACCEPTED, Kind.PLACE_RELEASED_MOVED]
    staff = await w.store.after("staff-1", 0, 10)
    assert [i.kind for i in staff] == [Kind.PLACE_RELEASED]
    assert "测试党员" in staff[0].body


async def test_a_report_in_goes_to_its_communitys_staff_only(w: World) -> None:
    await w.apply(ev.staff_account("staff-2", "c-other"), ev.member_reported_in("m9", C, NOW))
    assert [k for k, _ in await w.items("staff-1")] == [Kind.REPORT_IN_TO_VERIFY]
    assert await w.items("staff-2") == []


async def test_beyond_the_budget_items_are_held_then_folded_into_one_digest(w: World) -> None:
    for i in range(5):
        await w.apply(ev.points_awarded("m1", C, 100 * (i + 1), 100 * (i + 1)))
    assert [d for _, d in await w.items("m1")] == [Delivery.PUSHED] * 3 + [Delivery.HELD] * 2
    assert await w.schedule.digest() == 0  # the day's budget is spent
    w.clock.now = NOW + timedelta(days=1)
    assert await w.schedule.digest() == 1
    items = await w.items("m1")
    assert items[-1] == (Kind.DIGEST, Delivery.PUSHED)
    assert [d for _, d in items[3:5]] == [Delivery.DIGESTED] * 2
    assert await w.schedule.digest() == 0


async def test_a_reminder_comes_a_day_before_once_and_moves_with_the_task(w: World) -> None:
    start = NOW + timedelta(days=3)
    t1 = ev.task("t1", C, S, start)
    await w.apply(ev.task_posted(t1), ev.assignment("accepted", t1, "m1", "a1"))
    assert await w.schedule.remind() == 0
    w.clock.now = start - timedelta(hours=23)
    assert await w.schedule.remind() == 1
    assert await w.schedule.remind() == 0
    moved = ev.task("t1", C, S, start + timedelta(days=2))
    await w.apply(ev.task_changed(moved, "改到周末"))
    assert await w.schedule.remind() == 0
    w.clock.now = start + timedelta(days=2) - timedelta(hours=20)
    assert await w.schedule.remind() == 1
    kinds = [k for k, _ in await w.items("m1")]
    assert kinds == [Kind.ACCEPTED, Kind.REMINDER, Kind.TASK_CHANGED, Kind.REMINDER]


async def test_no_reminder_for_a_released_place(w: World) -> None:
    start = NOW + timedelta(days=3)
    t1 = ev.task("t1", C, S, start)
    await w.apply(
        ev.assignment("accepted", t1, "m1", "a1"),
        ev.assignment("withdrawn", t1, "m1", "a1", reason="有事"),
    )
    w.clock.now = start - timedelta(hours=23)
    assert await w.schedule.remind() == 0


async def test_a_member_reads_only_their_own_inbox(w: World) -> None:
    await w.apply(ev.points_awarded("m1", C, 100, 100))
    me, other = Principal("m1", Role.MEMBER), Principal("m2", Role.MEMBER)
    with paging.signing_key(b"k" * 32):
        items, _ = await w.n.list_items(me, "", False, 0, "")
        assert [i.kind for i in items] == [Kind.POINTS_EARNED]
        with pytest.raises(InboxNotFound):
            await w.n.list_items(other, "m1", False, 0, "")
        with pytest.raises(InboxNotFound):
            await w.n.list_items(other, "nobody", False, 0, "")
    assert await w.n.unread(me, "") == 1
    assert await w.n.mark_read(me, "", [], items[0].cursor) == 1
    assert await w.n.unread(me, "") == 0


async def test_a_follower_gets_what_is_after_its_cursor_then_each_new_item(w: World) -> None:
    await w.apply(*(ev.points_awarded("m1", C, 100, 100 * i) for i in range(1, 4)))
    me = Principal("m1", Role.MEMBER)
    seen: list[int] = []

    async def follow() -> None:
        async for item in w.n.follow(me, "", 1):
            seen.append(item.cursor)
            if len(seen) == 4:
                return

    w.store.listeners.append(w.n.wakeups.wake)
    task = asyncio.create_task(follow())
    await asyncio.sleep(0.05)
    await w.apply(*(ev.points_awarded("m1", C, 100, 100 * i) for i in range(4, 6)))
    await asyncio.wait_for(task, 5)
    assert seen == [2, 3, 4, 5]


async def test_pushed_items_go_out_on_the_members_channels_retried_without_duplicates(
    w: World,
) -> None:
    me = Principal("m1", Role.MEMBER)
    await w.n.set_preferences(me, Preferences(sms=True))
    w.sms.down = 2
    await w.apply(ev.points_awarded("m1", C, 100, 100), ev.points_awarded("m1", C, 200, 300))
    for _ in range(6):
        await w.schedule.deliver()
    assert sorted(w.sms.sent) == [1, 2]
    states = await w.store.deliveries("m1")
    assert [s for _, _, s, _ in states] == ["sent", "sent"]


async def test_only_a_member_sets_their_channels_and_wechat_needs_an_openid(w: World) -> None:
    from services.common.errors import InvalidArgument

    with pytest.raises(MembersOnly):
        await w.n.set_preferences(Principal("staff-1", Role.COMMUNITY_STAFF), Preferences())
    with pytest.raises(InvalidArgument):
        await w.n.set_preferences(Principal("m1", Role.MEMBER), Preferences(wechat=True))


async def test_a_tasks_exact_place_reaches_only_members_holding_an_accepted_place(
    w: World,
) -> None:
    t1 = ev.task("t1", C, S, NOW + timedelta(days=5))
    await w.apply(
        ev.proposal_made("t1", "m-proposed"),
        ev.assignment("proposed", t1, "m-proposed", "a1"),
        ev.assignment("accepted", t1, "m-accepted", "a2"),
        ev.task_changed(t1, "改到下午"),
    )
    proposed = await w.store.after("m-proposed", 0, 10)
    accepted = await w.store.after("m-accepted", 0, 10)
    assert [i.kind for i in proposed] == [Kind.PROPOSED, Kind.TASK_CHANGED]
    assert [i.kind for i in accepted] == [Kind.ACCEPTED, Kind.TASK_CHANGED]
    assert all(t1.address not in i.body for i in proposed)
    assert all(t1.address in i.body for i in accepted)


async def test_an_erased_member_leaves_no_inbox_and_no_late_snapshot_brings_them_back(
    w: World,
) -> None:
    from linli.v1 import events_pb2
    from services.common import subjects

    await w.apply(
        ev.member_registered("m1", C, "13800000001", NOW),
        ev.points_awarded("m1", C, 100, 100),
        (subjects.MEMBER_ERASED, events_pb2.MemberErased(member_id="m1", community_id=C)),
        ev.member_registered("m1", C, "13800000001", NOW + timedelta(seconds=1)),
    )
    assert await w.items("m1") == []
    async with w.store.transaction() as tx:
        kept = await w.store.member(tx, "m1")
    assert kept is not None and kept.phone == ""
