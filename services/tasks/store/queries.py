"""The task service's reads: tasks, roles and assignments as lists and searches, and a
member's record of service."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime

from services.common.values import PUBLIC_DEGREES, Beneficiary, LatLng, month_start, year_start
from services.tasks.domain import (
    Assignment,
    AssignmentState,
    MemberRecord,
    Task,
    TaskStatus,
    VolunteerRole,
)
from services.tasks.store.base import StoreBase
from services.tasks.store.records import (
    assignment_from_record,
    role_from_record,
    task_from_record,
)
from services.tasks.store.scope import DEADLINE_SQL, Scope


class Queries(StoreBase):
    async def get_role(self, role_id: str) -> tuple[VolunteerRole, str] | None:
        try:
            key = uuid.UUID(role_id)
        except ValueError:
            return None
        r = await self._pool.fetchrow(
            "SELECT r.*, c.street_id AS street FROM role r LEFT JOIN community c"
            " ON c.id = r.community_id WHERE r.id = $1",
            key,
        )
        return None if r is None else (role_from_record(r), r["street"] or "")

    async def list_roles(
        self, community_ids: Sequence[str] | None, after: str | None, limit: int
    ) -> list[VolunteerRole]:
        rows = await self._pool.fetch(
            """SELECT * FROM role WHERE ($1::text[] IS NULL OR community_id = ANY($1::text[]))
               AND ($2::uuid IS NULL OR id > $2::uuid) ORDER BY id LIMIT $3""",
            list(community_ids) if community_ids is not None else None,
            uuid.UUID(after) if after else None,
            limit,
        )
        return [role_from_record(r) for r in rows]

    async def list_tasks(
        self,
        scope: Scope,
        *,
        community_id: str,
        statuses: Sequence[TaskStatus],
        beneficiary: Beneficiary | None,
        skill: str,
        start_after: datetime | None,
        start_before: datetime | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Task]:
        args: list[object] = []

        def arg(value: object) -> str:
            args.append(value)
            return f"${len(args)}"

        clauses = [scope.sql(args)]
        if community_id:
            clauses.append(f"t.community_id = {arg(community_id)}")
        if statuses:
            clauses.append(f"t.status = ANY({arg([s.value for s in statuses])}::text[])")
        if beneficiary is not None:
            clauses.append(f"t.beneficiary = {arg(beneficiary.value)}")
        if skill:
            clauses.append(f"t.skills @> {arg(json.dumps([{'skill': skill}]))}::jsonb")
        if start_after is not None:
            clauses.append(f"t.window_start >= {arg(start_after)}")
        if start_before is not None:
            clauses.append(f"t.window_start < {arg(start_before)}")
        if after is not None:
            clauses.append(
                f"(t.window_start, t.id) > ({arg(after[0])}, {arg(uuid.UUID(after[1]))})"
            )
        rows = await self._pool.fetch(
            f"SELECT t.* FROM task t WHERE {' AND '.join(clauses)}"
            f" ORDER BY t.window_start, t.id LIMIT {arg(limit)}",
            *args,
        )
        return [task_from_record(r) for r in rows]

    async def nearby(
        self,
        scope: Scope,
        near: LatLng,
        radius_m: float,
        limit: int,
        now: datetime,
        exact: bool,
    ) -> list[Task]:
        """Open tasks within `radius_m` of `near`, nearest first. Unless `exact`, a wish's
        distance (and the reach test) is measured to its public, rounded place: otherwise the
        distances seen from a few points would give away a resident's home."""
        args: list[object] = [near.lat, near.lng, radius_m, now, limit, PUBLIC_DEGREES, exact]
        where = scope.sql(args)
        place = (
            "CASE WHEN $7 OR t.kind = 'role_occurrence' THEN ll_to_earth(t.lat, t.lng)"
            " ELSE ll_to_earth(round(t.lat / $6) * $6, round(t.lng / $6) * $6) END"
        )
        rows = await self._pool.fetch(
            f"""SELECT * FROM (
                    SELECT t.*, earth_distance(ll_to_earth($1, $2), {place}) AS distance_m
                    FROM task t
                    WHERE t.status = 'open'
                      -- the index finds candidates; rounding moves a place by at most ~250 m
                      AND earth_box(ll_to_earth($1, $2), $3 + 400) @> ll_to_earth(t.lat, t.lng)
                      AND {DEADLINE_SQL} > $4 AND {where}) AS t
                WHERE t.distance_m <= $3
                ORDER BY t.distance_m, t.id LIMIT $5""",
            *args,
        )
        return [task_from_record(r) for r in rows]

    async def list_assignments(
        self,
        *,
        task_id: str,
        member_id: str,
        states: Sequence[AssignmentState],
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Assignment]:
        clauses: list[str] = []
        keys: list[uuid.UUID] = []
        if task_id:
            keys.append(uuid.UUID(task_id))
            clauses.append(f"task_id = ${len(keys)}")
        if member_id:
            keys.append(uuid.UUID(member_id))
            clauses.append(f"member_id = ${len(keys)}")
        n = len(keys)
        rows = await self._pool.fetch(
            f"""SELECT * FROM assignment WHERE {" AND ".join(clauses)}
                AND (cardinality(${n + 1}::text[]) = 0 OR state = ANY(${n + 1}::text[]))
                AND (${n + 2}::timestamptz IS NULL OR (created_at, id) > (${n + 2}, ${n + 3}::uuid))
                ORDER BY created_at, id LIMIT ${n + 4}""",
            *keys,
            [s.value for s in states],
            after[0] if after else None,
            uuid.UUID(after[1]) if after else None,
            limit,
        )
        return [assignment_from_record(r) for r in rows]

    async def held_tasks(self, member_id: str, task_ids: Sequence[str]) -> set[str]:
        """Of these tasks, those the member is (or was) accepted on: entitled to the exact place."""
        if not task_ids:
            return set()
        rows = await self._pool.fetch(
            """SELECT DISTINCT task_id FROM assignment WHERE member_id = $1
               AND task_id = ANY($2::uuid[]) AND state IN ('accepted', 'completed', 'no_show')""",
            uuid.UUID(member_id),
            [uuid.UUID(t) for t in task_ids],
        )
        return {str(r["task_id"]) for r in rows}

    async def member_record(self, member_id: str, now: datetime) -> MemberRecord:
        # A task's hours are its current confirmed record's where staff confirmed them, else
        # what completion said; confirmed records of tasks the member did not complete (a
        # request approved) count too.
        r = await self._pool.fetchrow(
            """WITH served AS (
                 SELECT a.state, coalesce(h.minutes / 60.0, a.hours) AS hours,
                        coalesce(a.served_at, h.occurred_at) AS served_at
                   FROM assignment a LEFT JOIN hours_record h ON h.task_id = a.task_id
                    AND h.member_id = a.member_id AND h.state = 'confirmed'
                    AND a.state = 'completed'
                  WHERE a.member_id = $1
                 UNION ALL
                 SELECT 'completed', h.minutes / 60.0, h.occurred_at FROM hours_record h
                  WHERE h.member_id = $1 AND h.state = 'confirmed' AND NOT EXISTS (
                        SELECT 1 FROM assignment a WHERE a.task_id = h.task_id
                           AND a.member_id = h.member_id AND a.state = 'completed'))
               SELECT
                 coalesce(sum(hours) FILTER (WHERE state = 'completed' AND served_at >= $2), 0)
                     AS m,
                 coalesce(sum(hours) FILTER (WHERE state = 'completed' AND served_at >= $3), 0)
                     AS y,
                 coalesce(sum(hours) FILTER (WHERE state = 'completed'), 0) AS total,
                 count(*) FILTER (WHERE state = 'completed') AS done,
                 count(*) FILTER (WHERE state = 'no_show') AS no_shows,
                 count(*) FILTER (WHERE state = 'accepted') AS upcoming
               FROM served""",
            uuid.UUID(member_id),
            month_start(now),
            year_start(now),
        )
        return MemberRecord(
            member_id,
            float(r["m"]),
            float(r["y"]),
            float(r["total"]),
            r["done"],
            r["no_shows"],
            r["upcoming"],
        )
