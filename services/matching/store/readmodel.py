"""The read model's tables on PostgreSQL: written inside the consumer's transaction, read into
the world in memory."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.matching.domain.rows import AssignmentRow, MemberRow, TaskRow
from services.matching.domain.world import World
from services.matching.store import records


class ReadModelTables:
    _pool: asyncpg.Pool

    async def put_community(
        self, tx: asyncpg.Connection, community_id: str, street_id: str
    ) -> None:
        await tx.execute(
            "INSERT INTO community (id, street_id) VALUES ($1, $2)"
            " ON CONFLICT (id) DO UPDATE SET street_id = $2",
            community_id,
            street_id,
        )

    async def put_member(self, tx: asyncpg.Connection, m: MemberRow, version: datetime) -> None:
        street = (
            await tx.fetchval("SELECT street_id FROM community WHERE id = $1", m.community_id)
            if m.community_id
            else None
        )
        await tx.execute(
            """INSERT INTO member (id, community_id, street_id, active, reported_in, lat, lng,
                   skills, availability, hours_per_month, version, unit_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11, $12)
               ON CONFLICT (id) DO UPDATE SET community_id = $2, street_id = $3, active = $4,
                   reported_in = $5, lat = $6, lng = $7, skills = $8::jsonb,
                   availability = $9::jsonb, hours_per_month = $10, version = $11, unit_id = $12
               WHERE member.version <= $11""",
            uuid.UUID(m.id),
            m.community_id,
            street,
            m.active,
            m.reported_in,
            m.lat,
            m.lng,
            records.skills_json(m),
            records.availability_json(m),
            m.hours_per_month,
            version,
            m.unit_id,
        )

    async def put_standby(
        self, tx: asyncpg.Connection, task_id: str, member_id: str, joined: datetime
    ) -> None:
        await tx.execute(
            "INSERT INTO standby (task_id, member_id, joined_at) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            uuid.UUID(task_id),
            uuid.UUID(member_id),
            joined,
        )

    async def drop_standby(self, tx: asyncpg.Connection, task_id: str, member_id: str) -> None:
        await tx.execute(
            "DELETE FROM standby WHERE task_id = $1 AND member_id = $2",
            uuid.UUID(task_id),
            uuid.UUID(member_id),
        )

    async def change_task(self, tx: asyncpg.Connection, t: TaskRow, version: datetime) -> None:
        """Staff changed the task: its time, place and headcount follow, with its places."""
        await tx.execute(
            """UPDATE task SET lat = $2, lng = $3, headcount = $4, places_taken = $5,
                   window_start = $6, window_end = $7, flexible = $8, status = $9, version = $10
               WHERE id = $1 AND version <= $10""",
            uuid.UUID(t.id),
            t.lat,
            t.lng,
            t.headcount,
            t.places_taken,
            t.start,
            t.end,
            t.flexible,
            t.status,
            version,
        )

    async def put_task(self, tx: asyncpg.Connection, t: TaskRow, version: datetime) -> None:
        await tx.execute(
            """INSERT INTO task (id, community_id, street_id, street_wide, lat, lng, skills,
                   headcount, places_taken, window_start, window_end, flexible, effort_hours,
                   beneficiary, status, posted_at, version, slot, team, unit_id, overbook_cap)
               VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13, $14, $15,
                       $16, $17, $18, $19, $20, $21)
               ON CONFLICT (id) DO UPDATE SET places_taken = $9, status = $15, version = $17
               WHERE task.version <= $17""",
            uuid.UUID(t.id),
            t.community_id,
            t.street_id,
            t.street_wide,
            t.lat,
            t.lng,
            records.task_skills_json(t),
            t.headcount,
            t.places_taken,
            t.start,
            t.end,
            t.flexible,
            t.effort_hours,
            t.beneficiary,
            t.status,
            t.posted_at,
            version,
            t.slot,
            t.team,
            t.unit_id,
            t.overbook_cap,
        )

    async def put_assignment(
        self, tx: asyncpg.Connection, a: AssignmentRow, version: datetime
    ) -> None:
        await tx.execute(
            """INSERT INTO assignment (assignment_id, member_id, task_id, state, window_start,
                   window_end, flexible, effort_hours, hours, version, slot)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
               ON CONFLICT (assignment_id) DO UPDATE SET state = $4, hours = $9, version = $10
               WHERE assignment.version <= $10""",
            uuid.UUID(a.assignment_id),
            uuid.UUID(a.member_id),
            uuid.UUID(a.task_id),
            a.state,
            a.start,
            a.end,
            a.flexible,
            a.effort_hours,
            a.hours,
            version,
            a.slot,
        )

    async def refuse(
        self, tx: asyncpg.Connection, task_id: str, member_id: str, reason: str
    ) -> None:
        await tx.execute(
            "INSERT INTO refusal (task_id, member_id, reason) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            uuid.UUID(task_id),
            uuid.UUID(member_id),
            reason,
        )

    async def answered(self, tx: asyncpg.Connection, task_id: str, member_id: str) -> None:
        await tx.execute(
            "DELETE FROM pending_proposal WHERE task_id = $1 AND member_id = $2",
            uuid.UUID(task_id),
            uuid.UUID(member_id),
        )

    async def load(self, world: World) -> None:
        """Fill the in-memory world from the read model, as of one moment: the tables are read
        in one snapshot, so that a proposal answered meanwhile is seen either as offered or as
        an assignment, never as neither (which would offer its place again)."""
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            for r in await conn.fetch("SELECT id, street_id FROM community"):
                world.put_community(r["id"], r["street_id"])
            for r in await conn.fetch("SELECT * FROM member"):
                world.put_member(records.member_row(r))
            for r in await conn.fetch("SELECT * FROM task WHERE status IN ('open', 'filled')"):
                world.put_task(records.task_row(r))
            for r in await conn.fetch("SELECT * FROM assignment"):
                world.put_assignment(records.assignment_row(r))
            for r in await conn.fetch("SELECT task_id, member_id FROM refusal"):
                world.refuse(str(r["task_id"]), str(r["member_id"]))
            for r in await conn.fetch("SELECT task_id, member_id FROM pending_proposal"):
                world.offer(str(r["task_id"]), str(r["member_id"]))
            for r in await conn.fetch("SELECT * FROM standby ORDER BY joined_at"):
                world.join_standby(str(r["task_id"]), str(r["member_id"]), r["joined_at"])

    async def refresh(
        self,
        world: World,
        *,
        members: Sequence[str] = (),
        tasks: Sequence[str] = (),
        assignments: Sequence[str] = (),
    ) -> None:
        """Bring these rows of the in-memory world up to date with the read model."""
        async with self._pool.acquire() as conn:
            if members:
                for r in await conn.fetch(
                    "SELECT * FROM member WHERE id = ANY($1::uuid[])",
                    [uuid.UUID(m) for m in members],
                ):
                    world.put_member(records.member_row(r))
            if tasks:
                for r in await conn.fetch(
                    "SELECT * FROM task WHERE id = ANY($1::uuid[])", [uuid.UUID(t) for t in tasks]
                ):
                    world.put_task(records.task_row(r))
                for r in await conn.fetch(
                    "SELECT task_id, member_id FROM refusal WHERE task_id = ANY($1::uuid[])",
                    [uuid.UUID(t) for t in tasks],
                ):
                    world.refuse(str(r["task_id"]), str(r["member_id"]))
            if assignments:
                for r in await conn.fetch(
                    "SELECT * FROM assignment WHERE assignment_id = ANY($1::uuid[])",
                    [uuid.UUID(a) for a in assignments],
                ):
                    world.put_assignment(records.assignment_row(r))
