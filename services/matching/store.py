"""The matching service's SQL: its read model and the record of its runs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from google.protobuf import message as pb_message

from linli.v1 import events_pb2, registry_pb2, tasks_pb2
from services.common.auth import Principal
from services.common.eventbus import Outbox
from services.common.protoconv import (
    ASSIGNMENT_STATE_WORDS,
    BENEFICIARY_FROM_PROTO,
    TASK_STATUS_WORDS,
    time_from_proto,
)
from services.common.values import Beneficiary, WeeklyWindow
from services.matching import events
from services.matching.solver.result import Result
from services.matching.world import CommitmentRow, MemberRow, Scope, TaskRow, World


def member_row(r: asyncpg.Record) -> MemberRow:
    return MemberRow(
        id=str(r["id"]),
        community_id=r["community_id"],
        street_id=r["street_id"],
        active=r["active"],
        reported_in=r["reported_in"],
        lat=r["lat"],
        lng=r["lng"],
        skills=json.loads(r["skills"]),
        availability=tuple(WeeklyWindow(*w) for w in json.loads(r["availability"])),
        hours_per_month=r["hours_per_month"],
    )


def task_row(r: asyncpg.Record) -> TaskRow:
    return TaskRow(
        id=str(r["id"]),
        community_id=r["community_id"],
        street_id=r["street_id"],
        street_wide=r["street_wide"],
        lat=r["lat"],
        lng=r["lng"],
        skills=tuple((s, lvl) for s, lvl in json.loads(r["skills"])),
        headcount=r["headcount"],
        places_taken=r["places_taken"],
        start=r["window_start"],
        end=r["window_end"],
        flexible=r["flexible"],
        effort_hours=r["effort_hours"],
        beneficiary=r["beneficiary"],
        status=r["status"],
        posted_at=r["posted_at"],
    )


def commitment_row(r: asyncpg.Record) -> CommitmentRow:
    return CommitmentRow(
        assignment_id=str(r["assignment_id"]),
        member_id=str(r["member_id"]),
        task_id=str(r["task_id"]),
        state=r["state"],
        start=r["window_start"],
        end=r["window_end"],
        flexible=r["flexible"],
        effort_hours=r["effort_hours"],
        hours=r["hours"],
    )


class MatchingStore:
    def __init__(self, pool: asyncpg.Pool, outbox: Outbox) -> None:
        self._pool = pool
        self._outbox = outbox

    # -- read model ----------------------------------------------------------------------------

    async def apply_community(self, conn: asyncpg.Connection, c: registry_pb2.Community) -> None:
        await conn.execute(
            "INSERT INTO community (id, street_id) VALUES ($1, $2)"
            " ON CONFLICT (id) DO UPDATE SET street_id = $2",
            c.id,
            c.street_id,
        )

    async def apply_member(self, conn: asyncpg.Connection, m: registry_pb2.Member) -> None:
        street = (
            await conn.fetchval("SELECT street_id FROM community WHERE id = $1", m.community_id)
            if m.community_id
            else None
        )
        await conn.execute(
            """INSERT INTO member (id, community_id, street_id, active, reported_in, lat, lng,
                   skills, availability, hours_per_month, version)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11)
               ON CONFLICT (id) DO UPDATE SET community_id = $2, street_id = $3, active = $4,
                   reported_in = $5, lat = $6, lng = $7, skills = $8::jsonb,
                   availability = $9::jsonb, hours_per_month = $10, version = $11
               WHERE member.version <= $11""",
            uuid.UUID(m.id),
            m.community_id or None,
            street,
            m.status == registry_pb2.MEMBER_STATUS_ACTIVE,
            m.HasField("reported_in_time") and bool(m.community_id),
            m.home.latitude if m.HasField("home") else None,
            m.home.longitude if m.HasField("home") else None,
            json.dumps({s.skill: s.level for s in m.skills}),
            json.dumps([[w.day, w.start_minute, w.end_minute] for w in m.availability]),
            m.hours_per_month,
            time_from_proto(m.update_time),
        )

    async def apply_task(self, conn: asyncpg.Connection, t: tasks_pb2.Task) -> None:
        await conn.execute(
            """INSERT INTO task (id, community_id, street_id, street_wide, lat, lng, skills,
                   headcount, places_taken, window_start, window_end, flexible, effort_hours,
                   beneficiary, status, posted_at, version)
               VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13, $14, $15,
                       $16, $17)
               ON CONFLICT (id) DO UPDATE SET places_taken = $9, status = $15, version = $17
               WHERE task.version <= $17""",
            uuid.UUID(t.id),
            t.community_id,
            t.street_id,
            t.street_wide,
            t.location.latitude,
            t.location.longitude,
            json.dumps([[s.skill, s.min_level] for s in t.skills]),
            t.headcount,
            t.places_taken,
            time_from_proto(t.window.start),
            time_from_proto(t.window.end),
            t.window.flexible,
            t.effort_hours,
            BENEFICIARY_FROM_PROTO.get(t.beneficiary_group, Beneficiary.OTHER).value,
            TASK_STATUS_WORDS.get(t.status, "open"),
            time_from_proto(t.create_time),
            time_from_proto(t.update_time),
        )

    async def apply_assignment(
        self, conn: asyncpg.Connection, a: tasks_pb2.Assignment, t: tasks_pb2.Task
    ) -> None:
        await conn.execute(
            """INSERT INTO commitment (assignment_id, member_id, task_id, state, window_start,
                   window_end, flexible, effort_hours, hours, version)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
               ON CONFLICT (assignment_id) DO UPDATE SET state = $4, hours = $9, version = $10
               WHERE commitment.version <= $10""",
            uuid.UUID(a.id),
            uuid.UUID(a.member_id),
            uuid.UUID(a.task_id),
            ASSIGNMENT_STATE_WORDS.get(a.state, "proposed"),
            time_from_proto(t.window.start),
            time_from_proto(t.window.end),
            t.window.flexible,
            t.effort_hours,
            a.hours,
            time_from_proto(a.update_time),
        )

    async def refuse(
        self, conn: asyncpg.Connection, task_id: str, member_id: str, reason: str
    ) -> None:
        await conn.execute(
            "INSERT INTO refusal (task_id, member_id, reason) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            uuid.UUID(task_id),
            uuid.UUID(member_id),
            reason,
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
                world.put_member(member_row(r))
            for r in await conn.fetch("SELECT * FROM task WHERE status IN ('open', 'filled')"):
                world.put_task(task_row(r))
            for r in await conn.fetch("SELECT * FROM commitment"):
                world.put_commitment(commitment_row(r))
            for r in await conn.fetch("SELECT task_id, member_id FROM refusal"):
                world.refuse(str(r["task_id"]), str(r["member_id"]))
            for r in await conn.fetch("SELECT task_id, member_id FROM pending_proposal"):
                world.offer(str(r["task_id"]), str(r["member_id"]))

    async def communities(self, world: World) -> None:
        """Bring the world's communities up to date with the read model."""
        for r in await self._pool.fetch("SELECT id, street_id FROM community"):
            world.put_community(r["id"], r["street_id"])

    async def answered(self, conn: asyncpg.Connection, task_id: str, member_id: str) -> None:
        """The task service answered for a proposal (an assignment, or a rejection)."""
        await conn.execute(
            "DELETE FROM pending_proposal WHERE task_id = $1 AND member_id = $2",
            uuid.UUID(task_id),
            uuid.UUID(member_id),
        )

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
                    world.put_member(member_row(r))
            if tasks:
                for r in await conn.fetch(
                    "SELECT * FROM task WHERE id = ANY($1::uuid[])", [uuid.UUID(t) for t in tasks]
                ):
                    world.put_task(task_row(r))
                for r in await conn.fetch(
                    "SELECT task_id, member_id FROM refusal WHERE task_id = ANY($1::uuid[])",
                    [uuid.UUID(t) for t in tasks],
                ):
                    world.refuse(str(r["task_id"]), str(r["member_id"]))
            if assignments:
                for r in await conn.fetch(
                    "SELECT * FROM commitment WHERE assignment_id = ANY($1::uuid[])",
                    [uuid.UUID(a) for a in assignments],
                ):
                    world.put_commitment(commitment_row(r))

    # -- runs ----------------------------------------------------------------------------------

    async def set_figure(self, run_id: str, name: str, value: float) -> None:
        await self._pool.execute(
            "UPDATE match_run SET figures = figures || jsonb_build_object($2::text, $3::float8)"
            " WHERE id = $1",
            uuid.UUID(run_id),
            name,
            value,
        )

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
        connection; the row itself is the lock, across every replica of the service."""
        async with self._pool.acquire() as conn, conn.transaction():
            # Serialises the check and the insert between concurrent starts (released at commit).
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('matching:runs'))")
            await self._fail_lapsed(conn, lease_s)
            clash = await conn.fetchval(
                """SELECT id FROM match_run WHERE state = 'running' AND (
                       $1 = 'district' OR scope_kind = 'district'
                       OR (street_id = $3
                           AND ($1 = 'street' OR scope_kind = 'street' OR scope_id = $2)))
                   ORDER BY created_at LIMIT 1""",
                scope.kind,
                scope.id,
                street_id,
            )
            if clash is not None:
                return None, str(clash)
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

    async def renew(self, run_id: str) -> None:
        await self._pool.execute(
            "UPDATE match_run SET heartbeat_at = now() WHERE id = $1 AND state = 'running'",
            uuid.UUID(run_id),
        )

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
        result: Result,
        figures: dict[str, Any],
        proposals: list[tuple[str, pb_message.Message]],
        actor: Principal,
        public_distance: Callable[[str, str], float],
    ) -> None:
        """Record the plan, its figures and (in the same transaction) its proposals, which hold
        their places until the task service answers for them."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.executemany(
                """INSERT INTO match_assignment (run_id, position, task_id, member_id, score,
                       distance_m, explanation, alternatives, public_distance_m, facts)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10::jsonb)""",
                [
                    (
                        uuid.UUID(run_id),
                        n,
                        uuid.UUID(a.task_id),
                        uuid.UUID(a.member_id),
                        a.score,
                        a.distance_m,
                        a.explanation(),
                        json.dumps(
                            [
                                [
                                    x.member_id,
                                    x.score,
                                    x.distance_m,
                                    x.status,
                                    public_distance(a.task_id, x.member_id),
                                    x.skill_fit,
                                    x.reliability,
                                ]
                                for x in a.alternatives
                            ]
                        ),
                        public_distance(a.task_id, a.member_id),
                        json.dumps(
                            {
                                "skill_fit": a.skill_fit,
                                "load_hours": a.member_load_hours,
                                "reliability": a.reliability,
                                "rank": a.rank,
                            }
                        ),
                    )
                    for n, a in enumerate(result.assignments)
                ],
            )
            await conn.executemany(
                """INSERT INTO match_unfilled (run_id, position, task_id, places, reason,
                       candidates) VALUES ($1, $2, $3, $4, $5, $6)""",
                [
                    (uuid.UUID(run_id), n, uuid.UUID(u.task_id), u.places, u.reason, u.candidates)
                    for n, u in enumerate(result.unfilled)
                ],
            )
            await conn.execute(
                "UPDATE match_run SET state = 'succeeded', figures = $2::jsonb,"
                " finished_at = now() WHERE id = $1",
                uuid.UUID(run_id),
                json.dumps(figures),
            )
            if proposals:
                await self._hold(conn, proposals)
                await self._outbox.add_many(conn, proposals, actor)

    async def _hold(
        self, conn: asyncpg.Connection, proposals: list[tuple[str, pb_message.Message]]
    ) -> None:
        await conn.executemany(
            "INSERT INTO pending_proposal (task_id, member_id, run_id) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            [
                (uuid.UUID(p.task_id), uuid.UUID(p.member_id), uuid.UUID(p.match_run_id))
                for _subject, p in proposals
                if isinstance(p, events_pb2.ProposalMade)
            ],
        )

    async def fail_run(self, run_id: str, error: str) -> None:
        await self._pool.execute(
            "UPDATE match_run SET state = 'failed', error = $2, finished_at = now()"
            " WHERE id = $1 AND state = 'running'",
            uuid.UUID(run_id),
            error[:500],
        )

    async def get_run(self, run_id: str) -> asyncpg.Record | None:
        try:
            key = uuid.UUID(run_id)
        except ValueError:
            return None
        return await self._pool.fetchrow("SELECT * FROM match_run WHERE id = $1", key)

    async def list_runs(
        self,
        *,
        kind: str | None,
        scope_id: str,
        after: tuple[datetime, str] | None,
        limit: int,
        communities: Sequence[str] | None = None,
        streets: Sequence[str] | None = None,
    ) -> list[asyncpg.Record]:
        """Runs newest first: of one scope (kind and id), or of any of these communities and
        streets (a street's runs include its communities'), or all of them."""
        args: list[object] = []

        def arg(v: object) -> str:
            args.append(v)
            return f"${len(args)}"

        clauses = []
        if kind is not None:
            clauses.append(f"scope_kind = {arg(kind)} AND scope_id = {arg(scope_id)}")
        if communities is not None or streets is not None:
            clauses.append(
                f"((scope_kind = 'community' AND scope_id = ANY({arg(list(communities or []))}))"
                f" OR street_id = ANY({arg(list(streets or []))}))"
            )
        if after is not None:
            clauses.append(f"(created_at, id) < ({arg(after[0])}, {arg(uuid.UUID(after[1]))})")
        where = " AND ".join(clauses) or "true"
        return await self._pool.fetch(  # type: ignore[no-any-return]
            f"SELECT * FROM match_run WHERE {where} ORDER BY created_at DESC, id DESC"
            f" LIMIT {arg(limit)}",
            *args,
        )

    async def run_rows(
        self, table: str, run_id: str, after: int, limit: int
    ) -> list[asyncpg.Record]:
        assert table in ("match_assignment", "match_unfilled")
        return await self._pool.fetch(  # type: ignore[no-any-return]
            f"SELECT * FROM {table} WHERE run_id = $1 AND position > $2 ORDER BY position LIMIT $3",
            uuid.UUID(run_id),
            after,
            limit,
        )

    async def propose(self, items: list[tuple[str, pb_message.Message]]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await self._hold(conn, items)
            await self._outbox.add_many(conn, items, None)


def proposal(
    run_id: str, task_id: str, member_id: str, rank: int, why: str
) -> tuple[str, pb_message.Message]:
    return events.PROPOSAL_MADE, events_pb2.ProposalMade(
        match_run_id=run_id, task_id=task_id, member_id=member_id, rank=rank, explanation=why
    )
