"""The members' tables in PostgreSQL: registration, reads, phone changes, and the one way a
member changes (`update_member`: load, lock, apply the caller's update, write row and event)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta

import asyncpg
from google.protobuf import message as pb_message

from services.common.auth import Principal
from services.common.errors import InvalidArgument
from services.common.eventbus import Outbox
from services.registry import events
from services.registry.domain import errors
from services.registry.domain.member import (
    Member,
    MemberReportedIn,
    ReportInState,
)
from services.registry.domain.org import place_violations
from services.registry.store.org import load_places
from services.registry.store.phones import PhoneRows
from services.registry.store.port import MemberUpdate, RaceLost, RegisterResult, RegisterRow
from services.registry.store.records import (
    MEMBER_SELECT,
    availability_json,
    home,
    member_from_record,
    request_hash,
    skills_json,
    verifications_json,
)


class MemberRows(PhoneRows):
    _pool: asyncpg.Pool
    _outbox: Outbox

    async def register(
        self,
        rows: Sequence[RegisterRow],
        actor: Principal,
        *,
        conflict_allowance: int | None = None,
        accepted: bool = False,
    ) -> list[RegisterResult]:
        try:
            return await self._register(rows, actor, conflict_allowance, accepted)
        except asyncpg.UniqueViolationError as e:
            raise RaceLost(str(e)) from e

    async def _register(
        self,
        rows: Sequence[RegisterRow],
        actor: Principal,
        conflict_allowance: int | None,
        accepted: bool,
    ) -> list[RegisterResult]:
        results: dict[int, RegisterResult] = {}
        conflicts = 0
        async with self._pool.acquire() as conn, conn.transaction():
            known = await conn.fetch(
                MEMBER_SELECT + " WHERE (m.created_by = $1 AND m.request_id = ANY($2::text[]))"
                " OR m.phone = ANY($3::text[])",
                actor.subject,
                [row.request_id for row in rows],
                [row.data.phone for row in rows],
            )
            seen = {r["request_id"]: r for r in known if r["created_by"] == actor.subject}
            taken = {r["phone"] for r in known}
            pending = []
            for row in rows:
                previous = seen.get(row.request_id)
                if previous is None:
                    pending.append(row)
                elif previous["request_hash"] != request_hash(row.data):
                    results[row.index] = RegisterResult(
                        row.index,
                        error=errors.request_id_reused(),
                    )
                else:
                    results[row.index] = RegisterResult(row.index, member_from_record(previous))
            places = await load_places(conn, [row.data for row in pending])
            batch_request_ids: set[str] = set()
            to_insert: list[tuple[RegisterRow, uuid.UUID]] = []
            for row in pending:
                wrong_places = place_violations(row.data, places, "member.")
                if wrong_places:
                    error: Exception = InvalidArgument(wrong_places)
                elif row.data.phone in taken:
                    conflicts += 1
                    error = errors.phone_taken()
                elif row.request_id in batch_request_ids:
                    error = errors.request_id_twice()
                else:
                    taken.add(row.data.phone)
                    batch_request_ids.add(row.request_id)
                    to_insert.append((row, uuid.uuid4()))
                    continue
                results[row.index] = RegisterResult(row.index, error=error)
            if conflict_allowance is not None and conflicts > conflict_allowance:
                # Answering row by row would tell which numbers are taken beyond the allowance.
                await self._count_conflicts(self._pool, actor.subject, conflict_allowance + 1)
                raise errors.too_many_conflicts()
            if to_insert:
                inserted = await self._insert_members(conn, to_insert, actor, accepted)
                by_id = {r["id"]: r for r in inserted}
                payloads: list[tuple[str, pb_message.Message]] = []
                for row, mid in to_insert:
                    stamp = by_id[mid]
                    member = Member(
                        id=str(mid),
                        data=row.data,
                        active=True,
                        street_id=places.streets.get(row.data.community_id or ""),
                        reported_in_at=stamp["reported_in_at"],
                        created_at=stamp["created_at"],
                        updated_at=stamp["updated_at"],
                        report_in=ReportInState(stamp["report_in_state"]),
                        report_in_decided_at=stamp["report_in_decided_at"],
                    )
                    results[row.index] = RegisterResult(row.index, member, created=True)
                    payloads.append(events.member_registered(member))
                await self._outbox.add_many(conn, payloads, actor)
            if conflict_allowance is not None and conflicts:
                await self._count_conflicts(conn, actor.subject, conflicts)
        return [results[row.index] for row in rows]

    async def _count_conflicts(
        self, conn: asyncpg.Connection | asyncpg.Pool, caller: str, n: int
    ) -> None:
        await conn.execute(
            "INSERT INTO phone_attempt (kind, caller) "
            "SELECT 'conflict', $1 FROM generate_series(1, $2)",
            caller,
            n,
        )
        await self._forget_old_attempts(conn, caller)

    async def _insert_members(
        self,
        conn: asyncpg.Connection,
        rows: list[tuple[RegisterRow, uuid.UUID]],
        actor: Principal,
        accepted: bool,
    ) -> list[asyncpg.Record]:
        """One INSERT for many members (arrays unnested); returns their ids and times."""
        datas = [row.data for row, _ in rows]
        return await conn.fetch(  # type: ignore[no-any-return]
            """INSERT INTO member (id, request_id, name, phone, home_lat, home_lng, community_id,
                   grid_id, building_group_id, unit_id, skills, availability, hours_per_month,
                   request_hash, created_by, reported_in_at, report_in_state,
                   report_in_decided_at)
               SELECT u.*, $15, CASE WHEN u.community_id IS NULL THEN NULL ELSE now() END,
                   CASE WHEN u.community_id IS NULL THEN 'none'
                        WHEN $16 THEN 'accepted' ELSE 'pending' END,
                   CASE WHEN u.community_id IS NOT NULL AND $16 THEN now() END
               FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::float8[],
                           $6::float8[], $7::text[], $8::text[], $9::text[], $10::text[],
                           $11::jsonb[], $12::jsonb[], $13::int[], $14::text[])
                    AS u(id, request_id, name, phone, home_lat, home_lng, community_id, grid_id,
                         building_group_id, unit_id, skills, availability, hours_per_month,
                         request_hash)
               RETURNING id, created_at, updated_at, reported_in_at, report_in_state,
                   report_in_decided_at""",
            [mid for _, mid in rows],
            [row.request_id for row, _ in rows],
            [d.name for d in datas],
            [d.phone for d in datas],
            [home(d).lat for d in datas],
            [home(d).lng for d in datas],
            [d.community_id for d in datas],
            [d.grid_id for d in datas],
            [d.building_group_id for d in datas],
            [d.unit_id for d in datas],
            [skills_json(d) for d in datas],
            [availability_json(d) for d in datas],
            [d.hours_per_month for d in datas],
            [request_hash(d) for d in datas],
            actor.subject,
            accepted,
        )

    async def get_member(self, member_id: str) -> Member:
        try:
            key = uuid.UUID(member_id)
        except ValueError:
            raise errors.not_found(member_id) from None
        r = await self._pool.fetchrow(
            MEMBER_SELECT + " WHERE m.id = $1 AND m.erased_at IS NULL", key
        )
        if r is None:
            raise errors.not_found(member_id)
        return member_from_record(r)

    async def list_members(
        self,
        *,
        community_id: str,
        grid_id: str,
        skill: str,
        active: bool | None,
        street_ids: Collection[str] | None,
        after: str | None,
        limit: int,
        community_ids: Collection[str] | None = None,
        member_id: str | None = None,
        report_in: ReportInState | None = None,
    ) -> list[Member]:
        clauses: list[str] = ["m.erased_at IS NULL"]
        args: list[object] = []

        def arg(value: object) -> str:
            args.append(value)
            return f"${len(args)}"

        if community_id:
            clauses.append(f"m.community_id = {arg(community_id)}")
        if grid_id:
            clauses.append(f"m.grid_id = {arg(grid_id)}")
        if skill:
            clauses.append(f"m.skills @> {arg(json.dumps([{'skill': skill}]))}::jsonb")
        if active is not None:
            clauses.append(f"m.active = {arg(active)}")
        if street_ids is not None:
            clauses.append(f"c.street_id = ANY({arg(list(street_ids))}::text[])")
        if community_ids is not None:
            clauses.append(f"m.community_id = ANY({arg(list(community_ids))}::text[])")
        if member_id is not None:
            clauses.append(f"m.id = {arg(uuid.UUID(member_id))}")
        if report_in is not None:
            clauses.append(f"m.report_in_state = {arg(report_in.value)}")
        if after is not None:
            clauses.append(f"m.id > {arg(uuid.UUID(after))}")
        where = f"WHERE {' AND '.join(clauses)}"
        rows = await self._pool.fetch(
            f"{MEMBER_SELECT} {where} ORDER BY m.id LIMIT {arg(limit)}", *args
        )
        return [member_from_record(r) for r in rows]

    async def certificates_due(self, now: datetime, horizon: timedelta, limit: int) -> list[str]:
        rows = await self._pool.fetch(
            """SELECT id FROM member m
               WHERE verifications <> '[]'::jsonb AND erased_at IS NULL AND EXISTS (
                   SELECT 1 FROM jsonb_array_elements(m.verifications) v
                   WHERE (v->>'expires_at')::timestamptz <= $1
                      OR (NOT (v->>'reminded')::boolean
                          AND (v->>'expires_at')::timestamptz <= $1 + $2::interval))
               ORDER BY id LIMIT $3""",
            now,
            horizon,
            limit,
        )
        return [str(r["id"]) for r in rows]

    async def update_member(
        self,
        member_id: str,
        update: MemberUpdate,
        actor: Principal,
        *,
        visible: Callable[[Member], bool] | None = None,
    ) -> Member:
        member = await self.get_member(member_id)  # NOT_FOUND before taking the lock
        if visible is not None and not visible(member):
            raise errors.not_found(member_id)
        async with self._pool.acquire() as conn, conn.transaction():
            r = await conn.fetchrow(
                MEMBER_SELECT + " WHERE m.id = $1 FOR UPDATE OF m", uuid.UUID(member.id)
            )
            if r["erased"]:  # erased since it was read
                raise errors.not_found(member_id)
            member = member_from_record(r)
            changed = update(member)
            if changed is None:
                return member
            new = changed.member
            d = new.data
            wrong_places = place_violations(d, await load_places(conn, [d]), "member.")
            if wrong_places:
                raise InvalidArgument(wrong_places)
            if d.phone != member.data.phone:
                other = await conn.fetchval(
                    "SELECT id FROM member WHERE phone = $1 AND id <> $2",
                    d.phone,
                    uuid.UUID(member.id),
                )
                if other is not None:
                    raise errors.phone_taken()
            try:
                r = await conn.fetchrow(
                    """UPDATE member SET name = $2, phone = $3, home_lat = $4, home_lng = $5,
                       community_id = $6, grid_id = $7, building_group_id = $8, unit_id = $9,
                       skills = $10::jsonb, availability = $11::jsonb, hours_per_month = $12,
                       active = $13, deactivation_reason = $14,
                       reported_in_at = CASE WHEN $15 THEN now() ELSE reported_in_at END,
                       report_in_state = $16, report_in_reason = $17,
                       report_in_decided_at = CASE WHEN NOT $18 THEN report_in_decided_at
                           WHEN $16 IN ('accepted', 'refused') THEN now() END,
                       verifications = $19::jsonb, updated_at = now()
                   WHERE id = $1 RETURNING id""",
                    uuid.UUID(member.id),
                    d.name,
                    d.phone,
                    home(d).lat,
                    home(d).lng,
                    d.community_id,
                    d.grid_id,
                    d.building_group_id,
                    d.unit_id,
                    skills_json(d),
                    availability_json(d),
                    d.hours_per_month,
                    new.active,
                    new.deactivation_reason,
                    isinstance(changed.event, MemberReportedIn),
                    new.report_in.value,
                    new.report_in_reason,
                    changed.decides_report_in,
                    verifications_json(new),
                )
            except asyncpg.UniqueViolationError as e:
                # Another member took this phone between our check and our write.
                if e.constraint_name == "member_phone_key":
                    raise errors.phone_taken() from None
                raise
            updated = member_from_record(
                await conn.fetchrow(MEMBER_SELECT + " WHERE m.id = $1", r["id"])
            )
            await self._outbox.add_many(conn, events.member_events(changed, updated), actor)
        return updated
