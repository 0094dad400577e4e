"""One suite for both implementations of the notifications service's store: PostgreSQL (a fresh
schema per test) and memory keep the read model, write each item once at the next cursor with
fatigue's verdict and its deliveries, page, mark read, remind, fold digests and deliver alike."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.common import migrations
from services.common.auth import Role
from services.notifications.app import MIGRATIONS
from services.notifications.domain import fatigue
from services.notifications.domain.fatigue import Fatigue, Pushes
from services.notifications.domain.items import Delivery, Kind, Notice, Owner, Resource
from services.notifications.domain.world import (
    MemberRow,
    Place,
    Preferences,
    StaffAccount,
    TaskRow,
)
from services.notifications.store import Job, NotificationStore, Outcome
from services.notifications.store.memory import MemoryStore
from services.notifications.store.postgres import PostgresStore
from tests.conftest import Servers

T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
F = Fatigue.parse("22:00", "07:00", 2)


@pytest.fixture(params=["postgres", "memory"])
async def store(
    request: pytest.FixtureRequest, servers: Servers
) -> AsyncIterator[NotificationStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    schema = f"notifications_contract_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(servers.database_url)
    try:
        await migrations.apply(conn, schema, MIGRATIONS)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        servers.database_url,
        min_size=1,
        max_size=4,
        server_settings={"search_path": f'"{schema}", public'},
    )
    assert pool is not None
    try:
        yield PostgresStore(pool)
    finally:
        await pool.close()


def notice(inbox: str, key: str, owner: Owner = Owner.MEMBER) -> Notice:
    return Notice(inbox, owner, Kind.REMINDER, "t", "b", Resource(task_id="t1"), key)


def decide(n: Notice, p: Pushes) -> tuple[Delivery, Pushes]:
    return fatigue.decide(F, p, T0, n.urgency)


async def test_items_get_the_next_cursor_once_each_with_fatigues_verdict(
    store: NotificationStore,
) -> None:
    async with store.transaction() as tx:
        new = await store.write(tx, [notice("m1", f"k{i}") for i in range(3)], T0, decide)
        again = await store.write(tx, [notice("m1", "k1")], T0, decide)
    assert (new, again) == (3, 0)
    items = await store.after("m1", 0, 10)
    assert [(i.cursor, i.delivery) for i in items] == [
        (1, Delivery.PUSHED),
        (2, Delivery.PUSHED),
        (3, Delivery.HELD),
    ]
    assert [i.cursor for i in await store.after("m1", 2, 10)] == [3]
    assert await store.after("m2", 0, 10) == []


async def test_pages_newest_first_unread_and_marking_read(store: NotificationStore) -> None:
    async with store.transaction() as tx:
        await store.write(tx, [notice("m1", f"k{i}") for i in range(5)], T0, decide)
    assert [i.cursor for i in await store.page("m1", False, None, 2)] == [5, 4]
    assert [i.cursor for i in await store.page("m1", False, 4, 10)] == [3, 2, 1]
    assert await store.mark_read("m1", [5], 2) == 3
    assert await store.mark_read("m1", [5], 2) == 0
    assert await store.unread("m1") == 2
    assert [i.cursor for i in await store.page("m1", True, None, 10)] == [4, 3]


async def test_the_read_model_answers_staff_holders_and_proposals(
    store: NotificationStore,
) -> None:
    async with store.transaction() as tx:
        await store.put_community(tx, "c1", "s1")
        await store.put_account(
            tx, StaffAccount("a1", Role.COMMUNITY_STAFF, frozenset({"c1"}), frozenset())
        )
        await store.put_account(
            tx, StaffAccount("a2", Role.STREET_ADMIN, frozenset(), frozenset({"s1"}))
        )
        await store.put_account(
            tx, StaffAccount("a3", Role.COMMUNITY_STAFF, frozenset({"c1"}), frozenset(), True)
        )
        assert await store.street_of(tx, "c1") == "s1"
        assert await store.staff_of(tx, "c1", "s1") == ["a1", "a2"]
        await store.put_member(tx, MemberRow("m1", "张", "c1", "138"), T0)
        await store.put_member(tx, MemberRow("m1", "旧", "c1", "137"), T0 - timedelta(1))
        assert await store.member(tx, "m1") == MemberRow("m1", "张", "c1", "138")
        task = TaskRow("t1", "c1", "s1", "买菜", "站", T0 + timedelta(days=1), T0, "open")
        await store.put_task(tx, task)
        assert await store.task(tx, "t1") == task
        await store.put_place(tx, Place("p1", "t1", "m1", "accepted", T0))
        await store.put_place(tx, Place("p2", "t1", "m2", "withdrawn"))
        assert [p.id for p in await store.holders(tx, "t1")] == ["p1"]
        await store.put_proposal(tx, "t1", "m1", True)
        assert await store.take_proposal(tx, "t1", "m1") is True
        assert await store.take_proposal(tx, "t1", "m1") is None


async def test_reminders_are_recorded_per_offset_and_start(store: NotificationStore) -> None:
    start = T0 + timedelta(hours=20)
    async with store.transaction() as tx:
        await store.put_task(tx, TaskRow("t1", "c1", "s1", "买菜", "站", start, start, "open"))
        await store.put_place(tx, Place("p1", "t1", "m1", "accepted", T0 - timedelta(days=3)))
    [(place, done)] = await store.accepted_starting(T0, T0 + timedelta(days=1))
    assert place.assignment_id == "p1" and done == frozenset()
    await store.remind(place, [86400], notice("m1", "r1"), T0, decide)
    [(_, done)] = await store.accepted_starting(T0, T0 + timedelta(days=1))
    assert done == {86400}
    assert [i.kind for i in await store.after("m1", 0, 10)] == [Kind.REMINDER]


async def test_held_items_fold_into_one_digest_when_due(store: NotificationStore) -> None:
    async with store.transaction() as tx:
        await store.write(tx, [notice("m1", f"k{i}") for i in range(4)], T0, decide)
    assert await store.holding() == ["m1"]
    assert await store.fold("m1", T0, lambda p: False, fatigue.fold) is None
    digest = await store.fold("m1", T0 + timedelta(days=1), lambda p: True, fatigue.fold)
    assert digest is not None and digest.kind == Kind.DIGEST and digest.cursor == 5
    assert digest.delivery == Delivery.PUSHED
    assert await store.holding() == []
    kept = [i.delivery for i in await store.after("m1", 0, 10)]
    assert kept.count(Delivery.DIGESTED) == 2


async def test_deliveries_follow_the_preferences_and_retry_until_sent(
    store: NotificationStore,
) -> None:
    await store.set_preferences("m1", Preferences(sms=True, wechat=True, openid="o1"))
    async with store.transaction() as tx:
        await store.put_member(tx, MemberRow("m1", "张", "c1", "13800000001"), T0)
        await store.write(tx, [notice("m1", "k1")], T0, decide)
    calls: list[tuple[str, str, str]] = []

    async def send(job: Job) -> tuple[Outcome, str]:
        calls.append((job.channel, job.phone, job.openid))
        if job.channel == "wechat":
            return Outcome.REFUSED, "43101"
        tries = sum(c[0] == "sms" for c in calls)
        return (Outcome.RETRY, "away") if tries < 3 else (Outcome.SENT, "")

    while await store.deliver_one(T0, send, lambda n: T0, 5):
        pass
    assert sorted(await store.deliveries("m1")) == [
        (1, "sms", "sent", 3),
        (1, "wechat", "refused", 1),
    ]
    assert (await store.preferences("m1")).wechat_refused
    assert ("sms", "13800000001", "o1") in calls


async def test_an_erased_member_leaves_no_inbox(store: NotificationStore) -> None:
    async with store.transaction() as tx:
        await store.write(tx, [notice("m1", "k1")], T0, decide)
        await store.forget_member(tx, "m1")
    assert await store.after("m1", 0, 10) == []
