"""The notifications service's store on PostgreSQL: the read model and the inboxes (their own
modules), members' channels and the deliveries on them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from services.notifications.domain.world import WECHAT, Preferences
from services.notifications.store import records
from services.notifications.store.inboxes import SELECT_ITEMS, Inboxes
from services.notifications.store.port import Job, Outcome, Send, Tx
from services.notifications.store.readmodel import ReadModel


class PostgresStore(ReadModel, Inboxes):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn

    async def preferences(self, member_id: str) -> Preferences:
        r = await self._pool.fetchrow("SELECT * FROM preference WHERE member_id = $1", member_id)
        return records.preferences(r)

    async def set_preferences(self, member_id: str, prefs: Preferences) -> None:
        await self._pool.execute(
            "INSERT INTO preference (member_id, sms, wechat, openid, wechat_refused)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (member_id) DO UPDATE SET"
            " sms = EXCLUDED.sms, wechat = EXCLUDED.wechat, openid = EXCLUDED.openid,"
            " wechat_refused = EXCLUDED.wechat_refused",
            member_id,
            prefs.sms,
            prefs.wechat,
            prefs.openid,
            prefs.wechat_refused,
        )

    async def deliver_one(
        self, now: datetime, send: Send, retry_at: Callable[[int], datetime], attempts: int
    ) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            # Locked while it is sent: another replica skips it, and a crash before the commit
            # leaves it pending, to be sent again.
            d = await conn.fetchrow(
                "SELECT * FROM delivery WHERE state = 'pending' AND next_time <= $1"
                " ORDER BY next_time LIMIT 1 FOR UPDATE SKIP LOCKED",
                now,
            )
            if d is None:
                return False
            item = records.item(
                await conn.fetchrow(
                    f"{SELECT_ITEMS} WHERE inbox_id = $1 AND cursor = $2",
                    d["inbox_id"],
                    d["cursor"],
                )
            )
            m = await conn.fetchrow("SELECT phone FROM member WHERE id = $1", d["inbox_id"])
            prefs = records.preferences(
                await conn.fetchrow("SELECT * FROM preference WHERE member_id = $1", d["inbox_id"])
            )
            job = Job(item, d["channel"], d["attempts"], m["phone"] if m else "", prefs.openid)
            if d["channel"] not in prefs.channels():
                outcome, why = Outcome.DROPPED, "the member turned this channel off"
            else:
                outcome, why = await send(job)
            tried = d["attempts"] + 1
            state = {
                Outcome.SENT: "sent",
                Outcome.REFUSED: "refused",
                Outcome.DROPPED: "dropped",
                Outcome.RETRY: "pending" if tried < attempts else "failed",
            }[outcome]
            await conn.execute(
                "UPDATE delivery SET state = $4, attempts = $5, next_time = $6, error = $7"
                " WHERE inbox_id = $1 AND cursor = $2 AND channel = $3",
                d["inbox_id"],
                d["cursor"],
                d["channel"],
                state,
                tried,
                retry_at(tried) if state == "pending" else now,
                why[:500],
            )
            if outcome == Outcome.REFUSED and d["channel"] == WECHAT:
                await conn.execute(
                    "UPDATE preference SET wechat_refused = true WHERE member_id = $1",
                    d["inbox_id"],
                )
            return True

    async def deliveries(self, inbox_id: str) -> list[tuple[int, str, str, int]]:
        rows = await self._pool.fetch(
            "SELECT cursor, channel, state, attempts FROM delivery WHERE inbox_id = $1"
            " ORDER BY cursor, channel",
            inbox_id,
        )
        return [(r["cursor"], r["channel"], r["state"], r["attempts"]) for r in rows]
