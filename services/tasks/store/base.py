"""What every part of the PostgreSQL store shares: the pool and the transaction, the locks in
their one order, and writing a domain Change with the outbox rows of its events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime

import asyncpg
from asyncpg import Range

from services.common.auth import Principal
from services.common.errors import NotFound
from services.common.eventbus import Outbox
from services.common.values import TimeWindow
from services.tasks import domain, events
from services.tasks.domain import (
    HOLDS_PLACE,
    TAKING_PLACES,
    Assignment,
    AssignmentChanged,
    Change,
    DomainEvent,
    MemberView,
    StandbyJoined,
    StandbyLeft,
    Task,
    TaskCancelled,
    TaskChanged,
    TaskClosed,
    TaskCompleted,
    TaskExpired,
    TaskPosted,
)
from services.tasks.domain.change import (
    ConfirmationOverdue,
    ConfirmationRequested,
    PlaceLeftEmpty,
)
from services.tasks.store.records import assignment_from_record, proven_skills, task_from_record


class StoreBase:
    def __init__(self, pool: asyncpg.Pool, outbox: Outbox) -> None:
        self._pool = pool
        self._outbox = outbox

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn

    async def _emit(
        self, conn: asyncpg.Connection, items: list[DomainEvent], actor: Principal | None
    ) -> None:
        if items:
            await self._outbox.add_many(conn, [events.payload(e) for e in items], actor)

    async def member_view(
        self, conn: asyncpg.Connection | None, member_id: str
    ) -> MemberView | None:
        try:
            key = uuid.UUID(member_id)
        except ValueError:
            return None
        runner = conn or self._pool
        r = await runner.fetchrow(
            "SELECT id, community_id, street_id, active, reported_in, skills FROM member"
            " WHERE id = $1",
            key,
        )
        if r is None:
            return None
        return MemberView(
            str(r["id"]),
            r["community_id"],
            r["street_id"],
            r["active"],
            r["reported_in"],
            proven=proven_skills(r["skills"]),
        )

    async def get_task(self, task_id: str) -> Task | None:
        try:
            key = uuid.UUID(task_id)
        except ValueError:
            return None
        r = await self._pool.fetchrow("SELECT * FROM task WHERE id = $1", key)
        return None if r is None else task_from_record(r)

    async def get_assignment(self, assignment_id: str) -> Assignment | None:
        try:
            key = uuid.UUID(assignment_id)
        except ValueError:
            return None
        r = await self._pool.fetchrow("SELECT * FROM assignment WHERE id = $1", key)
        return None if r is None else assignment_from_record(r)

    # -- locks, in their one order: member, then tasks by id, then assignments -------------------

    async def _lock_member(self, conn: asyncpg.Connection, member_id: str) -> None:
        """Lock the member's row (when known) before any task: a member's claims, answers and
        releases then run one after another, and every writer takes its locks in one order
        (member, then tasks by id, then assignments), so none waits in a cycle. Without it two
        claims by one member on overlapping tasks each wait for the other's row in the exclusion
        constraint: a deadlock."""
        try:
            key = uuid.UUID(member_id)
        except ValueError:
            return
        await conn.execute("SELECT 1 FROM member WHERE id = $1 FOR UPDATE", key)

    async def _lock_task(self, conn: asyncpg.Connection, task_id: str) -> Task:
        try:
            key = uuid.UUID(task_id)
        except ValueError:
            raise NotFound("task", task_id) from None
        r = await conn.fetchrow("SELECT * FROM task WHERE id = $1 FOR UPDATE", key)
        if r is None:
            raise NotFound("task", task_id)
        return task_from_record(r)

    async def _live_assignments(self, conn: asyncpg.Connection, task_id: str) -> list[Assignment]:
        """The task's assignments that hold a place, locked (after the task's row)."""
        rows = await conn.fetch(
            "SELECT * FROM assignment WHERE task_id = $1 AND state = ANY($2::text[])"
            " ORDER BY created_at FOR UPDATE",
            uuid.UUID(task_id),
            [s.value for s in HOLDS_PLACE],
        )
        return [assignment_from_record(r) for r in rows]

    async def _overlapping(
        self, conn: asyncpg.Connection, member_id: str, window: TimeWindow
    ) -> str | None:
        """The id of an accepted task of the member that clashes with `window`, if any."""
        if window.flexible:
            return None
        try:
            key = uuid.UUID(member_id)
        except ValueError:
            return None
        found = await conn.fetchval(
            """SELECT task_id FROM assignment WHERE member_id = $1 AND state = 'accepted'
               AND NOT flexible AND during && tstzrange($2, $3) LIMIT 1""",
            key,
            window.start,
            window.end,
        )
        return None if found is None else str(found)

    # -- writing a change ----------------------------------------------------------------------

    async def _write(
        self,
        conn: asyncpg.Connection,
        before: Task,
        change: Change,
        actor: Principal | None,
        now: datetime,
    ) -> tuple[Task, dict[str, Assignment]]:
        """Write the change's rows and the outbox rows of its events (in the caller's
        transaction); returns the task and the assignments as stored."""
        stored: dict[str, Assignment] = {}
        for a in change.written:
            if a.id in change.created:
                stored[a.id] = await self._insert_assignment(conn, change.task, a)
            else:
                r = await conn.fetchrow(
                    """UPDATE assignment SET state = $2, reason = $3, hours = $4, served_at = $5,
                           confirm_requested_at = $6, answer_by = $7, confirmed_at = $8,
                           overdue_at = $9, updated_at = clock_timestamp()
                       WHERE id = $1 RETURNING *""",
                    uuid.UUID(a.id),
                    a.state.value,
                    a.reason,
                    a.hours,
                    a.served_at,
                    a.confirm_requested_at,
                    a.answer_by,
                    a.confirmed_at,
                    a.overdue_at,
                )
                stored[a.id] = assignment_from_record(r)
        task = before
        if change.written or change.task != before:
            t = change.task
            w = t.window
            r = await conn.fetchrow(
                """UPDATE task SET places_taken = $2, accepted = $3, status = $4,
                       cancel_reason = $5, title = $6, description = $7, lat = $8, lng = $9,
                       address = $10, headcount = $11, window_start = $12, window_end = $13,
                       flexible = $14, revision = $15, empty_alerted_at = $16,
                       updated_at = clock_timestamp()
                   WHERE id = $1 RETURNING *""",
                uuid.UUID(t.id),
                t.places_taken,
                t.accepted,
                t.status.value,
                t.cancel_reason,
                t.title,
                t.description,
                t.location.lat,
                t.location.lng,
                t.address,
                t.headcount,
                w.start,
                w.end,
                w.flexible,
                t.revision,
                t.empty_alerted_at,
            )
            task = task_from_record(r)
            if w != before.window:
                # The copy of the window that lets the database refuse double-booking.
                await conn.execute(
                    "UPDATE assignment SET during = $2, flexible = $3 WHERE task_id = $1",
                    uuid.UUID(t.id),
                    Range(w.start, w.end),
                    w.flexible,
                )
        if change.feedback is not None:
            await conn.execute(
                "UPDATE task SET feedback_score = $2, feedback_comment = $3, completed_at = $4"
                " WHERE id = $1",
                uuid.UUID(task.id),
                change.feedback.score,
                change.feedback.comment,
                now,
            )
        announced = [_as_stored(e, task, stored) for e in change.events]
        announced += await self._standby_after(conn, task, change)
        await self._emit(conn, announced, actor)
        return task, stored

    async def _standby_after(
        self, conn: asyncpg.Connection, task: Task, change: Change
    ) -> list[DomainEvent]:
        """Keep the standby list with the change: entries joined or left by it, and those it
        ends (the member took a place; the task takes no more)."""
        key = uuid.UUID(task.id)
        for e in change.events:
            if isinstance(e, StandbyJoined):
                await conn.execute(
                    "INSERT INTO standby (task_id, member_id, joined_at) VALUES ($1, $2, $3)"
                    " ON CONFLICT DO NOTHING",
                    key,
                    uuid.UUID(e.entry.member_id),
                    e.entry.joined_at,
                )
            elif isinstance(e, StandbyLeft):
                await conn.execute(
                    "DELETE FROM standby WHERE task_id = $1 AND member_id = $2",
                    key,
                    uuid.UUID(e.member_id),
                )
        placed = [a.member_id for a in change.written if a.id in change.created]
        if not placed and task.status in TAKING_PLACES:
            return []
        waiting = await conn.fetch(
            "SELECT member_id FROM standby WHERE task_id = $1 FOR UPDATE", key
        )
        ended = domain.standby_ends(task, placed, [str(r["member_id"]) for r in waiting])
        if ended:
            await conn.execute(
                "DELETE FROM standby WHERE task_id = $1 AND member_id = ANY($2::uuid[])",
                key,
                [uuid.UUID(e.member_id) for e in ended],
            )
        return list(ended)

    async def _cancel(
        self,
        conn: asyncpg.Connection,
        task_id: str,
        reason: str,
        actor: Principal | None,
        check: Callable[[Task], None] | None,
        now: datetime,
    ) -> Task:
        """Cancel the task and every place it holds (staff, or the end of its role)."""
        task = await self._lock_task(conn, task_id)
        if check is not None:
            check(task)
        live = await self._live_assignments(conn, task_id)
        change = domain.cancel(task, live, reason, now)
        task, _ = await self._write(conn, task, change, actor, now)
        return task

    async def _insert_assignment(
        self, conn: asyncpg.Connection, task: Task, a: Assignment
    ) -> Assignment:
        w = task.window
        r = await conn.fetchrow(
            """INSERT INTO assignment (id, task_id, member_id, state, source, expires_at,
                   match_run_id, during, flexible)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *""",
            uuid.UUID(a.id),
            uuid.UUID(task.id),
            uuid.UUID(a.member_id),
            a.state.value,
            a.source.value,
            a.expires_at,
            a.match_run_id,
            Range(w.start, w.end),
            w.flexible,
        )
        return assignment_from_record(r)


def _as_stored(event: DomainEvent, task: Task, stored: dict[str, Assignment]) -> DomainEvent:
    """The event with the rows as written: the database keeps the times of change."""

    def at(snapshot: Task) -> Task:
        return replace(snapshot, created_at=task.created_at, updated_at=task.updated_at)

    match event:
        case AssignmentChanged():
            a = stored.get(event.assignment.id, event.assignment)
            return replace(event, assignment=a, task=at(event.task))
        case TaskCompleted():
            done = tuple(stored.get(a.id, a) for a in event.assignments)
            return replace(event, assignments=done, task=at(event.task))
        case TaskCancelled() | TaskClosed() | TaskExpired() | TaskPosted():
            return replace(event, task=at(event.task))
        case TaskChanged() | PlaceLeftEmpty():
            return replace(event, task=at(event.task))
        case ConfirmationRequested() | ConfirmationOverdue():
            a = stored.get(event.assignment.id, event.assignment)
            return replace(event, assignment=a, task=at(event.task))
    return event
