"""The member's month in the PostgreSQL store: standby lists, confirm or release, staff's
changes to a task, the reminder loop's questions, and a member's calendar."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from services.common.auth import Principal
from services.common.errors import NotFound
from services.tasks import domain
from services.tasks.domain import Assignment, Change, NoAnswerPolicy, StandbyEntry, Task
from services.tasks.domain.confirmation import ask, empty_alert, unanswered
from services.tasks.domain.errors import time_conflict
from services.tasks.domain.standby import LEFT
from services.tasks.store.base import StoreBase
from services.tasks.store.records import assignment_from_record, task_from_record
from services.tasks.store.scope import Scope

# A change to one task, decided under its lock (the caller's rule and access check).
TaskUpdate = Callable[[Task], Change]
AssignmentUpdate = Callable[[Task, Assignment], Change]


def _entry(r: asyncpg.Record) -> StandbyEntry:
    return StandbyEntry(str(r["task_id"]), str(r["member_id"]), r["joined_at"])


class Month(StoreBase):
    # -- standby -------------------------------------------------------------------------------

    async def join_standby(
        self,
        task_id: str,
        member_id: str,
        actor: Principal,
        now: datetime,
        check: Callable[[Task], None],
    ) -> StandbyEntry:
        async with self.transaction() as conn:
            await self._lock_member(conn, member_id)
            task = await self._lock_task(conn, task_id)
            check(task)
            r = await conn.fetchrow(
                "SELECT * FROM standby WHERE task_id = $1 AND member_id = $2",
                uuid.UUID(task_id),
                uuid.UUID(member_id),
            )
            if r is not None:
                return _entry(r)
            live = await self._live_assignments(conn, task_id)
            member = await self.member_view(conn, member_id)
            entry = domain.join_standby(task, live, member_id, member, now)
            await self._write(
                conn, task, Change(task, (), (domain.StandbyJoined(entry),)), actor, now
            )
            return entry

    async def leave_standby(
        self, task_id: str, member_id: str, actor: Principal, now: datetime
    ) -> bool:
        async with self.transaction() as conn:
            await self._lock_member(conn, member_id)
            task = await self._lock_task(conn, task_id)
            found = await conn.fetchval(
                "SELECT true FROM standby WHERE task_id = $1 AND member_id = $2 FOR UPDATE",
                uuid.UUID(task_id),
                uuid.UUID(member_id),
            )
            if not found:
                return False
            left = domain.StandbyLeft(task_id, member_id, LEFT)
            await self._write(conn, task, Change(task, (), (left,)), actor, now)
            return True

    async def list_standby(
        self, task_id: str, member_id: str, scope: Scope | None = None
    ) -> list[StandbyEntry]:
        """A task's list, a member's entries (or one member's entry on one task), or the entries
        on the tasks of a scope, in joining order."""
        args: list[object] = [
            uuid.UUID(task_id) if task_id else None,
            uuid.UUID(member_id) if member_id else None,
        ]
        within = scope.sql(args) if scope is not None else "true"
        rows = await self._pool.fetch(
            f"""SELECT s.* FROM standby s JOIN task t ON t.id = s.task_id
                WHERE ($1::uuid IS NULL OR s.task_id = $1)
                AND ($2::uuid IS NULL OR s.member_id = $2) AND {within}
                ORDER BY s.joined_at, s.member_id LIMIT 1000""",
            *args,
        )
        return [_entry(r) for r in rows]

    # -- changes by the member or staff ----------------------------------------------------------

    async def update_assignment(
        self, assignment_id: str, actor: Principal, now: datetime, apply: AssignmentUpdate
    ) -> Assignment:
        """Apply the member's change (confirm, release) to their assignment under the locks."""
        found = await self.get_assignment(assignment_id)
        if found is None:
            raise NotFound("assignment", assignment_id)
        async with self.transaction() as conn:
            await self._lock_member(conn, found.member_id)
            task = await self._lock_task(conn, found.task_id)
            r = await conn.fetchrow(
                "SELECT * FROM assignment WHERE id = $1 FOR UPDATE", uuid.UUID(assignment_id)
            )
            a = assignment_from_record(r)
            _, stored = await self._write(conn, task, apply(task, a), actor, now)
            return stored.get(a.id, a)

    async def update_task(
        self, task_id: str, actor: Principal, now: datetime, apply: TaskUpdate
    ) -> Task:
        """Apply staff's change to the task under its lock (its places' locks too: their copy of
        the window moves with it)."""
        try:
            async with self.transaction() as conn:
                task = await self._lock_task(conn, task_id)
                await self._live_assignments(conn, task_id)
                task, _ = await self._write(conn, task, apply(task), actor, now)
                return task
        except asyncpg.ExclusionViolationError:
            # A member holding a place has another accepted task at the new time.
            raise time_conflict("move the task") from None

    # -- the reminder loop -----------------------------------------------------------------------

    async def confirmations_due(
        self,
        now: datetime,
        before: timedelta,
        within: timedelta,
        default: NoAnswerPolicy,
        batch: int = 500,
    ) -> tuple[int, int]:
        """Ask the accepted places coming within `before` of their start, and apply the policy
        to those whose answer is overdue: (asked, overdue)."""
        rows = await self._pool.fetch(
            """SELECT a.id, a.task_id, coalesce(nullif(r.no_answer, ''), $3) AS policy
               FROM assignment a JOIN task t ON t.id = a.task_id
               LEFT JOIN role r ON r.id = t.source_id AND t.kind = 'role_occurrence'
               WHERE a.state = 'accepted' AND a.confirmed_at IS NULL AND a.overdue_at IS NULL
               AND t.status IN ('open', 'filled') AND t.window_start > $1
               AND ((a.confirm_requested_at IS NULL AND t.window_start <= $1 + $2)
                    OR a.answer_by <= $1)
               ORDER BY t.window_start, a.id LIMIT $4""",
            now,
            before,
            default.value,
            batch,
        )
        asked = overdue = 0
        for row in rows:
            policy = NoAnswerPolicy(row["policy"])
            async with self.transaction() as conn:
                r = await conn.fetchrow("SELECT member_id FROM assignment WHERE id = $1", row["id"])
                await self._lock_member(conn, str(r["member_id"]))
                task = await self._lock_task(conn, str(row["task_id"]))
                a = assignment_from_record(
                    await conn.fetchrow(
                        "SELECT * FROM assignment WHERE id = $1 FOR UPDATE", row["id"]
                    )
                )
                change = ask(task, a, now, before, within)
                if change is not None:
                    asked += 1
                else:
                    change = unanswered(task, a, now, policy)
                    overdue += change is not None
                if change is not None:
                    await self._write(conn, task, change, None, now)
        return asked, overdue

    async def alert_empty_places(self, now: datetime, horizon: timedelta, batch: int = 500) -> int:
        rows = await self._pool.fetch(
            """SELECT id FROM task WHERE status = 'open' AND empty_alerted_at IS NULL
               AND places_taken < headcount AND window_start > $1 AND window_start <= $1 + $2
               ORDER BY window_start, id LIMIT $3""",
            now,
            horizon,
            batch,
        )
        alerted = 0
        for row in rows:
            async with self.transaction() as conn:
                task = await self._lock_task(conn, str(row["id"]))
                change = empty_alert(task, now, horizon)
                if change is not None:
                    await self._write(conn, task, change, None, now)
                    alerted += 1
        return alerted

    # -- the calendar ----------------------------------------------------------------------------

    async def calendar(self, member_id: str, since: datetime) -> list[tuple[Assignment, Task]]:
        """The member's accepted places, and those that ended (done, withdrawn, cancelled)
        since `since`, with their tasks."""
        rows = await self._pool.fetch(
            """SELECT * FROM assignment WHERE member_id = $1 AND (state = 'accepted'
               OR (state IN ('completed', 'no_show', 'withdrawn', 'cancelled')
                   AND updated_at >= $2))
               ORDER BY created_at, id LIMIT 1000""",
            uuid.UUID(member_id),
            since,
        )
        ids = [r["task_id"] for r in rows]
        tasks = {
            str(r["id"]): task_from_record(r)
            for r in await self._pool.fetch("SELECT * FROM task WHERE id = ANY($1::uuid[])", ids)
        }
        return [(assignment_from_record(r), tasks[str(r["task_id"])]) for r in rows]
