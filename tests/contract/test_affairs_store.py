"""One suite for both implementations of the affairs service's store: PostgreSQL (a schema of
its own) and memory must keep items, their history, merges, linked tasks, the ledger's filters
and paging, and the overdue items alike."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.affairs import events
from services.affairs.app import MIGRATIONS
from services.affairs.domain import moves
from services.affairs.domain.deadlines import DEFAULT_DEADLINES
from services.affairs.domain.filters import ItemFilter
from services.affairs.domain.items import (
    Category,
    Contact,
    Draft,
    Handler,
    HandlerKind,
    Item,
    Source,
    Stage,
    Urgency,
    raise_item,
)
from services.affairs.store import AffairsStore
from services.affairs.store.memory import MemoryStore
from services.affairs.store.postgres import PostgresStore
from services.common import migrations
from services.common.auth import Principal, Role
from services.common.eventbus import Outbox
from tests.conftest import Servers
from tests.support import ref

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
STAFF = Principal("staff", Role.COMMUNITY_STAFF, frozenset({"c"}))


@pytest.fixture(scope="module")
async def pool(servers: Servers) -> AsyncIterator[asyncpg.Pool]:
    schema = f"affairs_contract_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(servers.database_url)
    try:
        await migrations.apply(conn, schema, MIGRATIONS)
    finally:
        await conn.close()
    p = await asyncpg.create_pool(
        servers.database_url, min_size=1, max_size=2, server_settings={"search_path": schema}
    )
    assert p is not None
    yield p
    await p.close()


@pytest.fixture(params=["postgres", "memory"])
def store(request: pytest.FixtureRequest) -> AffairsStore:
    if request.param == "memory":
        return MemoryStore()
    return PostgresStore(request.getfixturevalue("pool"), Outbox(events.SERVICE))


def item(community: str, at: datetime = T0, street: str = "s", **changes: object) -> Item:
    d = Draft(
        community_id=community,
        grid_id="g",
        building_group_id="",
        summary="楼道堆物",
        category=Category.ENVIRONMENT,
        urgency=Urgency.NORMAL,
        place="3号楼",
        source=Source.BUILDING_GROUP,
        contact=Contact("测试·赵敏", "19900002222", "楼长"),
    )
    i = raise_item(
        d,
        item_id=str(uuid.uuid4()),
        request_id=ref("r"),
        street_id=street,
        actor="staff",
        now=at,
        due_at=DEFAULT_DEADLINES.due(Stage.OPEN, d.category, d.urgency, at),  # type: ignore[arg-type]
    )
    return replace(i, **changes)  # type: ignore[arg-type]


def act(n: int) -> moves.Act:
    return moves.Act("staff", T0 + timedelta(hours=n), f"m-{n}", DEFAULT_DEADLINES)


async def test_an_item_is_kept_with_its_history_and_a_retried_request_adds_nothing(
    store: AffairsStore,
) -> None:
    i = item(ref("c"))
    kept = await store.add_item(i, [events.item_raised(i)], STAFF)
    assert kept == i
    again = replace(item(i.community_id), request_id=i.request_id)
    assert await store.add_item(again, [], STAFF) == i
    assert await store.item(i.id) == i
    assert await store.item(str(uuid.uuid4())) is None
    assert await store.item("not-a-uuid") is None


async def test_a_change_adds_to_the_history_and_none_changes_nothing(store: AffairsStore) -> None:
    i = item(ref("c"))
    await store.add_item(i, [], STAFF)

    def escalate(current: Item) -> tuple[Item, list[events.Event]]:
        after = moves.escalate(current, act(1), "需要街道协调")
        return after, [events.item_moved(after)]

    after = await store.update_item(i.id, escalate, STAFF)
    assert after is not None and after.stage is Stage.ESCALATED
    assert await store.item(i.id) == after
    assert await store.update_item(i.id, lambda _c: None, STAFF) == after
    assert await store.update_item(str(uuid.uuid4()), escalate, STAFF) is None
    with pytest.raises(RuntimeError):
        await store.update_item(i.id, lambda c: (replace(c, history=c.history[:1]), []), STAFF)
    assert await store.item(i.id) == after


async def test_merged_items_point_at_their_matter_and_a_missing_one_merges_nothing(
    store: AffairsStore,
) -> None:
    c = ref("c")
    matter, a, b = item(c), item(c), item(c)
    for x in (matter, a, b):
        await store.add_item(x, [], STAFF)
    await store.update_item(matter.id, lambda m: (moves.escalate(m, act(1), "供暖"), []), STAFF)

    def gather(m: Item, items: list[Item]) -> tuple[Item, list[Item], list[events.Event]]:
        after, gathered = moves.merge(m, items, act(2), "同一小区")
        return after, gathered, []

    assert await store.merge(matter.id, [a.id, str(uuid.uuid4())], gather, STAFF) is None
    assert (await store.item(a.id)).stage is Stage.OPEN  # type: ignore[union-attr]
    after = await store.merge(matter.id, [b.id, a.id], gather, STAFF)
    assert after is not None and after.history[-1].action == "merged_in"
    for x in (a, b):
        got = await store.item(x.id)
        assert got is not None and got.stage is Stage.MERGED and got.merged_into == matter.id


async def test_linked_tasks_lead_back_to_their_items(store: AffairsStore) -> None:
    i = item(ref("c"))
    task = str(uuid.uuid4())
    await store.add_item(i, [], STAFF)
    await store.update_item(i.id, lambda c: (moves.link_task(c, act(1), task), []), STAFF)
    async with store.transaction() as tx:
        assert await store.items_with_task(tx, task) == [i.id]
        assert await store.items_with_task(tx, str(uuid.uuid4())) == []


async def test_the_ledger_lists_newest_first_filtered_scoped_and_paged_without_history(
    store: AffairsStore,
) -> None:
    c, other, street = ref("c"), ref("c"), ref("s")
    items = [item(c, T0 + timedelta(minutes=n), street) for n in range(5)]
    items.append(item(other, T0, street, category=Category.PARKING, grid_id="g2"))
    far = item(ref("c"), T0, ref("s"))
    routed = replace(
        item(ref("c"), T0, ref("s")),
        stage=Stage.ROUTED,
        handler=Handler(HandlerKind.DEPARTMENT, "城管", "", "unit-x"),
    )
    for x in (*items, far, routed):
        await store.add_item(x, [], STAFF)
    mine = ItemFilter(communities=frozenset({c}), streets=frozenset(), handler="s1")
    first = await store.list_items(mine, None, 3)
    assert [x.id for x in first] == [x.id for x in reversed(items[2:5])]
    assert all(x.history == () for x in first)
    rest = await store.list_items(mine, (first[-1].created_at, first[-1].id), 10)
    assert [x.id for x in rest] == [items[1].id, items[0].id]
    by_street = ItemFilter(communities=frozenset(), streets=frozenset({street}))
    assert len(await store.list_items(by_street, None, 100)) == 6
    parking = replace(by_street, category=Category.PARKING, grid_id="g2")
    assert [x.id for x in await store.list_items(parking, None, 100)] == [items[5].id]
    handler = ItemFilter(communities=frozenset(), streets=frozenset(), handler="unit-x")
    assert [x.id for x in await store.list_items(handler, None, 100)] == [routed.id]
    assert routed.id in {x.id for x in await store.list_items(ItemFilter(), None, 10_000)}
    since = replace(by_street, created_from=T0 + timedelta(minutes=3))
    assert len(await store.list_items(since, None, 100)) == 2


async def test_items_past_their_limit_are_found_until_flagged(store: AffairsStore) -> None:
    i = item(ref("c"), datetime.now(UTC) - timedelta(days=400))
    await store.add_item(i, [], STAFF)
    assert i.due_at is not None
    found = await store.overdue_ids(i.due_at + timedelta(seconds=1), 10_000)
    assert i.id in found
    assert i.id not in await store.overdue_ids(i.due_at - timedelta(seconds=1), 10_000)
    await store.update_item(i.id, lambda c: (replace(c, overdue=True), []), None)
    assert i.id not in await store.overdue_ids(i.due_at + timedelta(days=1), 10_000)


async def test_the_street_of_a_community_comes_from_the_registry(store: AffairsStore) -> None:
    c = ref("c")
    assert await store.street_of(c) is None
    async with store.transaction() as tx:
        await store.put_community(tx, c, "s-1")
    assert await store.street_of(c) == "s-1"
