"""The affairs service's store in memory: a second, real implementation of the store interface
for the use-case tests (held to the PostgreSQL store's behaviour by the contract suite)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime

from services.affairs.domain.filters import ItemFilter
from services.affairs.domain.items import Item
from services.affairs.events import Event
from services.affairs.store.port import After, Change, MergeChange, Tx
from services.affairs.store.records import check_append_only
from services.common.auth import Principal


class MemoryStore:
    def __init__(self) -> None:
        self.communities: dict[str, str] = {}
        self.items: dict[str, Item] = {}
        self.events: list[tuple[Event, Principal | None]] = []

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        yield None

    async def put_community(self, tx: Tx, community_id: str, street_id: str) -> None:
        self.communities[community_id] = street_id

    async def street_of(self, community_id: str) -> str | None:
        return self.communities.get(community_id)

    async def add_item(self, item: Item, events: list[Event], actor: Principal) -> Item:
        for existing in self.items.values():
            if existing.request_id == item.request_id:
                return existing
        self.items[item.id] = item
        self.events.extend((e, actor) for e in events)
        return item

    async def item(self, item_id: str) -> Item | None:
        return self.items.get(item_id)

    async def update_item(
        self, item_id: str, change: Change, actor: Principal | None, tx: Tx = None
    ) -> Item | None:
        before = self.items.get(item_id)
        if before is None:
            return None
        changed = change(before)
        if changed is None:
            return before
        after, events = changed
        check_append_only(before, after)
        self.items[item_id] = after
        self.events.extend((e, actor) for e in events)
        return after

    async def merge(
        self, into_id: str, item_ids: list[str], change: MergeChange, actor: Principal
    ) -> Item | None:
        matter = self.items.get(into_id)
        items = [self.items.get(i) for i in sorted(set(item_ids))]
        if matter is None or any(i is None for i in items):
            return None
        after, gathered, events = change(matter, [i for i in items if i is not None])
        for before, now in ((matter, after), *zip(items, gathered, strict=True)):
            assert before is not None
            check_append_only(before, now)
            self.items[now.id] = now
        self.events.extend((e, actor) for e in events)
        return after

    async def items_with_task(self, tx: Tx, task_id: str) -> list[str]:
        return sorted(i.id for i in self.items.values() if task_id in i.task_ids)

    async def list_items(self, f: ItemFilter, after: After | None, limit: int) -> list[Item]:
        found = sorted(
            (i for i in self.items.values() if f.matches(i)),
            key=lambda i: (i.created_at, i.id),
            reverse=True,
        )
        if after is not None:
            found = [i for i in found if (i.created_at, i.id) < after]
        return [replace(i, history=()) for i in found[:limit]]

    async def overdue_ids(self, now: datetime, limit: int) -> list[str]:
        due = sorted(
            (i.due_at, i.id)
            for i in self.items.values()
            if not i.overdue and i.due_at is not None and i.due_at < now
        )
        return [i for _, i in due[:limit]]
