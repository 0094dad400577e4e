"""Check-ins and hours records in PostgreSQL: the store loads what a rule needs under the task's
lock, applies the caller's decision, and writes the rows and their events in one transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.common.auth import Principal
from services.common.errors import NotFound
from services.tasks import events
from services.tasks.domain import Task
from services.tasks.domain.attendance import Attendance, Evidence, Purpose
from services.tasks.domain.hours import HoursChange, HoursRecord, HoursState, TaskHours
from services.tasks.store.attendance_port import AttendanceDecision, HoursDecision
from services.tasks.store.base import StoreBase
from services.tasks.store.records import assignment_from_record, task_from_record
from services.tasks.store.scope import Scope


def attendance_from_record(r: asyncpg.Record) -> Attendance:
    return Attendance(
        str(r["task_id"]),
        str(r["member_id"]),
        Purpose(r["purpose"]),
        r["at"],
        Evidence(r["evidence"]),
    )


def hours_from_record(r: asyncpg.Record) -> HoursRecord:
    return HoursRecord(
        id=str(r["id"]),
        task_id=str(r["task_id"]),
        member_id=str(r["member_id"]),
        community_id=r["community_id"],
        street_id=r["street_id"],
        state=HoursState(r["state"]),
        minutes=r["minutes"],
        evidence=Evidence(r["evidence"]),
        reason=r["reason"],
        supersedes=str(r["supersedes"]) if r["supersedes"] else "",
        category=r["category"],
        scheduled_minutes=r["scheduled_minutes"],
        hard_to_fill=r["hard_to_fill"],
        occurred_at=r["occurred_at"],
        created_at=r["created_at"],
        decided_at=r["decided_at"],
    )


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(what, value) from None


class AttendanceStore(StoreBase):
    async def _task_for(self, conn: asyncpg.Connection, task_id: str, lock: str) -> Task:
        r = await conn.fetchrow(f"SELECT * FROM task WHERE id = $1 {lock}", _uuid(task_id, "task"))
        if r is None:
            raise NotFound("task", task_id)
        return task_from_record(r)

    async def record_attendance(
        self, task_id: str, member_id: str, purpose: Purpose, decide: AttendanceDecision
    ) -> Attendance:
        key, member = _uuid(task_id, "task"), _uuid(member_id, "member")
        async with self.transaction() as conn:
            # A share lock: members check in side by side, while the task cannot change under them.
            task = await self._task_for(conn, task_id, "FOR SHARE")
            rows = await conn.fetch(
                "SELECT * FROM attendance WHERE task_id = $1 AND member_id = $2", key, member
            )
            mine = {Purpose(r["purpose"]): attendance_from_record(r) for r in rows}
            if purpose in mine:
                return mine[purpose]  # a repeat answers what the first did
            place = await conn.fetchrow(
                "SELECT * FROM assignment WHERE task_id = $1 AND member_id = $2"
                " ORDER BY created_at DESC, id LIMIT 1",
                key,
                member,
            )
            held = None if place is None else assignment_from_record(place)
            made = decide(task, held, mine.get(Purpose.CHECK_IN))
            r = await conn.fetchrow(
                """INSERT INTO attendance (task_id, member_id, purpose, at, evidence)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING *""",
                key,
                member,
                made.purpose.value,
                made.at,
                made.evidence.value,
            )
        if r is None:  # a concurrent first one won: answer what it recorded
            async with self.transaction() as conn:
                r = await conn.fetchrow(
                    "SELECT * FROM attendance WHERE task_id = $1 AND member_id = $2"
                    " AND purpose = $3",
                    key,
                    member,
                    purpose.value,
                )
        return attendance_from_record(r)

    async def _load_hours(self, conn: asyncpg.Connection, task: Task) -> TaskHours:
        key = uuid.UUID(task.id)
        places = await conn.fetch(
            "SELECT * FROM assignment WHERE task_id = $1 ORDER BY created_at, id", key
        )
        seen = await conn.fetch("SELECT * FROM attendance WHERE task_id = $1", key)
        records = await conn.fetch(
            "SELECT * FROM hours_record WHERE task_id = $1 ORDER BY created_at, id", key
        )
        latest = {str(r["member_id"]): assignment_from_record(r) for r in places}
        return TaskHours(
            task,
            latest,
            [attendance_from_record(r) for r in seen],
            [hours_from_record(r) for r in records],
        )

    async def task_hours(self, task_id: str) -> TaskHours:
        async with self.transaction() as conn:
            return await self._load_hours(conn, await self._task_for(conn, task_id, ""))

    async def change_hours(
        self, task_id: str, decide: HoursDecision, actor: Principal
    ) -> HoursChange:
        async with self.transaction() as conn:
            task = await self._task_for(conn, task_id, "FOR UPDATE")
            change = decide(await self._load_hours(conn, task))
            for rec in change.written:
                if rec.id in change.created:
                    await self._insert_hours(conn, rec)
                else:
                    await conn.execute(
                        "UPDATE hours_record SET state = $2, reason = $3, decided_at = $4"
                        " WHERE id = $1",
                        uuid.UUID(rec.id),
                        rec.state.value,
                        rec.reason,
                        rec.decided_at,
                    )
            if change.events:
                await self._outbox.add_many(
                    conn, [events.hours_payload(e) for e in change.events], actor
                )
            return change

    async def _insert_hours(self, conn: asyncpg.Connection, rec: HoursRecord) -> None:
        await conn.execute(
            """INSERT INTO hours_record (id, task_id, member_id, community_id, street_id, state,
                   minutes, evidence, reason, supersedes, category, scheduled_minutes,
                   hard_to_fill, occurred_at, created_at, decided_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)""",
            uuid.UUID(rec.id),
            uuid.UUID(rec.task_id),
            uuid.UUID(rec.member_id),
            rec.community_id,
            rec.street_id,
            rec.state.value,
            rec.minutes,
            rec.evidence.value,
            rec.reason,
            uuid.UUID(rec.supersedes) if rec.supersedes else None,
            rec.category,
            rec.scheduled_minutes,
            rec.hard_to_fill,
            rec.occurred_at,
            rec.created_at,
            rec.decided_at,
        )

    async def get_hours_record(self, record_id: str) -> HoursRecord | None:
        try:
            key = uuid.UUID(record_id)
        except ValueError:
            return None
        r = await self._pool.fetchrow("SELECT * FROM hours_record WHERE id = $1", key)
        return None if r is None else hours_from_record(r)

    async def list_hours_records(
        self,
        scope: Scope,
        *,
        member_id: str,
        task_id: str,
        community_id: str,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[HoursRecord]:
        args: list[object] = []
        where = [scope.sql(args)]
        for column, value in (("member_id", member_id), ("task_id", task_id)):
            if value:
                try:
                    args.append(uuid.UUID(value))
                except ValueError:
                    return []
                where.append(f"h.{column} = ${len(args)}")
        if community_id:
            args.append(community_id)
            where.append(f"h.community_id = ${len(args)}")
        if after is not None:
            args += [after[0], uuid.UUID(after[1])]
            where.append(f"(h.created_at, h.id) < (${len(args) - 1}, ${len(args)})")
        args.append(limit)
        rows = await self._pool.fetch(
            f"""SELECT h.* FROM hours_record h JOIN task t ON t.id = h.task_id
                WHERE {" AND ".join(where)} ORDER BY h.created_at DESC, h.id DESC
                LIMIT ${len(args)}""",
            *args,
        )
        return [hours_from_record(r) for r in rows]

    async def member_attendance(self, member_id: str) -> tuple[list[Attendance], list[HoursRecord]]:
        key = _uuid(member_id, "member")
        seen = await self._pool.fetch(
            "SELECT * FROM attendance WHERE member_id = $1 ORDER BY at, task_id, purpose", key
        )
        records = await self._pool.fetch(
            "SELECT * FROM hours_record WHERE member_id = $1 ORDER BY created_at, id", key
        )
        return [attendance_from_record(r) for r in seen], [hours_from_record(r) for r in records]
