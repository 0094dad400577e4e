"""Changes to a task and its places: the store loads what the domain's rule needs under the
task's lock (the member's first), applies it, and writes the Change in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from services.common.auth import Principal
from services.common.errors import NotFound
from services.tasks import domain
from services.tasks.domain import (
    Assignment,
    AssignmentSource,
    AssignmentState,
    Outcome,
    ProposalRejected,
    Task,
    time_conflict,
)
from services.tasks.store.base import StoreBase
from services.tasks.store.records import assignment_from_record
from services.tasks.store.scope import DEADLINE_SQL


class Places(StoreBase):
    async def claim(
        self,
        task_id: str,
        member_id: str,
        actor: Principal,
        now: datetime,
        check: Callable[[Task], None],
    ) -> tuple[Assignment, Task]:
        try:
            async with self.transaction() as conn:
                await self._lock_member(conn, member_id)
                task = await self._lock_task(conn, task_id)
                check(task)
                live = await self._live_assignments(conn, task_id)
                member = await self.member_view(conn, member_id)
                clash = await self._overlapping(conn, member_id, task.window)
                change = domain.claim(task, live, member_id, member, clash, now, str(uuid.uuid4()))
                task, stored = await self._write(conn, task, change, actor, now)
                return stored[change.assignment.id], task
        except asyncpg.ExclusionViolationError:
            raise time_conflict("claim") from None

    async def change_assignment(
        self,
        assignment_id: str,
        target: AssignmentState,
        actor: Principal,
        now: datetime,
        check: Callable[[Assignment, Task], None],
        reason: str = "",
    ) -> tuple[Assignment, Task]:
        """Accept, decline or withdraw: lock the task, then the assignment, then change both."""
        found = await self.get_assignment(assignment_id)
        if found is None:
            raise NotFound("assignment", assignment_id)
        try:
            async with self.transaction() as conn:
                await self._lock_member(conn, found.member_id)
                task = await self._lock_task(conn, found.task_id)
                r = await conn.fetchrow(
                    "SELECT * FROM assignment WHERE id = $1 FOR UPDATE", uuid.UUID(assignment_id)
                )
                a = assignment_from_record(r)
                check(a, task)
                member = await self.member_view(conn, a.member_id)
                clash = await self._overlapping(conn, a.member_id, task.window)
                live = await self._live_assignments(conn, task.id)
                change = domain.answer(task, a, target, member, clash, reason, now, live)
                task, stored = await self._write(conn, task, change, actor, now)
                return stored[a.id], task
        except asyncpg.ExclusionViolationError:
            raise time_conflict("accept") from None

    async def propose(
        self,
        conn: asyncpg.Connection,
        run_id: str,
        task_id: str,
        member_id: str,
        actor: Principal | None,
        now: datetime,
        ttl: timedelta,
        standby: bool = False,
    ) -> str | None:
        """Turn matching's proposal into a PROPOSED assignment inside the caller's transaction.

        Returns None on success, else why not (and a ProposalRejected event is written).
        """
        if domain.malformed_run_id(run_id):
            result = domain.propose(None, task_id, (), member_id, None, None, run_id, now, ttl, "")
        else:
            try:
                async with conn.transaction():  # a savepoint: a refusal keeps the caller's work
                    task = await self._lock_task(conn, task_id)
                    live = await self._live_assignments(conn, task_id)
                    member = await self.member_view(conn, member_id)
                    clash = await self._overlapping(conn, member_id, task.window)
                    result = domain.propose(
                        task,
                        task_id,
                        live,
                        member_id,
                        member,
                        clash,
                        run_id,
                        now,
                        ttl,
                        str(uuid.uuid4()),
                        AssignmentSource.STANDBY if standby else AssignmentSource.MATCHING,
                    )
                    if not isinstance(result, ProposalRejected):
                        await self._write(conn, task, result, actor, now)
                        return None
            except NotFound:
                result = domain.propose(
                    None, task_id, (), member_id, None, None, run_id, now, ttl, ""
                )
        assert isinstance(result, ProposalRejected)
        await self._emit(conn, [result], actor)
        return result.reason

    async def cancel_task(
        self,
        task_id: str,
        reason: str,
        actor: Principal,
        check: Callable[[Task], None],
        now: datetime,
    ) -> Task:
        async with self.transaction() as conn:
            return await self._cancel(conn, task_id, reason, actor, check, now)

    async def complete_task(
        self,
        task_id: str,
        outcomes: tuple[Outcome, ...],
        score: int,
        comment: str,
        actor: Principal,
        now: datetime,
        check: Callable[[Task], None],
    ) -> tuple[Task, list[Assignment]]:
        async with self.transaction() as conn:
            task = await self._lock_task(conn, task_id)
            check(task)
            live = await self._live_assignments(conn, task_id)
            change = domain.complete(task, live, outcomes, score, comment, now)
            task, stored = await self._write(conn, task, change, actor, now)
            done = change.events[0]
            assert isinstance(done, domain.TaskCompleted)
            return task, [stored[a.id] for a in done.assignments]

    # -- time passing --------------------------------------------------------------------------

    async def expire_proposals(self, now: datetime, batch: int = 500) -> int:
        """Proposals not answered in time free their places."""
        rows = await self._pool.fetch(
            "SELECT DISTINCT task_id FROM assignment WHERE state = 'proposed' AND expires_at <= $1"
            " LIMIT $2",
            now,
            batch,
        )
        expired = 0
        for row in rows:
            async with self.transaction() as conn:
                task = await self._lock_task(conn, str(row["task_id"]))
                live = await self._live_assignments(conn, task.id)
                change = domain.expire_proposals(task, live, now)
                await self._write(conn, task, change, None, now)
                expired += len(change.written)
        return expired

    async def close_due_tasks(self, now: datetime, batch: int = 500) -> int:
        """Tasks whose time to take places has passed: CLOSED if someone accepted, else EXPIRED."""
        async with self.transaction() as conn:
            rows = await conn.fetch(
                f"""SELECT t.id FROM task t WHERE t.status IN ('open', 'filled')
                    AND {DEADLINE_SQL} <= $1 ORDER BY {DEADLINE_SQL} LIMIT $2
                    FOR UPDATE SKIP LOCKED""",
                now,
                batch,
            )
            for row in rows:
                task = await self._lock_task(conn, str(row["id"]))
                live = await self._live_assignments(conn, task.id)
                await self._write(conn, task, domain.close_due(task, live, now), None, now)
            return len(rows)
