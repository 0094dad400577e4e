"""The affairs service's store on PostgreSQL (its schema on the pool's search path): it loads an
item under its row lock, applies the domain's change, and writes the row, the new history
entries and the outbox rows in one transaction."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg

from services.affairs.domain.filters import ItemFilter
from services.affairs.domain.items import Item
from services.affairs.events import Event
from services.affairs.store import records
from services.affairs.store.port import After, Change, MergeChange, Tx
from services.common.auth import Principal
from services.common.eventbus import Outbox

UPDATE_ITEM = (
    "UPDATE item SET request_id = $2, created_by = $3, community_id = $4, street_id = $5,"
    " grid_id = $6, category = $7, stage = $8, overdue = $9, handler_subject = $10,"
    " created_at = $11, due_at = $12, contact_name = $13, contact_phone = $14,"
    " contact_by = $15, data = $16 WHERE id = $1"
)
INSERT_ENTRY = (
    "INSERT INTO item_entry (item_id, seq, at, actor, action, note, stage, request_id)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)


def _uuid(item_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(item_id)
    except ValueError:
        return None


class PostgresStore:
    def __init__(self, pool: asyncpg.Pool, outbox: Outbox) -> None:
        self._pool = pool
        self._outbox = outbox

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn

    async def put_community(self, tx: Tx, community_id: str, street_id: str) -> None:
        await tx.execute(
            "INSERT INTO community (id, street_id) VALUES ($1, $2)"
            " ON CONFLICT (id) DO UPDATE SET street_id = EXCLUDED.street_id",
            community_id,
            street_id,
        )

    async def street_of(self, community_id: str) -> str | None:
        return await self._pool.fetchval(  # type: ignore[no-any-return]
            "SELECT street_id FROM community WHERE id = $1", community_id
        )

    async def add_item(self, item: Item, events: list[Event], actor: Principal) -> Item:
        async with self.transaction() as conn:
            added = await conn.fetchval(
                f"INSERT INTO item ({records.ITEM_COLUMNS}) VALUES"
                " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                " ON CONFLICT (request_id) DO NOTHING RETURNING id",
                *records.item_args(item),
            )
            if added is None:
                existing = await conn.fetchval(
                    "SELECT id FROM item WHERE request_id = $1", item.request_id
                )
                found = await self._load(conn, str(existing))
                assert found is not None
                return found
            await conn.executemany(
                INSERT_ENTRY,
                [records.entry_args(item.id, n, e) for n, e in enumerate(item.history)],
            )
            await self._outbox.add_many(conn, list(events), actor)
            return item

    async def _load(self, conn: Any, item_id: str, lock: bool = False) -> Item | None:
        key = _uuid(item_id)
        if key is None:
            return None
        row = await conn.fetchrow(
            f"SELECT {records.ITEM_COLUMNS} FROM item WHERE id = $1"
            + (" FOR UPDATE" if lock else ""),
            key,
        )
        if row is None:
            return None
        entries = await conn.fetch(
            "SELECT at, actor, action, note, stage, request_id FROM item_entry"
            " WHERE item_id = $1 ORDER BY seq",
            key,
        )
        return records.item(row, entries)

    async def item(self, item_id: str) -> Item | None:
        async with self._pool.acquire() as conn:
            return await self._load(conn, item_id)

    async def _write(self, conn: Any, before: Item, after: Item) -> None:
        records.check_append_only(before, after)
        await conn.execute(UPDATE_ITEM, *records.item_args(after))
        new = after.history[len(before.history) :]
        if new:
            start = len(before.history)
            await conn.executemany(
                INSERT_ENTRY,
                [records.entry_args(after.id, start + n, e) for n, e in enumerate(new)],
            )
        added = set(after.task_ids) - set(before.task_ids)
        if added:
            await conn.executemany(
                "INSERT INTO item_task (task_id, item_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                [(t, uuid.UUID(after.id)) for t in sorted(added)],
            )

    async def update_item(
        self, item_id: str, change: Change, actor: Principal | None, tx: Tx = None
    ) -> Item | None:
        if tx is not None:
            return await self._update(tx, item_id, change, actor)
        async with self.transaction() as conn:
            return await self._update(conn, item_id, change, actor)

    async def _update(
        self, conn: Any, item_id: str, change: Change, actor: Principal | None
    ) -> Item | None:
        before = await self._load(conn, item_id, lock=True)
        if before is None:
            return None
        changed = change(before)
        if changed is None:
            return before
        after, events = changed
        await self._write(conn, before, after)
        if events:
            await self._outbox.add_many(conn, list(events), actor)
        return after

    async def merge(
        self, into_id: str, item_ids: list[str], change: MergeChange, actor: Principal
    ) -> Item | None:
        async with self.transaction() as conn:
            # Row locks in one order, so that two merges never wait on each other.
            loaded: dict[str, Item] = {}
            for i in sorted({into_id, *item_ids}):
                found = await self._load(conn, i, lock=True)
                if found is None:
                    return None
                loaded[i] = found
            matter = loaded[into_id]
            items = [loaded[i] for i in sorted(set(item_ids))]
            after, gathered, events = change(matter, items)
            for before, now in ((matter, after), *zip(items, gathered, strict=True)):
                await self._write(conn, before, now)
            await self._outbox.add_many(conn, list(events), actor)
            return after

    async def items_with_task(self, tx: Tx, task_id: str) -> list[str]:
        rows = await tx.fetch(
            "SELECT item_id FROM item_task WHERE task_id = $1 ORDER BY item_id", task_id
        )
        return [str(r["item_id"]) for r in rows]

    async def list_items(self, f: ItemFilter, after: After | None, limit: int) -> list[Item]:
        where, args = _where(f)
        if after is not None:
            args += [after[0], _uuid(after[1])]
            where.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
        args.append(limit)
        rows = await self._pool.fetch(
            f"SELECT {records.ITEM_COLUMNS} FROM item WHERE {' AND '.join(where) or 'true'}"
            f" ORDER BY created_at DESC, id DESC LIMIT ${len(args)}",
            *args,
        )
        return [records.item(r) for r in rows]

    async def overdue_ids(self, now: datetime, limit: int) -> list[str]:
        rows = await self._pool.fetch(
            "SELECT id FROM item WHERE NOT overdue AND due_at IS NOT NULL AND due_at < $1"
            " ORDER BY due_at, id LIMIT $2",
            now,
            limit,
        )
        return [str(r["id"]) for r in rows]


def _where(f: ItemFilter) -> tuple[list[str], list[Any]]:
    """`f` in SQL, as ItemFilter.matches says it."""
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if f.communities is not None or f.streets is not None:
        where.append(
            f"(community_id = ANY({arg(sorted(f.communities or ()))}::text[])"
            f" OR street_id = ANY({arg(sorted(f.streets or ()))}::text[])"
            f" OR (handler_subject <> '' AND handler_subject = {arg(f.handler)}))"
        )
    for column, value in (
        ("community_id", f.community_id),
        ("street_id", f.street_id),
        ("grid_id", f.grid_id),
    ):
        if value:
            where.append(f"{column} = {arg(value)}")
    if f.category is not None:
        where.append(f"category = {arg(f.category.value)}")
    if f.stage is not None:
        where.append(f"stage = {arg(f.stage.value)}")
    if f.overdue_only:
        where.append("overdue")
    if f.created_from is not None:
        where.append(f"created_at >= {arg(f.created_from)}")
    if f.created_before is not None:
        where.append(f"created_at < {arg(f.created_before)}")
    return where, args
