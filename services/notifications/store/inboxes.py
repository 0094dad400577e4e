"""The PostgreSQL inboxes: items written once each at the next cursor of their inbox (the inbox
row locked), fatigue's verdict and the deliveries with them, reads by cursor, reminders and
digests. Followers are woken by NOTIFY on WAKE_CHANNEL, sent at commit."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

import asyncpg

from services.notifications.domain.fatigue import Digest, Pushes
from services.notifications.domain.items import (
    Delivery,
    Item,
    Kind,
    Notice,
    Owner,
    Resource,
    Urgency,
)
from services.notifications.domain.reminders import Accepted
from services.notifications.domain.world import Preferences
from services.notifications.store import records
from services.notifications.store.port import Decide, Tx

# The PostgreSQL channel a written inbox is announced on (its id as the payload).
WAKE_CHANNEL = "linli_inbox"
SELECT_ITEMS = f"SELECT {records.ITEM_COLUMNS} FROM inbox_item"


class Inboxes:
    _pool: asyncpg.Pool

    async def _lock_inbox(self, tx: Tx, inbox_id: str, owner: Owner) -> asyncpg.Record:
        await tx.execute(
            "INSERT INTO mailbox (id, owner) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            inbox_id,
            owner.value,
        )
        row: asyncpg.Record = await tx.fetchrow(
            "SELECT * FROM mailbox WHERE id = $1 FOR UPDATE", inbox_id
        )
        return row

    async def _insert(
        self, tx: Tx, n: Notice, cursor: int, now: datetime, delivery: Delivery
    ) -> None:
        r = n.resource
        await tx.execute(
            "INSERT INTO inbox_item (inbox_id, cursor, id, key, kind, title, body, task_id,"
            " assignment_id, member_id, community_id, record_id, urgency, delivery, create_time)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            n.inbox_id,
            cursor,
            uuid.uuid4(),
            n.key,
            n.kind.value,
            n.title,
            n.body,
            r.task_id,
            r.assignment_id,
            r.member_id,
            r.community_id,
            r.record_id,
            int(n.urgency),
            delivery.value,
            now,
        )
        if delivery == Delivery.PUSHED and n.owner == Owner.MEMBER:
            prefs = records.preferences(
                await tx.fetchrow("SELECT * FROM preference WHERE member_id = $1", n.inbox_id)
            )
            await self._enqueue(tx, n.inbox_id, cursor, prefs, now)
        await tx.execute("SELECT pg_notify($1, $2)", WAKE_CHANNEL, n.inbox_id)

    async def _enqueue(
        self, tx: Tx, inbox_id: str, cursor: int, prefs: Preferences, now: datetime
    ) -> None:
        for channel in prefs.channels():
            await tx.execute(
                "INSERT INTO delivery (inbox_id, cursor, channel, next_time)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                inbox_id,
                cursor,
                channel,
                now,
            )

    async def write(self, tx: Tx, notices: Sequence[Notice], now: datetime, decide: Decide) -> int:
        new = 0
        for n in notices:
            inbox = await self._lock_inbox(tx, n.inbox_id, n.owner)
            seen = await tx.fetchval(
                "SELECT 1 FROM inbox_item WHERE inbox_id = $1 AND key = $2", n.inbox_id, n.key
            )
            if seen:
                continue
            pushes = Pushes(inbox["push_day"], inbox["pushed"])
            delivery, after = decide(n, pushes)
            cursor = inbox["last_cursor"] + 1
            await tx.execute(
                "UPDATE mailbox SET last_cursor = $2, push_day = $3, pushed = $4 WHERE id = $1",
                n.inbox_id,
                cursor,
                after.day,
                after.count,
            )
            await self._insert(tx, n, cursor, now, delivery)
            new += 1
        return new

    async def after(self, inbox_id: str, cursor: int, limit: int) -> list[Item]:
        rows = await self._pool.fetch(
            f"{SELECT_ITEMS} WHERE inbox_id = $1 AND cursor > $2 ORDER BY cursor LIMIT $3",
            inbox_id,
            cursor,
            limit,
        )
        return [records.item(r) for r in rows]

    async def page(
        self, inbox_id: str, unread_only: bool, before: int | None, limit: int
    ) -> list[Item]:
        rows = await self._pool.fetch(
            f"{SELECT_ITEMS} WHERE inbox_id = $1 AND ($2::bigint IS NULL OR cursor < $2)"
            " AND (NOT $3 OR NOT read) ORDER BY cursor DESC LIMIT $4",
            inbox_id,
            before,
            unread_only,
            limit,
        )
        return [records.item(r) for r in rows]

    async def mark_read(self, inbox_id: str, cursors: Sequence[int], up_to: int) -> int:
        status = await self._pool.execute(
            "UPDATE inbox_item SET read = true WHERE inbox_id = $1 AND NOT read"
            " AND (cursor = ANY($2) OR cursor <= $3)",
            inbox_id,
            list(cursors),
            up_to,
        )
        return int(status.split()[-1])

    async def unread(self, inbox_id: str) -> int:
        n: int = await self._pool.fetchval(
            "SELECT count(*) FROM inbox_item WHERE inbox_id = $1 AND NOT read", inbox_id
        )
        return n

    async def accepted_starting(
        self, now: datetime, until: datetime
    ) -> list[tuple[Accepted, frozenset[int]]]:
        rows = await self._pool.fetch(
            "SELECT a.id, a.task_id, a.member_id, t.start_time, a.accepted_at,"
            " array(SELECT offset_s FROM reminded r WHERE r.assignment_id = a.id"
            "       AND r.start_time = t.start_time) AS done"
            " FROM assignment a JOIN task t ON t.id = a.task_id"
            " WHERE a.state = 'accepted' AND t.status = 'open'"
            " AND t.start_time > $1 AND t.start_time <= $2",
            now,
            until,
        )
        return [
            (
                Accepted(
                    r["id"],
                    r["task_id"],
                    r["member_id"],
                    r["start_time"],
                    r["accepted_at"] or r["start_time"],
                ),
                frozenset(r["done"]),
            )
            for r in rows
        ]

    async def remind(
        self,
        place: Accepted,
        offsets: Sequence[int],
        notice: Notice | None,
        now: datetime,
        decide: Decide,
    ) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            for o in offsets:
                await conn.execute(
                    "INSERT INTO reminded (assignment_id, offset_s, start_time)"
                    " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    place.assignment_id,
                    o,
                    place.start,
                )
            if notice is not None:
                await self.write(conn, [notice], now, decide)

    async def holding(self) -> list[str]:
        rows = await self._pool.fetch(
            "SELECT DISTINCT inbox_id FROM inbox_item WHERE delivery = 'held' ORDER BY inbox_id"
        )
        return [r["inbox_id"] for r in rows]

    async def fold(
        self,
        inbox_id: str,
        now: datetime,
        due: Callable[[Pushes], bool],
        digest: Callable[[list[Item]], Digest],
    ) -> Item | None:
        async with self._pool.acquire() as conn, conn.transaction():
            inbox = await self._lock_inbox(conn, inbox_id, Owner.MEMBER)
            pushes = Pushes(inbox["push_day"], inbox["pushed"]).on(now)
            held = [
                records.item(r)
                for r in await conn.fetch(
                    f"{SELECT_ITEMS} WHERE inbox_id = $1 AND delivery = 'held' ORDER BY cursor",
                    inbox_id,
                )
            ]
            if not held or not due(pushes):
                return None
            d = digest(held)
            cursor = inbox["last_cursor"] + 1
            await conn.execute(
                "UPDATE mailbox SET last_cursor = $2, push_day = $3, pushed = $4 WHERE id = $1",
                inbox_id,
                cursor,
                pushes.day,
                pushes.count + 1,
            )
            await conn.execute(
                "UPDATE inbox_item SET delivery = 'digested' WHERE inbox_id = $1"
                " AND cursor = ANY($2)",
                inbox_id,
                list(d.cursors),
            )
            notice = Notice(
                inbox_id,
                Owner(inbox["owner"]),
                Kind.DIGEST,
                d.title,
                d.body,
                Resource(),
                f"digest:{cursor}",
                Urgency.NORMAL,
            )
            await self._insert(conn, notice, cursor, now, Delivery.PUSHED)
            r = await conn.fetchrow(
                f"{SELECT_ITEMS} WHERE inbox_id = $1 AND cursor = $2", inbox_id, cursor
            )
            return records.item(r)
