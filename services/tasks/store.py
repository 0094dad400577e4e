"""The task service's SQL: the only module that reads or writes its tables.

Every change runs in one transaction with the outbox rows of its events. Changes to a task and its
places take the task's row lock first (then its assignments'), so concurrent claims, answers and
sweeps on one task happen one after another; the database's own constraints (capacity checks and
an exclusion constraint against double-booking) stand behind the code.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg
from asyncpg import Range

from services.common.auth import Principal
from services.common.errors import FailedPrecondition, NotFound
from services.common.eventbus import Outbox
from services.common.values import PUBLIC_DEGREES, LatLng, month_start, year_start
from services.tasks import events
from services.tasks.domain import (
    HOLDS_PLACE,
    Assignment,
    AssignmentSource,
    AssignmentState,
    Beneficiary,
    ClaimRefusal,
    MemberRecord,
    MemberView,
    OneOffSchedule,
    Outcome,
    Refusal,
    RequiredSkill,
    RoleDraft,
    Task,
    TaskKind,
    TaskStatus,
    VolunteerRole,
    WeeklySchedule,
    Window,
    Wish,
    WishDraft,
    claim_problem,
    claimable,
    member_refusal,
    occurrences,
    require_assignment_transition,
    require_task_transition,
    status_for_places,
    task_refusal,
)

# common.values.claim_deadline in SQL, the expression the task_due index is built on.
DEADLINE_SQL = "(CASE WHEN t.flexible THEN t.window_end ELSE t.window_start END)"


def refused(verb: str, why: ClaimRefusal) -> FailedPrecondition:
    """CLAIM_REFUSED with the machine-readable sub-reason in the ErrorInfo's `refusal`."""
    return FailedPrecondition(
        f"cannot {verb}: {why.message}", "CLAIM_REFUSED", refusal=why.refusal.value
    )


def time_conflict(verb: str, clash: str | None = None) -> FailedPrecondition:
    detail = f" ({clash})" if clash else ""
    return refused(
        verb,
        ClaimRefusal(
            Refusal.TIME_CONFLICT, f"the member has another accepted task at that time{detail}"
        ),
    )


def _skills_json(skills: tuple[RequiredSkill, ...]) -> str:
    return json.dumps([{"skill": s.skill, "min_level": s.min_level} for s in skills])


def _skills(raw: str) -> tuple[RequiredSkill, ...]:
    return tuple(RequiredSkill(s["skill"], s["min_level"]) for s in json.loads(raw))


