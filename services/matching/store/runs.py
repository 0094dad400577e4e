"""The record of matching runs on PostgreSQL: one run per overlapping scope at a time (the row
is the lock, across every replica), leases, plans, and the proposals written with them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.common.auth import Principal
from services.common.eventbus import Outbox
from services.matching.domain import runs
from services.matching.domain.runs import PlannedAssignment, RunFilter, RunRecord, UnfilledPlace
from services.matching.domain.scope import Scope
from services.matching.events import Proposal
from services.matching.store import records


class RunTables:
    _pool: asyncpg.Pool
    _outbox: Outbox

    async def start_run(
        self,
        scope: Scope,
        street_id: str,
        dry_run: bool,
        method: str,
        by: str,
        lease_s: float = 30.0,
    ) -> tuple[str | None, str | None]:
        """Record a run as running, unless a run whose scope overlaps this one is running:
        (the new run, None) or (None, the run in the way). One short transaction on one
        connection, serialised with every other start across every replica; the rule of which
        runs overlap is the domain's (runs.first_overlapping)."""
        async with self._pool.acquire() as conn, conn.transaction():
            # Serialises the check and the insert between concurrent starts (released at commit).
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('matching:runs'))")
            await self._fail_lapsed(conn, lease_s)
            running = [
                records.run_record(r)
                for r in await conn.fetch("SELECT * FROM match_run WHERE state = 'running'")
            ]
            clash = runs.first_overlapping(scope, street_id, running)
            if clash is not None:
                return None, clash.id
            run_id = await conn.fetchval(
                """INSERT INTO match_run (id, scope_kind, scope_id, street_id, state, dry_run,
                       method, requested_by, heartbeat_at)
                   VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, now())
                   RETURNING id""",
                uuid.uuid4(),
                scope.kind,
                scope.id,
                street_id,
                dry_run,
                method,
                by,
            )
            return str(run_id), None

    async def renew(self, run_id: str) -> bool:
        try:
            await self._pool.execute(
                "UPDATE match_run SET heartbeat_at = now() WHERE id = $1 AND state = 'running'",
                uuid.UUID(run_id),
            )
        except (OSError, asyncpg.PostgresError):
            return False
        return True

    async def fail_lapsed_runs(self, lease_s: float) -> int:
        """Mark runs whose process stopped renewing their lease failed (interrupted)."""
        async with self._pool.acquire() as conn:
            return await self._fail_lapsed(conn, lease_s)

    async def _fail_lapsed(self, conn: asyncpg.Connection, lease_s: float) -> int:
        done = await conn.execute(
            "UPDATE match_run SET state = 'failed', error = 'interrupted', finished_at = now()"
            " WHERE state = 'running'"
            " AND coalesce(heartbeat_at, created_at) < now() - make_interval(secs => $1)",
            lease_s,
        )
        return int(done.split()[-1])

    async def finish_run(
        self,
        run_id: str,
        planned: Sequence[PlannedAssignment],
        unfilled: Sequence[UnfilledPlace],
        figures: dict[str, Any],
        proposals: Sequence[Proposal],
        actor: Principal,
        *,
        draft: bool = False,
    ) -> None:
        """Record the plan, its figures and (in the same transaction) its proposals, which hold
        their places until the task service answers for them."""
        key = uuid.UUID(run_id)
        async with self._pool.acquire() as conn, conn.transaction():
            await self._write_plan(conn, key, planned, unfilled)
            await conn.execute(
                "UPDATE match_run SET state = $3, figures = $2::jsonb,"
                " finished_at = now() WHERE id = $1",
                key,
                json.dumps(figures),
                "draft" if draft else "succeeded",
            )
            if proposals:
                await self._hold(conn, proposals)
                await self._outbox.add_many(conn, list(proposals), actor)

    async def _write_plan(
        self,
        conn: asyncpg.Connection,
        key: uuid.UUID,
        planned: Sequence[PlannedAssignment],
        unfilled: Sequence[UnfilledPlace],
    ) -> None:
        await conn.executemany(
            """INSERT INTO match_assignment (run_id, position, task_id, member_id, score,
                   distance_m, explanation, alternatives, public_distance_m, facts)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10::jsonb)""",
            [
                (
                    key,
                    a.position,
                    uuid.UUID(a.task_id),
                    uuid.UUID(a.member_id),
                    a.score,
                    a.distance_m,
                    a.explanation,
                    json.dumps(a.alternatives),
                    a.public_distance_m,
                    json.dumps(a.facts),
                )
                for a in planned
            ],
        )
        await conn.executemany(
            """INSERT INTO match_unfilled (run_id, position, task_id, places, reason,
                   candidates) VALUES ($1, $2, $3, $4, $5, $6)""",
            [
                (key, u.position, uuid.UUID(u.task_id), u.places, u.reason, u.candidates)
                for u in unfilled
            ],
        )

    async def draft_edits(self, run_id: str) -> dict[tuple[str, str], str]:
        rows = await self._pool.fetch(
            "SELECT task_id, member_id, action FROM match_draft_edit WHERE run_id = $1",
            uuid.UUID(run_id),
        )
        return {(str(r["task_id"]), str(r["member_id"])): r["action"] for r in rows}

    async def replace_draft(
        self,
        run_id: str,
        planned: Sequence[PlannedAssignment],
        unfilled: Sequence[UnfilledPlace],
        figures: dict[str, Any],
        edits: dict[tuple[str, str], str],
    ) -> bool:
        key = uuid.UUID(run_id)
        async with self._pool.acquire() as conn, conn.transaction():
            # The row lock orders this against a publish of the same draft.
            state = await conn.fetchval("SELECT state FROM match_run WHERE id = $1 FOR UPDATE", key)
            if state != "draft":
                return False
            for table in ("match_assignment", "match_unfilled", "match_draft_edit"):
                await conn.execute(f"DELETE FROM {table} WHERE run_id = $1", key)
            await self._write_plan(conn, key, planned, unfilled)
            await conn.executemany(
                "INSERT INTO match_draft_edit (run_id, task_id, member_id, action)"
                " VALUES ($1, $2, $3, $4)",
                [
                    (key, uuid.UUID(task), uuid.UUID(member), action)
                    for (task, member), action in edits.items()
                ],
            )
            await conn.execute(
                "UPDATE match_run SET figures = $2::jsonb, finished_at = now() WHERE id = $1",
                key,
                json.dumps(figures),
            )
        return True

    async def publish_draft(
        self, run_id: str, proposals: Sequence[Proposal], actor: Principal, skipped: int
    ) -> bool:
        key = uuid.UUID(run_id)
        async with self._pool.acquire() as conn, conn.transaction():
            done = await conn.execute(
                "UPDATE match_run SET state = 'succeeded', published_at = now(), dry_run = false,"
                " figures = figures || jsonb_build_object('publish_skipped', $2::int)"
                " WHERE id = $1 AND state = 'draft'",
                key,
                skipped,
            )
            if done.split()[-1] != "1":
                return False
            if proposals:
                await self._hold(conn, proposals)
                await self._outbox.add_many(conn, list(proposals), actor)
        return True

    async def _hold(self, conn: asyncpg.Connection, proposals: Sequence[Proposal]) -> None:
        await conn.executemany(
            "INSERT INTO pending_proposal (task_id, member_id, run_id) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            [
                (
                    uuid.UUID(p.task_id),
                    uuid.UUID(p.member_id),
                    uuid.UUID(p.match_run_id) if p.match_run_id else None,  # a standby offer
                )
                for _subject, p in proposals
            ],
        )

    async def propose(self, proposals: Sequence[Proposal]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await self._hold(conn, proposals)
            await self._outbox.add_many(conn, list(proposals), None)

    async def set_figure(self, run_id: str, name: str, value: float) -> None:
        await self._pool.execute(
            "UPDATE match_run SET figures = figures || jsonb_build_object($2::text, $3::float8)"
            " WHERE id = $1",
            uuid.UUID(run_id),
            name,
            value,
        )

    async def fail_run(self, run_id: str, error: str) -> None:
        await self._pool.execute(
            "UPDATE match_run SET state = 'failed', error = $2, finished_at = now()"
            " WHERE id = $1 AND state = 'running'",
            uuid.UUID(run_id),
            error[:500],
        )

    async def get_run(self, run_id: str) -> RunRecord | None:
        try:
            key = uuid.UUID(run_id)
        except ValueError:
            return None
        r = await self._pool.fetchrow("SELECT * FROM match_run WHERE id = $1", key)
        return None if r is None else records.run_record(r)

    async def list_runs(
        self, which: RunFilter, after: tuple[datetime, str] | None, limit: int
    ) -> list[RunRecord]:
        args: list[object] = []

        def arg(v: object) -> str:
            args.append(v)
            return f"${len(args)}"

        clauses = []
        if which.kind is not None:
            clauses.append(f"scope_kind = {arg(which.kind)} AND scope_id = {arg(which.scope_id)}")
        if which.communities is not None or which.streets is not None:
            communities = arg(list(which.communities or []))
            streets = arg(list(which.streets or []))
            clauses.append(
                f"((scope_kind = 'community' AND scope_id = ANY({communities}))"
                f" OR street_id = ANY({streets}))"
            )
        if after is not None:
            clauses.append(f"(created_at, id) < ({arg(after[0])}, {arg(uuid.UUID(after[1]))})")
        where = " AND ".join(clauses) or "true"
        rows = await self._pool.fetch(
            f"SELECT * FROM match_run WHERE {where} ORDER BY created_at DESC, id DESC"
            f" LIMIT {arg(limit)}",
            *args,
        )
        return [records.run_record(r) for r in rows]

    async def planned(self, run_id: str, after: int, limit: int) -> list[PlannedAssignment]:
        rows = await self._pool.fetch(
            "SELECT * FROM match_assignment WHERE run_id = $1 AND position > $2"
            " ORDER BY position LIMIT $3",
            uuid.UUID(run_id),
            after,
            limit,
        )
        return [records.planned_assignment(r) for r in rows]

    async def unfilled(self, run_id: str, after: int, limit: int) -> list[UnfilledPlace]:
        rows = await self._pool.fetch(
            "SELECT * FROM match_unfilled WHERE run_id = $1 AND position > $2"
            " ORDER BY position LIMIT $3",
            uuid.UUID(run_id),
            after,
            limit,
        )
        return [records.unfilled_place(r) for r in rows]
