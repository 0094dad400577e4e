"""The points service's store on PostgreSQL (its schema on the pool's search path)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg

from services.common.auth import Principal
from services.common.erasure import ERASED_VERSION, anonymise_audit_trail
from services.common.eventbus import Outbox
from services.points import events
from services.points.domain.errors import RequestIdReused
from services.points.domain.ledger import MemberLedger, Movement
from services.points.domain.members import MemberRef
from services.points.store import records
from services.points.store.port import Booked, CommunityTotals, Decide, Tx

_INSERT_MOVEMENT = (
    "INSERT INTO movement (id, kind, member_id, community_id, amount, source_id, reason,"
    " booked_at, category, year, reverses, reverses_kind, actor)"
    " VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::uuid, $12, $13)"
)

_TOTALS = """
SELECT community_id,
       coalesce(sum(amount) FILTER (WHERE coalesce(reverses_kind, kind) = 'award'), 0) AS issued,
       -coalesce(sum(amount) FILTER (WHERE coalesce(reverses_kind, kind) = 'redemption'), 0)
           AS redeemed,
       -coalesce(sum(amount) FILTER (WHERE kind = 'reset'), 0) AS reset,
       coalesce(sum(amount), 0) AS outstanding
  FROM movement {where} GROUP BY community_id ORDER BY community_id
"""

_HOLDERS = """
SELECT community_id, count(*) AS n FROM (
    SELECT community_id, member_id FROM movement {where}
     GROUP BY community_id, member_id HAVING sum(amount) > 0) h
 GROUP BY community_id
