"""The members' tables in PostgreSQL: registration, reads, phone changes, and the one way a
member changes (`update_member`: load, lock, apply the caller's update, write row and event)."""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Callable, Collection, Sequence

import asyncpg
from google.protobuf import message as pb_message

from services.common.auth import Principal
from services.common.errors import InvalidArgument
from services.common.eventbus import Outbox
from services.registry import events
from services.registry.domain import errors
from services.registry.domain.errors import PhoneChangeLimited
from services.registry.domain.member import Member, MemberReportedIn
from services.registry.domain.org import place_violations
from services.registry.store.org import load_places
from services.registry.store.port import MemberUpdate, RaceLost, RegisterResult, RegisterRow
from services.registry.store.records import (
    MEMBER_SELECT,
    availability_json,
    home,
    member_from_record,
    request_hash,
    skills_json,
)


class MemberRows:
    _pool: asyncpg.Pool
    _outbox: Outbox

    async def register(
        self,
        rows: Sequence[RegisterRow],
        actor: Principal,
        *,
        conflict_allowance: int | None = None,
    ) -> list[RegisterResult]:
        try:
            return await self._register(rows, actor, conflict_allowance)
        except asyncpg.UniqueViolationError as e:
            raise RaceLost(str(e)) from e

    async def _register(
        self, rows: Sequence[RegisterRow], actor: Principal, conflict_allowance: int | None
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
                by_id = {r["id"]: r for r in await self._insert_members(conn, to_insert, actor)}
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

    async def _forget_old_attempts(
        self, conn: asyncpg.Connection | asyncpg.Pool, caller: str
    ) -> None:
        # Only the last day counts; older rows of this caller go as new ones arrive, so the
        # table holds about one day of attempts.
        await conn.execute(
            "DELETE FROM phone_attempt WHERE caller = $1 AND at < now() - interval '1 day'", caller
        )

    async def _insert_members(
        self, conn: asyncpg.Connection, rows: list[tuple[RegisterRow, uuid.UUID]], actor: Principal
    ) -> list[asyncpg.Record]:
        """One INSERT for many members (arrays unnested); returns their ids and times."""
        datas = [row.data for row, _ in rows]
        return await conn.fetch(  # type: ignore[no-any-return]
            """INSERT INTO member (id, request_id, name, phone, home_lat, home_lng, community_id,
                   grid_id, building_group_id, unit_id, skills, availability, hours_per_month,
                   request_hash, created_by, reported_in_at)
               SELECT u.*, $15, CASE WHEN u.community_id IS NULL THEN NULL ELSE now() END
               FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::float8[],
                           $6::float8[], $7::text[], $8::text[], $9::text[], $10::text[],
                           $11::jsonb[], $12::jsonb[], $13::int[], $14::text[])
                    AS u(id, request_id, name, phone, home_lat, home_lng, community_id, grid_id,
                         building_group_id, unit_id, skills, availability, hours_per_month,
                         request_hash)
               RETURNING id, created_at, updated_at, reported_in_at""",
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
        if after is not None:
            clauses.append(f"m.id > {arg(uuid.UUID(after))}")
        where = f"WHERE {' AND '.join(clauses)}"
        rows = await self._pool.fetch(
            f"{MEMBER_SELECT} {where} ORDER BY m.id LIMIT {arg(limit)}", *args
        )
        return [member_from_record(r) for r in rows]

    # -- phone changes -----------------------------------------------------------------------

    async def count_phone_attempts(
        self, kind: str, *, caller: str | None = None, member_id: str | None = None
    ) -> int:
        """Counted acts of `kind` in the last 24 hours, by caller or of a member."""
        return await self._pool.fetchval(  # type: ignore[no-any-return]
            """SELECT count(*) FROM phone_attempt WHERE kind = $1
               AND ($2::text IS NULL OR caller = $2) AND ($3::uuid IS NULL OR member_id = $3)
               AND at > now() - interval '1 day'""",
            kind,
            caller,
            None if member_id is None else uuid.UUID(member_id),
        )

    async def note_phone_change(
        self, caller: str, member_id: str, per_member: int | None, per_caller: int | None
    ) -> None:
        """Count one phone change, or raise PhoneChangeLimited when a daily limit is reached.

        The member's row lock makes concurrent changes of one member count one after another.
        """
        key = uuid.UUID(member_id)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT 1 FROM member WHERE id = $1 FOR UPDATE", key)
            counts = await conn.fetchrow(
                """SELECT count(*) FILTER (WHERE member_id = $2) AS of_member,
                          count(*) FILTER (WHERE caller = $1) AS by_caller
                   FROM phone_attempt WHERE kind = 'change' AND at > now() - interval '1 day'
                   AND (member_id = $2 OR caller = $1)""",
                caller,
                key,
            )
            if per_member is not None and counts["of_member"] >= per_member:
                raise PhoneChangeLimited("too many phone changes for this member today")
            if per_caller is not None and counts["by_caller"] >= per_caller:
                raise PhoneChangeLimited("too many phone changes by this caller today")
            await conn.execute(
                "INSERT INTO phone_attempt (kind, caller, member_id) VALUES ('change', $1, $2)",
                caller,
                key,
            )
            await self._forget_old_attempts(conn, caller)

    async def request_phone_change(
        self, member_id: str, phone: str, code_hash: str, ttl_s: float
    ) -> bool:
        """Record a pending change of a member's own phone; True when the number is free.

        A taken number gets no code (code_hash NULL), so it can never be confirmed.
        """
        key = uuid.UUID(member_id)
        async with self._pool.acquire() as conn, conn.transaction():
            taken = await conn.fetchval(
                "SELECT true FROM member WHERE phone = $1 AND id <> $2", phone, key
            )
            await conn.execute(
                """INSERT INTO phone_change (member_id, phone, code_hash, expires_at)
                   VALUES ($1, $2, $3, now() + make_interval(secs => $4))
                   ON CONFLICT (member_id) DO UPDATE SET phone = EXCLUDED.phone,
                       code_hash = EXCLUDED.code_hash, attempts = 0,
                       expires_at = EXCLUDED.expires_at, created_at = now()""",
                key,
                phone,
                None if taken else code_hash,
                ttl_s,
            )
        return not taken

    async def take_phone_change(
        self, member_id: str, code_hash: str, max_attempts: int
    ) -> str | None:
        """The new phone if `code_hash` matches the member's pending change (which is used up);
        else None, counting a wrong attempt and dropping the change after `max_attempts`."""
        key = uuid.UUID(member_id)
        async with self._pool.acquire() as conn, conn.transaction():
            r = await conn.fetchrow(
                "SELECT phone, code_hash, attempts, expires_at > now() AS live"
                " FROM phone_change WHERE member_id = $1 FOR UPDATE",
                key,
            )
            if r is None:
                return None
            stored = r["code_hash"]
            if r["live"] and stored is not None and hmac.compare_digest(stored, code_hash):
                await conn.execute("DELETE FROM phone_change WHERE member_id = $1", key)
                return str(r["phone"])
            if not r["live"] or r["attempts"] + 1 >= max_attempts:
                await conn.execute("DELETE FROM phone_change WHERE member_id = $1", key)
            else:
                await conn.execute(
                    "UPDATE phone_change SET attempts = attempts + 1 WHERE member_id = $1", key
                )
            return None

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
                       updated_at = now()
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
                )
            except asyncpg.UniqueViolationError as e:
                # Another member took this phone between our check and our write.
                if e.constraint_name == "member_phone_key":
                    raise errors.phone_taken() from None
                raise
            updated = member_from_record(
                await conn.fetchrow(MEMBER_SELECT + " WHERE m.id = $1", r["id"])
            )
            subj, payload = events.member_event(changed.event, updated)
            await self._outbox.add(conn, subj, payload, actor)
        return updated
