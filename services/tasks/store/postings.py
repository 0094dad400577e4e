"""Posting: wishes (one task each) and volunteer roles (a task per occurrence, generated ahead),
each once per caller's request_id."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg

from services.common.auth import Principal
from services.common.errors import NotFound
from services.tasks import domain
from services.tasks.domain import (
    RoleCreated,
    RoleDraft,
    RoleEnded,
    Task,
    TaskPosted,
    VolunteerRole,
    Wish,
    WishDraft,
)
from services.tasks.store.base import StoreBase
from services.tasks.store.records import (
    role_from_record,
    schedule_json,
    skills_json,
    task_from_record,
    wish_from_record,
)
from services.tasks.store.scope import DEADLINE_SQL


class Postings(StoreBase):
    async def find_wish(self, created_by: str, request_id: str) -> tuple[Wish, Task, str] | None:
        """The wish a caller's request_id posted, its task, and the request's fingerprint."""
        r = await self._pool.fetchrow(
            "SELECT * FROM wish WHERE created_by = $1 AND request_id = $2", created_by, request_id
        )
        if r is None:
            return None
        wish = wish_from_record(r)
        task = await self.get_task(wish.task_id)
        assert task is not None
        return wish, task, r["request_hash"]

    async def post_wish(
        self,
        request_id: str,
        request_hash: str,
        draft: WishDraft,
        street_id: str,
        actor: Principal,
        now: datetime,
    ) -> tuple[Wish, Task, str]:
        """Post the wish, or find what this caller's request_id posted before: the wish, its
        task and the fingerprint of the request that posted it (the caller compares)."""
        wish, task = domain.post_wish(draft, street_id, now, str(uuid.uuid4()), str(uuid.uuid4()))
        assert draft.window is not None and draft.location is not None and draft.beneficiary
        w = draft.window
        try:
            async with self.transaction() as conn:
                r = await conn.fetchrow(
                    """INSERT INTO wish (id, request_id, community_id, title, description,
                           beneficiary, lat, lng, address, skills, headcount, window_start,
                           window_end, flexible, effort_hours, task_id, created_by, request_hash,
                           team)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14,
                               $15, $16, $17, $18, $19) RETURNING *""",
                    uuid.UUID(wish.id),
                    request_id,
                    draft.community_id,
                    draft.title,
                    draft.description,
                    draft.beneficiary.value,
                    draft.location.lat,
                    draft.location.lng,
                    draft.address,
                    skills_json(draft.skills),
                    draft.headcount,
                    w.start,
                    w.end,
                    w.flexible,
                    draft.effort_hours,
                    uuid.UUID(task.id),
                    actor.subject,
                    request_hash,
                    draft.team,
                )
                stored = await self._insert_task(conn, task)
                assert stored is not None
                await self._emit(conn, [TaskPosted(stored)], actor)
                return wish_from_record(r), stored, request_hash
        except asyncpg.UniqueViolationError:
            # A concurrent call with the same request_id won: answer as it did, if it asked for
            # the same thing (the caller checks the fingerprint returned).
            found = await self.find_wish(actor.subject, request_id)
            if found is None:
                raise
            return found

    async def _insert_task(self, conn: asyncpg.Connection, task: Task) -> Task | None:
        """Insert a task; None when this role occurrence exists already."""
        r = await conn.fetchrow(
            """INSERT INTO task (id, kind, source_id, community_id, street_id, street_wide, title,
                   description, beneficiary, lat, lng, address, skills, headcount, window_start,
                   window_end, flexible, effort_hours, status, unit_id, team, overbook_cap)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14, $15,
                       $16, $17, $18, $19, $20, $21, $22)
               ON CONFLICT (source_id, window_start) DO NOTHING RETURNING *""",
            uuid.UUID(task.id),
            task.kind.value,
            uuid.UUID(task.source_id),
            task.community_id,
            task.street_id,
            task.street_wide,
            task.title,
            task.description,
            task.beneficiary.value,
            task.location.lat,
            task.location.lng,
            task.address,
            skills_json(task.skills),
            task.headcount,
            task.window.start,
            task.window.end,
            task.window.flexible,
            task.effort_hours,
            task.status.value,
            task.unit_id,
            task.team,
            task.overbook_cap,
        )
        return None if r is None else task_from_record(r)

    async def find_role(
        self, created_by: str, request_id: str
    ) -> tuple[VolunteerRole, int, str] | None:
        """The role a caller's request_id created, how many tasks that call generated, and the
        request's fingerprint."""
        r = await self._pool.fetchrow(
            "SELECT * FROM role WHERE created_by = $1 AND request_id = $2", created_by, request_id
        )
        return None if r is None else (role_from_record(r), r["tasks_generated"], r["request_hash"])

    async def create_role(
        self,
        request_id: str,
        request_hash: str,
        draft: RoleDraft,
        street_id: str,
        actor: Principal,
        now: datetime,
        horizon: timedelta,
    ) -> tuple[VolunteerRole, int, str]:
        """Create the role, or find what this caller's request_id created before (as
        find_role)."""
        role_id = uuid.uuid4()
        assert draft.location is not None and draft.beneficiary is not None
        try:
            async with self.transaction() as conn:
                r = await conn.fetchrow(
                    """INSERT INTO role (id, request_id, community_id, unit_id, title, description,
                           beneficiary, lat, lng, skills, headcount, effort_hours, schedule,
                           street_wide, generated_until, created_by, request_hash, no_answer,
                           team, overbook_cap)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12,
                               $13::jsonb, $14, $15, $16, $17, $18, $19, $20) RETURNING *""",
                    role_id,
                    request_id,
                    draft.community_id,
                    draft.unit_id,
                    draft.title,
                    draft.description,
                    draft.beneficiary.value,
                    draft.location.lat,
                    draft.location.lng,
                    skills_json(draft.skills),
                    draft.headcount,
                    draft.effort_hours,
                    schedule_json(draft.schedule),
                    draft.street_wide,
                    now,
                    actor.subject,
                    request_hash,
                    draft.no_answer.value if draft.no_answer else "",
                    draft.team,
                    draft.overbook_cap,
                )
                role = role_from_record(r)
                await self._emit(conn, [RoleCreated(role)], actor)
                generated = await self._generate(conn, role, street_id, now, now + horizon, actor)
                # Kept so that a repeated request answers exactly what the first one did.
                await conn.execute(
                    "UPDATE role SET tasks_generated = $2 WHERE id = $1", role_id, generated
                )
                return role, generated, request_hash
        except asyncpg.UniqueViolationError:
            found = await self.find_role(actor.subject, request_id)
            if found is None:
                raise
            return found

    async def _generate(
        self,
        conn: asyncpg.Connection,
        role: VolunteerRole,
        street_id: str,
        since: datetime,
        until: datetime,
        actor: Principal | None,
    ) -> int:
        """Create the role's tasks that start in (since, until]; existing ones stay as they are."""
        posted: list[domain.DomainEvent] = []
        for task in domain.occurrence_tasks(role, street_id, since, until, since):
            stored = await self._insert_task(conn, task)
            if stored is not None:
                posted.append(TaskPosted(stored))
        await conn.execute(
            "UPDATE role SET generated_until = GREATEST(generated_until, $2) WHERE id = $1",
            uuid.UUID(role.id),
            until,
        )
        await self._emit(conn, posted, actor)
        return len(posted)

    async def generate_due(self, now: datetime, horizon: timedelta) -> int:
        """Extend every active role's tasks to now + horizon. Safe to run often and in parallel."""
        until = now + horizon
        total = 0
        async with self.transaction() as conn:
            rows = await conn.fetch(
                """SELECT r.*, c.street_id AS street FROM role r
                   JOIN community c ON c.id = r.community_id
                   WHERE r.ended_at IS NULL AND r.generated_until < $1
                   ORDER BY r.generated_until LIMIT 200 FOR UPDATE OF r SKIP LOCKED""",
                until,
            )
            for r in rows:
                since = max(r["generated_until"], now)
                total += await self._generate(
                    conn, role_from_record(r), r["street"], since, until, None
                )
        return total

    async def end_role(
        self, role_id: str, reason: str, actor: Principal, now: datetime
    ) -> tuple[VolunteerRole, int]:
        """End the role and cancel its tasks still to come; ending it twice changes nothing."""
        async with self.transaction() as conn:
            r = await conn.fetchrow(
                "SELECT * FROM role WHERE id = $1 FOR UPDATE", uuid.UUID(role_id)
            )
            if r is None:
                raise NotFound("role", role_id)
            ended = domain.end_role(role_from_record(r))
            if ended is None:
                return role_from_record(r), 0
            r = await conn.fetchrow(
                "UPDATE role SET ended_at = $2, end_reason = $3 WHERE id = $1 RETURNING *",
                uuid.UUID(role_id),
                now,
                reason,
            )
            role = role_from_record(r)
            await self._emit(conn, [RoleEnded(role)], actor)
            future = await conn.fetch(
                f"""SELECT t.id FROM task t WHERE t.source_id = $1
                    AND t.status IN ('open', 'filled') AND {DEADLINE_SQL} > $2
                    ORDER BY t.id""",  # tasks are locked in id order by every writer
                uuid.UUID(role_id),
                now,
            )
            why = domain.role_ended_reason(reason)
            for t in future:
                await self._cancel(conn, str(t["id"]), why, actor, None, now)
            return role, len(future)