def task_from_record(r: asyncpg.Record) -> Task:
    return Task(
        id=str(r["id"]),
        kind=TaskKind(r["kind"]),
        source_id=str(r["source_id"]),
        community_id=r["community_id"],
        street_id=r["street_id"],
        street_wide=r["street_wide"],
        title=r["title"],
        description=r["description"],
        beneficiary=Beneficiary(r["beneficiary"]),
        location=LatLng(r["lat"], r["lng"]),
        address=r["address"],
        skills=_skills(r["skills"]),
        headcount=r["headcount"],
        places_taken=r["places_taken"],
        accepted=r["accepted"],
        window=Window(r["window_start"], r["window_end"], r["flexible"]),
        effort_hours=r["effort_hours"],
        status=TaskStatus(r["status"]),
        cancel_reason=r["cancel_reason"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        distance_m=r.get("distance_m", 0.0),
    )


def assignment_from_record(r: asyncpg.Record) -> Assignment:
    return Assignment(
        id=str(r["id"]),
        task_id=str(r["task_id"]),
        member_id=str(r["member_id"]),
        state=AssignmentState(r["state"]),
        source=AssignmentSource(r["source"]),
        expires_at=r["expires_at"],
        match_run_id=r["match_run_id"],
        hours=r["hours"],
        reason=r["reason"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def _schedule_json(schedule: WeeklySchedule | OneOffSchedule | None) -> str:
    if isinstance(schedule, WeeklySchedule):
        return json.dumps(
            {
                "weekly": {
                    "days": list(schedule.days),
                    "start": schedule.start_minute,
                    "end": schedule.end_minute,
                    "first": schedule.first_date.isoformat() if schedule.first_date else None,
                    "last": schedule.last_date.isoformat() if schedule.last_date else None,
                }
            }
        )
    assert isinstance(schedule, OneOffSchedule) and schedule.window is not None
    return json.dumps(
        {
            "once": {
                "start": schedule.window.start.isoformat(),
                "end": schedule.window.end.isoformat(),
            }
        }
    )


def _schedule(raw: str) -> WeeklySchedule | OneOffSchedule:
    data = json.loads(raw)
    if "weekly" in data:
        w = data["weekly"]
        return WeeklySchedule(
            tuple(w["days"]),
            w["start"],
            w["end"],
            date.fromisoformat(w["first"]) if w["first"] else None,
            date.fromisoformat(w["last"]) if w["last"] else None,
        )
    o = data["once"]
    return OneOffSchedule(
        Window(datetime.fromisoformat(o["start"]), datetime.fromisoformat(o["end"]))
    )


def role_from_record(r: asyncpg.Record) -> VolunteerRole:
    draft = RoleDraft(
        community_id=r["community_id"],
        unit_id=r["unit_id"],
        title=r["title"],
        description=r["description"],
        beneficiary=Beneficiary(r["beneficiary"]),
        location=LatLng(r["lat"], r["lng"]),
        skills=_skills(r["skills"]),
        headcount=r["headcount"],
        effort_hours=r["effort_hours"],
        schedule=_schedule(r["schedule"]),
        street_wide=r["street_wide"],
    )
    return VolunteerRole(str(r["id"]), draft, r["ended_at"] is not None, r["created_at"])


def wish_from_record(r: asyncpg.Record) -> Wish:
    draft = WishDraft(
        community_id=r["community_id"],
        title=r["title"],
        description=r["description"],
        beneficiary=Beneficiary(r["beneficiary"]),
        location=LatLng(r["lat"], r["lng"]),
        address=r["address"],
        skills=_skills(r["skills"]),
        headcount=r["headcount"],
        window=Window(r["window_start"], r["window_end"], r["flexible"]),
        effort_hours=r["effort_hours"],
    )
    return Wish(str(r["id"]), draft, str(r["task_id"]), r["created_at"])


@dataclass(frozen=True)
class Scope:
    """Which tasks a list or search may return: None everywhere means no limit."""

    community_ids: Sequence[str] | None = None
    street_ids: Sequence[str] | None = None
    # For members: their community, plus street-wide tasks of their street.
    member_community: str | None = None
    member_street: str | None = None

    def sql(self, args: list[object]) -> str:
        def arg(value: object) -> str:
            args.append(value)
            return f"${len(args)}"

        if self.member_community is not None:
            return (
                f"(t.community_id = {arg(self.member_community)} OR "
                f"(t.street_wide AND t.street_id = {arg(self.member_street)}))"
            )
        clauses = []
        if self.community_ids is not None:
            clauses.append(f"t.community_id = ANY({arg(list(self.community_ids))}::text[])")
        if self.street_ids is not None:
            clauses.append(f"t.street_id = ANY({arg(list(self.street_ids))}::text[])")
        return "(" + " OR ".join(clauses) + ")" if clauses else "true"


class TaskStore:
    def __init__(self, pool: asyncpg.Pool, outbox: Outbox) -> None:
        self._pool = pool
        self._outbox = outbox

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn

    async def _emit(
        self, conn: asyncpg.Connection, items: list[events.Event], actor: Principal | None
    ) -> None:
        if items:
            await self._outbox.add_many(conn, items, actor)

    # -- read model ----------------------------------------------------------------------------

    async def apply_community(
        self, conn: asyncpg.Connection, community_id: str, street_id: str, station: LatLng
    ) -> None:
        await conn.execute(
            """INSERT INTO community (id, street_id, station_lat, station_lng)
               VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET street_id = $2,
               station_lat = $3, station_lng = $4""",
            community_id,
            street_id,
            station.lat,
            station.lng,
        )

    async def apply_member(
        self,
        conn: asyncpg.Connection,
        view: MemberView,
        *,
        skills: str,
        availability: str,
        hours_per_month: int,
        home: LatLng | None,
        version: datetime,
    ) -> None:
        await conn.execute(
            """INSERT INTO member (id, community_id, street_id, active, reported_in, skills,
                   availability, hours_per_month, home_lat, home_lng, version)
               VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, $11)
               ON CONFLICT (id) DO UPDATE SET community_id = $2, street_id = $3, active = $4,
                   reported_in = $5, skills = $6::jsonb, availability = $7::jsonb,
                   hours_per_month = $8, home_lat = $9, home_lng = $10, version = $11
               WHERE member.version <= $11""",
            uuid.UUID(view.id),
            view.community_id,
            view.street_id,
            view.active,
            view.reported_in,
            skills,
            availability,
            hours_per_month,
            home.lat if home else None,
            home.lng if home else None,
            version,
        )

    async def apply_unit(self, conn: asyncpg.Connection, unit_id: str, community_id: str) -> None:
        await conn.execute(
            """INSERT INTO unit (id, community_id) VALUES ($1, $2)
               ON CONFLICT (id) DO UPDATE SET community_id = $2""",
            unit_id,
            community_id,
        )

    async def unit_exists(self, unit_id: str) -> bool:
        return bool(await self._pool.fetchval("SELECT true FROM unit WHERE id = $1", unit_id))

    async def member_known(self, member_id: str) -> bool:
        try:
            key = uuid.UUID(member_id)
        except ValueError:
            return False
        return bool(await self._pool.fetchval("SELECT true FROM member WHERE id = $1", key))

    async def release_places(self, conn: asyncpg.Connection, member_id: str) -> int:
        """Release the places (proposed or accepted, on tasks still taking places) that the
        member could no longer take as they now stand: deactivated, or moved to a community
        whose scope the task is outside. Each is announced as a withdrawal, so that matching
        offers it again. Returns how many were released."""
        await self._lock_member(conn, member_id)
        member = await self.member_view(conn, member_id)
        rows = await conn.fetch(
            """SELECT DISTINCT a.task_id FROM assignment a JOIN task t ON t.id = a.task_id
               WHERE a.member_id = $1 AND a.state IN ('proposed', 'accepted')
               AND t.status IN ('open', 'filled') ORDER BY a.task_id""",
            uuid.UUID(member_id),
        )
        released = 0
        for row in rows:  # in id order, as every writer locks tasks
            task = await self._lock_task(conn, str(row["task_id"]))
            why = member_refusal(member, task.community_id, task.street_id, task.street_wide)
            if why is None or task.status not in (TaskStatus.OPEN, TaskStatus.FILLED):
                continue
            items: list[events.Event] = []
            for a in await self._live_assignments(conn, task.id):
                if a.member_id != member_id:
                    continue
                changed = await self._set_assignment(
                    conn, a, AssignmentState.WITHDRAWN, reason=f"released: {why.message}"
                )
                task = await self._set_task(
                    conn,
                    task,
                    places_delta=-1,
                    accepted_delta=-1 if a.state is AssignmentState.ACCEPTED else 0,
                )
                items.append(events.assignment_changed("withdrawn", changed, task))
                released += 1
            await self._emit(conn, items, None)
        return released

    async def street_of(self, conn: asyncpg.Connection, community_id: str) -> str | None:
        return await conn.fetchval(  # type: ignore[no-any-return]
            "SELECT street_id FROM community WHERE id = $1", community_id
        )

    async def member_view(
        self, conn: asyncpg.Connection | None, member_id: str
    ) -> MemberView | None:
        try:
            key = uuid.UUID(member_id)
        except ValueError:
            return None
        runner = conn or self._pool
        r = await runner.fetchrow(
            "SELECT id, community_id, street_id, active, reported_in FROM member WHERE id = $1", key
        )
        if r is None:
            return None
        return MemberView(
            str(r["id"]), r["community_id"], r["street_id"], r["active"], r["reported_in"]
        )

    # -- wishes and roles ----------------------------------------------------------------------

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
    ) -> tuple[Wish, Task, str]:
        """Post the wish, or find what this caller's request_id posted before: the wish, its
        task and the fingerprint of the request that posted it (the caller compares)."""
        wish_id, task_id = uuid.uuid4(), uuid.uuid4()
        assert draft.window is not None and draft.location is not None and draft.beneficiary
        w = draft.window
        try:
            async with self.transaction() as conn:
                r = await conn.fetchrow(
                    """INSERT INTO wish (id, request_id, community_id, title, description,
                           beneficiary, lat, lng, address, skills, headcount, window_start,
                           window_end, flexible, effort_hours, task_id, created_by, request_hash)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14,
                               $15, $16, $17, $18) RETURNING *""",
                    wish_id,
                    request_id,
                    draft.community_id,
                    draft.title,
                    draft.description,
                    draft.beneficiary.value,
                    draft.location.lat,
                    draft.location.lng,
                    draft.address,
                    _skills_json(draft.skills),
                    draft.headcount,
                    w.start,
                    w.end,
                    w.flexible,
                    draft.effort_hours,
                    task_id,
                    actor.subject,
                    request_hash,
                )
                task = await self._insert_task(
                    conn,
                    task_id=task_id,
                    kind=TaskKind.WISH,
                    source_id=wish_id,
                    draft=draft,
                    window=w,
                    street_id=street_id,
                    street_wide=False,
                    address=draft.address,
                )
                assert task is not None
                await self._emit(conn, [events.task_posted(task)], actor)
                return wish_from_record(r), task, request_hash
        except asyncpg.UniqueViolationError:
            # A concurrent call with the same request_id won: answer as it did, if it asked for
            # the same thing (the caller checks the fingerprint returned).
            found = await self.find_wish(actor.subject, request_id)
            if found is None:
                raise
            return found

    async def _insert_task(
        self,
        conn: asyncpg.Connection,
        *,
        task_id: uuid.UUID,
        kind: TaskKind,
        source_id: uuid.UUID,
        draft: WishDraft | RoleDraft,
        window: Window,
        street_id: str,
        street_wide: bool,
        address: str,
    ) -> Task | None:
        """Insert a task; None when this role occurrence exists already."""
        assert draft.location is not None and draft.beneficiary is not None
        r = await conn.fetchrow(
            """INSERT INTO task (id, kind, source_id, community_id, street_id, street_wide, title,
                   description, beneficiary, lat, lng, address, skills, headcount, window_start,
                   window_end, flexible, effort_hours, status)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14, $15,
                       $16, $17, $18, 'open')
               ON CONFLICT (source_id, window_start) DO NOTHING RETURNING *""",
            task_id,
            kind.value,
            source_id,
            draft.community_id,
            street_id,
            street_wide,
            draft.title,
            draft.description,
            draft.beneficiary.value,
            draft.location.lat,
            draft.location.lng,
            address,
            _skills_json(draft.skills),
            draft.headcount,
            window.start,
            window.end,
            window.flexible,
            draft.effort_hours,
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
                           street_wide, generated_until, created_by, request_hash)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12,
                               $13::jsonb, $14, $15, $16, $17) RETURNING *""",
                    role_id,
                    request_id,
                    draft.community_id,
                    draft.unit_id,
                    draft.title,
                    draft.description,
                    draft.beneficiary.value,
                    draft.location.lat,
                    draft.location.lng,
                    _skills_json(draft.skills),
                    draft.headcount,
                    draft.effort_hours,
                    _schedule_json(draft.schedule),
                    draft.street_wide,
                    now,
                    actor.subject,
                    request_hash,
                )
                role = role_from_record(r)
                await self._emit(conn, [events.role_created(role)], actor)
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
        assert role.draft.schedule is not None
        posted = []
        for window in occurrences(role.draft.schedule, since, until):
            task = await self._insert_task(
                conn,
                task_id=uuid.uuid4(),
                kind=TaskKind.ROLE_OCCURRENCE,
                source_id=uuid.UUID(role.id),
                draft=role.draft,
                window=window,
                street_id=street_id,
                street_wide=role.draft.street_wide,
                address="",
            )
            if task is not None:
                posted.append(events.task_posted(task))
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

    async def end_role(
        self, role_id: str, reason: str, actor: Principal, now: datetime
    ) -> tuple[VolunteerRole, int]:
        async with self.transaction() as conn:
            r = await conn.fetchrow(
                "SELECT * FROM role WHERE id = $1 FOR UPDATE", uuid.UUID(role_id)
            )
            if r is None:
                raise NotFound("role", role_id)
            if r["ended_at"] is not None:
                return role_from_record(r), 0
            r = await conn.fetchrow(
                "UPDATE role SET ended_at = $2, end_reason = $3 WHERE id = $1 RETURNING *",
                uuid.UUID(role_id),
                now,
                reason,
            )
            role = role_from_record(r)
            await self._emit(conn, [events.role_ended(role)], actor)
            future = await conn.fetch(
                f"""SELECT t.id FROM task t WHERE t.source_id = $1
                    AND t.status IN ('open', 'filled') AND {DEADLINE_SQL} > $2
                    ORDER BY t.id""",  # tasks are locked in id order by every writer
                uuid.UUID(role_id),
                now,
            )
            for t in future:
                await self._cancel(
                    conn,
                    str(t["id"]),
                    f"role ended: {reason}" if reason else "role ended",
                    actor,
                    None,
                )
            return role, len(future)

    # -- tasks ---------------------------------------------------------------------------------

    async def get_task(self, task_id: str) -> Task | None:
        try:
            key = uuid.UUID(task_id)
        except ValueError:
            return None
        r = await self._pool.fetchrow("SELECT * FROM task WHERE id = $1", key)
        return None if r is None else task_from_record(r)

    async def _lock_task(self, conn: asyncpg.Connection, task_id: str) -> Task:
        try:
            key = uuid.UUID(task_id)
        except ValueError:
            raise NotFound("task", task_id) from None
        r = await conn.fetchrow("SELECT * FROM task WHERE id = $1 FOR UPDATE", key)
        if r is None:
            raise NotFound("task", task_id)
        return task_from_record(r)

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

    async def _live_assignments(self, conn: asyncpg.Connection, task_id: str) -> list[Assignment]:
        rows = await conn.fetch(
            "SELECT * FROM assignment WHERE task_id = $1 AND state = ANY($2::text[])"
            " ORDER BY created_at FOR UPDATE",
            uuid.UUID(task_id),
            [s.value for s in HOLDS_PLACE],
        )
        return [assignment_from_record(r) for r in rows]

    async def _set_assignment(
        self,
        conn: asyncpg.Connection,
        a: Assignment,
        state: AssignmentState,
        *,
        reason: str | None = None,
        hours: float | None = None,
        served_at: datetime | None = None,
    ) -> Assignment:
        r = await conn.fetchrow(
            """UPDATE assignment SET state = $2, reason = COALESCE($3, reason),
                   hours = COALESCE($4, hours), served_at = COALESCE($5, served_at),
                   updated_at = clock_timestamp()
               WHERE id = $1 RETURNING *""",
            uuid.UUID(a.id),
            state.value,
            reason,
            hours,
            served_at,
        )
        return assignment_from_record(r)

    async def _set_task(
        self,
        conn: asyncpg.Connection,
        task: Task,
        *,
        places_delta: int = 0,
        accepted_delta: int = 0,
        status: TaskStatus | None = None,
        cancel_reason: str | None = None,
    ) -> Task:
        """Move a task's counts and status. Without an explicit status an OPEN or FILLED task
        follows its places."""
        places = task.places_taken + places_delta
        new_status = status or (
            status_for_places(places, task.headcount)
            if task.status in (TaskStatus.OPEN, TaskStatus.FILLED)
            else task.status
        )
        r = await conn.fetchrow(
            """UPDATE task SET places_taken = $2, accepted = $3, status = $4,
                   cancel_reason = COALESCE($5, cancel_reason), updated_at = clock_timestamp()
               WHERE id = $1 RETURNING *""",
            uuid.UUID(task.id),
            places,
            task.accepted + accepted_delta,
            new_status.value,
            cancel_reason,
        )
        return task_from_record(r)

    async def _overlapping(
        self, conn: asyncpg.Connection, member_id: str, window: Window
    ) -> str | None:
        """The id of an accepted task of the member that clashes with `window`, if any."""
        if window.flexible:
            return None
        found = await conn.fetchval(
            """SELECT task_id FROM assignment WHERE member_id = $1 AND state = 'accepted'
               AND NOT flexible AND during && tstzrange($2, $3) LIMIT 1""",
            uuid.UUID(member_id),
            window.start,
            window.end,
        )
        return None if found is None else str(found)

    async def _insert_assignment(
        self,
        conn: asyncpg.Connection,
        task: Task,
        member_id: str,
        state: AssignmentState,
        source: AssignmentSource,
        expires_at: datetime | None,
        run_id: str,
    ) -> Assignment:
        w = task.window
        r = await conn.fetchrow(
            """INSERT INTO assignment (id, task_id, member_id, state, source, expires_at,
                   match_run_id, during, flexible)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *""",
            uuid.uuid4(),
            uuid.UUID(task.id),
            uuid.UUID(member_id),
            state.value,
            source.value,
            expires_at,
            run_id,
            Range(w.start, w.end),
            w.flexible,
        )
        return assignment_from_record(r)

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
                live = [
                    a
                    for a in await self._live_assignments(conn, task_id)
                    if a.member_id == member_id
                ]
                if live and live[0].state is AssignmentState.PROPOSED:
                    # Claiming a task one was proposed for is accepting the proposal: the place
                    # is already theirs to take (_accept checks the member and the time).
                    return await self._accept(conn, task, live[0], actor, now)
                member = await self.member_view(conn, member_id)
                problem = member_refusal(
                    member, task.community_id, task.street_id, task.street_wide
                ) or task_refusal(task, now)
                if live:
                    problem = ClaimRefusal(
                        Refusal.ALREADY_HOLDS, "the member already has a place on this task"
                    )
                elif problem is None:
                    clash = await self._overlapping(conn, member_id, task.window)
                    if clash:
                        raise time_conflict("claim", clash)
                if problem is not None:
                    raise refused("claim", problem)
                assignment = await self._insert_assignment(
                    conn,
                    task,
                    member_id,
                    AssignmentState.ACCEPTED,
                    AssignmentSource.CLAIM,
                    None,
                    "",
                )
                task = await self._set_task(conn, task, places_delta=1, accepted_delta=1)
                await self._emit(
                    conn, [events.assignment_changed("claimed", assignment, task)], actor
                )
                return assignment, task
        except asyncpg.ExclusionViolationError:
            raise time_conflict("claim") from None

    async def _accept(
        self, conn: asyncpg.Connection, task: Task, a: Assignment, actor: Principal, now: datetime
    ) -> tuple[Assignment, Task]:
        require_assignment_transition(a.state, AssignmentState.ACCEPTED, "accept")
        if a.expires_at is not None and a.expires_at <= now:
            raise FailedPrecondition("cannot accept: the proposal has expired", "PROPOSAL_EXPIRED")
        if now >= task.window.claim_deadline:
            raise FailedPrecondition("cannot accept: the task's time has passed", "TASK_STARTED")
        member = await self.member_view(conn, a.member_id)
        problem = member_refusal(member, task.community_id, task.street_id, task.street_wide)
        if problem is not None:
            raise refused("accept", problem)
        clash = await self._overlapping(conn, a.member_id, task.window)
        if clash:
            raise time_conflict("accept", clash)
        accepted = await self._set_assignment(conn, a, AssignmentState.ACCEPTED)
        task = await self._set_task(conn, task, accepted_delta=1)
        await self._emit(conn, [events.assignment_changed("accepted", accepted, task)], actor)
        return accepted, task

    async def get_assignment(self, assignment_id: str) -> Assignment | None:
        try:
            key = uuid.UUID(assignment_id)
        except ValueError:
            return None
        r = await self._pool.fetchrow("SELECT * FROM assignment WHERE id = $1", key)
        return None if r is None else assignment_from_record(r)

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
                if target is AssignmentState.ACCEPTED:
                    return await self._accept(conn, task, a, actor, now)
                verb = {AssignmentState.DECLINED: "decline", AssignmentState.WITHDRAWN: "withdraw"}[
                    target
                ]
                require_assignment_transition(a.state, target, verb)
                if target is AssignmentState.WITHDRAWN and now >= task.window.claim_deadline:
                    raise FailedPrecondition(
                        "cannot withdraw: the task has started", "TASK_STARTED"
                    )
                changed = await self._set_assignment(conn, a, target, reason=reason)
                task = await self._set_task(
                    conn,
                    task,
                    places_delta=-1,
                    accepted_delta=-1 if a.state is AssignmentState.ACCEPTED else 0,
                )
                verb_past = {
                    AssignmentState.DECLINED: "declined",
                    AssignmentState.WITHDRAWN: "withdrawn",
                }[target]
                await self._emit(conn, [events.assignment_changed(verb_past, changed, task)], actor)
                return changed, task
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
    ) -> str | None:
        """Turn matching's proposal into a PROPOSED assignment inside the caller's transaction.

        Returns None on success, else why not (and a ProposalRejected event is written).
        """
        reason: str | None
        place_unavailable = False
        if len(run_id) > 64 or not run_id.isprintable():
            # Never stored (PostgreSQL refuses NUL in text, and the event would be redelivered
            # forever): the proposal is answered as rejected instead.
            await self._emit(
                conn,
                [events.proposal_rejected("", task_id, member_id, "malformed run id", False)],
                actor,
            )
            return "malformed run id"
        try:
            async with conn.transaction():  # a savepoint: a refusal keeps the caller's work
                task = await self._lock_task(conn, task_id)
                member = await self.member_view(conn, member_id)
                reason = claimable(task, now)
                place_unavailable = reason is not None
                reason = reason or claim_problem(
                    member, task.community_id, task.street_id, task.street_wide
                )
                if reason is None and any(
                    a.member_id == member_id for a in await self._live_assignments(conn, task_id)
                ):
                    reason = "the member already holds a place on this task"
                if reason is None:
                    clash = await self._overlapping(conn, member_id, task.window)
                    reason = (
                        f"the member has another accepted task at that time ({clash})"
                        if clash
                        else None
                    )
                if reason is None:
                    expires = min(now + ttl, task.window.claim_deadline)
                    a = await self._insert_assignment(
                        conn,
                        task,
                        member_id,
                        AssignmentState.PROPOSED,
                        AssignmentSource.MATCHING,
                        expires,
                        run_id,
                    )
                    task = await self._set_task(conn, task, places_delta=1)
                    await self._emit(conn, [events.assignment_changed("proposed", a, task)], actor)
                    return None
        except NotFound:
            reason, place_unavailable = "the task does not exist", True
        await self._emit(
            conn,
            [events.proposal_rejected(run_id, task_id, member_id, reason, place_unavailable)],
            actor,
        )
        return reason

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

    async def _cancel(
        self,
        conn: asyncpg.Connection,
        task_id: str,
        reason: str,
        actor: Principal | None,
        check: Callable[[Task], None] | None,
    ) -> Task:
        task = await self._lock_task(conn, task_id)
        if check is not None:
            check(task)
        require_task_transition(task.status, TaskStatus.CANCELLED, "cancel")
        items: list[events.Event] = []
        live = await self._live_assignments(conn, task_id)
        changed = [
            await self._set_assignment(conn, a, AssignmentState.CANCELLED, reason=reason)
            for a in live
        ]
        task = await self._set_task(
            conn,
            task,
            places_delta=-task.places_taken,
            accepted_delta=-task.accepted,
            status=TaskStatus.CANCELLED,
            cancel_reason=reason,
        )
        items.append(events.task_cancelled(task, reason))
        items += [events.assignment_changed("cancelled", a, task) for a in changed]
        await self._emit(conn, items, actor)
        return task

    async def cancel_task(
        self, task_id: str, reason: str, actor: Principal, check: Callable[[Task], None]
    ) -> Task:
        async with self.transaction() as conn:
            return await self._cancel(conn, task_id, reason, actor, check)

    async def complete_task(
        self,
        task_id: str,
        outcomes: Callable[[Task, list[Assignment]], tuple[tuple[Outcome, ...], int, str]],
        actor: Principal,
        now: datetime,
        check: Callable[[Task], None],
    ) -> tuple[Task, list[Assignment]]:
        async with self.transaction() as conn:
            task = await self._lock_task(conn, task_id)
            check(task)
            require_task_transition(task.status, TaskStatus.COMPLETED, "complete")
            live = await self._live_assignments(conn, task_id)
            accepted = [a for a in live if a.state is AssignmentState.ACCEPTED]
            if not accepted:
                raise FailedPrecondition(
                    "cannot complete: nobody was accepted for the task", "NOBODY_ACCEPTED"
                )
            if not task.window.flexible and now < task.window.start:
                raise FailedPrecondition(
                    "cannot complete: the task has not started yet", "NOT_STARTED"
                )
            results, score, comment = outcomes(task, accepted)
            by_member = {o.member_id: o for o in results}
            served = now if task.window.flexible else task.window.start
            done: list[Assignment] = []
            for a in live:
                if a.state is AssignmentState.PROPOSED:
                    await self._set_assignment(
                        conn, a, AssignmentState.CANCELLED, reason="task completed"
                    )
                    continue
                o = by_member[a.member_id]
                if o.no_show:
                    done.append(await self._set_assignment(conn, a, AssignmentState.NO_SHOW))
                else:
                    done.append(
                        await self._set_assignment(
                            conn, a, AssignmentState.COMPLETED, hours=o.hours, served_at=served
                        )
                    )
            proposed = len(live) - len(accepted)
            task = await self._set_task(
                conn, task, places_delta=-proposed, status=TaskStatus.COMPLETED
            )
            await conn.execute(
                "UPDATE task SET feedback_score = $2, feedback_comment = $3, completed_at = $4"
                " WHERE id = $1",
                uuid.UUID(task_id),
                score,
                comment,
                now,
            )
            await self._emit(conn, [events.task_completed(task, done, score, comment)], actor)
            return task, done

    async def member_record(self, member_id: str, now: datetime) -> MemberRecord:
        r = await self._pool.fetchrow(
            """SELECT
                 coalesce(sum(hours) FILTER (WHERE state = 'completed' AND served_at >= $2), 0)
                     AS m,
                 coalesce(sum(hours) FILTER (WHERE state = 'completed' AND served_at >= $3), 0)
                     AS y,
                 coalesce(sum(hours) FILTER (WHERE state = 'completed'), 0) AS total,
                 count(*) FILTER (WHERE state = 'completed') AS done,
                 count(*) FILTER (WHERE state = 'no_show') AS no_shows,
                 count(*) FILTER (WHERE state = 'accepted') AS upcoming
               FROM assignment WHERE member_id = $1""",
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
                items: list[events.Event] = []
                for a in await self._live_assignments(conn, task.id):
                    if a.state is AssignmentState.PROPOSED and a.expires_at and a.expires_at <= now:
                        changed = await self._set_assignment(conn, a, AssignmentState.EXPIRED)
                        task = await self._set_task(conn, task, places_delta=-1)
                        items.append(events.assignment_changed("expired", changed, task))
                        expired += 1
                await self._emit(conn, items, None)
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
                items: list[events.Event] = []
                for a in await self._live_assignments(conn, task.id):
                    if a.state is AssignmentState.PROPOSED:
                        changed = await self._set_assignment(conn, a, AssignmentState.EXPIRED)
                        task = await self._set_task(conn, task, places_delta=-1)
                        items.append(events.assignment_changed("expired", changed, task))
                if task.accepted == 0:
                    task = await self._set_task(conn, task, status=TaskStatus.EXPIRED)
                    items.append(events.task_expired(task))
                else:
                    task = await self._set_task(conn, task, status=TaskStatus.CLOSED)
                    items.append(events.task_closed(task))
                await self._emit(conn, items, None)
            return len(rows)