"""


class PostgresStore:
    def __init__(self, pool: asyncpg.Pool, outbox: Outbox) -> None:
        self._pool = pool
        self._outbox = outbox

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn

    # -- the read model ------------------------------------------------------------------------

    async def put_community(self, tx: Tx, community_id: str, street_id: str) -> None:
        await tx.execute(
            "INSERT INTO community (id, street_id) VALUES ($1, $2)"
            " ON CONFLICT (id) DO UPDATE SET street_id = EXCLUDED.street_id",
            community_id,
            street_id,
        )

    async def put_member(self, tx: Tx, member: MemberRef, version: datetime) -> None:
        await tx.execute(
            "INSERT INTO member (id, community_id, erased, version) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (id) DO UPDATE SET community_id = EXCLUDED.community_id,"
            " erased = EXCLUDED.erased, version = EXCLUDED.version"
            " WHERE member.version <= EXCLUDED.version",
            member.id,
            member.community_id,
            member.erased,
            version,
        )

    async def forget_member(self, tx: Tx, member_id: str) -> None:
        await self.put_member(tx, MemberRef(member_id, "", erased=True), ERASED_VERSION)
        await anonymise_audit_trail(tx, member_id)

    async def member(self, member_id: str) -> MemberRef | None:
        row = await self._pool.fetchrow(
            "SELECT id, community_id, erased FROM member WHERE id = $1", member_id
        )
        return MemberRef(row["id"], row["community_id"], row["erased"]) if row else None

    async def street_of(self, community_id: str) -> str | None:
        street: str | None = await self._pool.fetchval(
            "SELECT street_id FROM community WHERE id = $1", community_id
        )
        return street

    # -- the ledger ----------------------------------------------------------------------------

    async def move(
        self, member_id: str, decide: Decide, actor: Principal | None, tx: Tx | None = None
    ) -> Booked:
        if tx is not None:
            return await self._move(tx, member_id, decide, actor)
        async with self._pool.acquire() as conn, conn.transaction():
            return await self._move(conn, member_id, decide, actor)

    async def _move(
        self, conn: asyncpg.Connection, member_id: str, decide: Decide, actor: Principal | None
    ) -> Booked:
        # One change of a member's account at a time, across replicas: a redemption sees the
        # balance every earlier change left.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"points:{member_id}"
        )
        ledger = await self._ledger(conn, member_id)
        booking = decide(ledger)
        balance = ledger.balance
        announced = []
        for m in booking.movements:
            try:
                await conn.execute(_INSERT_MOVEMENT, *records.movement_args(m))
            except asyncpg.UniqueViolationError:
                raise RequestIdReused() from None
            await conn.executemany(
                "INSERT INTO entry (movement_id, account, amount) VALUES ($1::uuid, $2, $3)",
                [(m.id, e.account, e.amount) for e in m.entries],
            )
            balance += m.amount
            announced.append(events.points_moved(m, balance))
        if booking.superseded:
            await conn.executemany(
                "INSERT INTO superseded_record (record_id, member_id) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING",
                [(r, member_id) for r in sorted(booking.superseded)],
            )
        if announced:
            await self._outbox.add_many(conn, announced, actor)
        return Booked(booking.movements, balance)

    async def _ledger(self, conn: asyncpg.Connection, member_id: str) -> MemberLedger:
        rows = await conn.fetch(
            f"SELECT {records.MOVEMENT_COLUMNS} FROM movement m WHERE m.member_id = $1"
            " ORDER BY m.seq",
            member_id,
        )
        superseded = await conn.fetch(
            "SELECT record_id FROM superseded_record WHERE member_id = $1", member_id
        )
        return MemberLedger(
            member_id,
            tuple(records.movement(r) for r in rows),
            frozenset(r["record_id"] for r in superseded),
        )

    async def ledger(self, member_id: str) -> MemberLedger:
        async with self._pool.acquire() as conn:
            return await self._ledger(conn, member_id)

    async def movement(self, movement_id: str) -> Movement | None:
        row = await self._pool.fetchrow(
            f"SELECT {records.MOVEMENT_COLUMNS}, r.id AS reversed_by FROM movement m"
            " LEFT JOIN movement r ON r.reverses = m.id WHERE m.id = $1::uuid",
            movement_id,
        )
        return records.movement(row, row["reversed_by"]) if row else None

    async def movements(
        self, member_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[Movement]:
        args: list[object] = [member_id, limit]
        where = ""
        if after is not None:
            where = " AND (m.booked_at, m.id) < ($3, $4::uuid)"
            args += list(after)
        rows = await self._pool.fetch(
            f"SELECT {records.MOVEMENT_COLUMNS}, r.id AS reversed_by FROM movement m"
            f" LEFT JOIN movement r ON r.reverses = m.id WHERE m.member_id = $1{where}"
            " ORDER BY m.booked_at DESC, m.id DESC LIMIT $2",
            *args,
        )
        return [records.movement(r, r["reversed_by"]) for r in rows]

    async def _totals(self, community_id: str | None) -> list[CommunityTotals]:
        where, args = ("WHERE community_id = $1", [community_id]) if community_id else ("", [])
        sums = await self._pool.fetch(_TOTALS.format(where=where), *args)
        holders = await self._pool.fetch(_HOLDERS.format(where=where), *args)
        held = {r["community_id"]: r["n"] for r in holders}
        return [
            CommunityTotals(
                community_id=r["community_id"],
                # sum(bigint) is numeric in PostgreSQL.
                issued=int(r["issued"]),
                redeemed=int(r["redeemed"]),
                reset=int(r["reset"]),
                outstanding=int(r["outstanding"]),
                members_with_points=held.get(r["community_id"], 0),
            )
            for r in sums
        ]

    async def community_totals(self, community_id: str) -> CommunityTotals:
        found = await self._totals(community_id)
        return found[0] if found else CommunityTotals(community_id, 0, 0, 0, 0, 0)

    async def all_community_totals(self) -> list[CommunityTotals]:
        return await self._totals(None)

    # -- the year's end ------------------------------------------------------------------------

    async def holders_before(self, before: datetime) -> list[str]:
        rows = await self._pool.fetch(
            "SELECT DISTINCT member_id FROM (SELECT member_id FROM movement"
            " WHERE booked_at < $1 GROUP BY member_id, community_id HAVING sum(amount) <> 0) h"
            " ORDER BY member_id",
            before,
        )
        return [r["member_id"] for r in rows]

    async def year_done(self, year: int) -> bool:
        return bool(await self._pool.fetchval("SELECT 1 FROM year_end WHERE year = $1", year))

    async def mark_year_done(self, year: int, at: datetime) -> None:
        await self._pool.execute(
            "INSERT INTO year_end (year, done_at) VALUES ($1, $2) ON CONFLICT DO NOTHING", year, at
        )
