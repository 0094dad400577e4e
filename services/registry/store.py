"""The registry's SQL: the only module that reads or writes its tables.

Every write runs in one transaction together with the outbox rows of the events it announces.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from google.protobuf import message as pb_message

from services.common.auth import Principal
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from services.common.eventbus import Outbox
from services.common.values import LatLng
from services.registry import events
from services.registry.domain import Member, MemberData, PhoneChangeLimited, Window
from services.registry.org import BuildingGroup, Community, Grid, OrgEntry, Street, Unit, parent_of


def _loc(lat: float | None, lng: float | None) -> LatLng | None:
    return None if lat is None or lng is None else LatLng(lat, lng)


@dataclass(frozen=True)
class OrgTable:
    """How one kind of organisation entry maps to its table."""

    kind: str
    table: str
    columns: tuple[str, ...]
    parent_column: str | None
    to_row: Callable[[Any], tuple[Any, ...]]
    from_record: Callable[[asyncpg.Record], OrgEntry]


ORG_TABLES: dict[str, OrgTable] = {
    t.kind: t
    for t in (
        OrgTable(
            "street",
            "street",
            ("id", "name"),
            None,
            lambda e: (e.id, e.name),
            lambda r: Street(r["id"], r["name"]),
        ),
        OrgTable(
            "community",
            "community",
            ("id", "name", "street_id", "station_lat", "station_lng"),
            "street_id",
            lambda e: (e.id, e.name, e.street_id, e.station.lat, e.station.lng),
            lambda r: Community(
                r["id"], r["name"], r["street_id"], _loc(r["station_lat"], r["station_lng"])
            ),
        ),
        OrgTable(
            "grid",
            "grid",
            ("id", "name", "community_id", "center_lat", "center_lng", "radius_m"),
            "community_id",
            lambda e: (e.id, e.name, e.community_id, e.center.lat, e.center.lng, e.radius_m),
            lambda r: Grid(
                r["id"],
                r["name"],
                r["community_id"],
                _loc(r["center_lat"], r["center_lng"]),
                r["radius_m"],
            ),
        ),
        OrgTable(
            "building_group",
            "building_group",
            ("id", "name", "grid_id", "lat", "lng"),
            "grid_id",
            lambda e: (
                e.id,
                e.name,
                e.grid_id,
                e.location.lat if e.location else None,
                e.location.lng if e.location else None,
            ),
            lambda r: BuildingGroup(r["id"], r["name"], r["grid_id"], _loc(r["lat"], r["lng"])),
        ),
        OrgTable(
            "unit",
            "unit",
            ("id", "name", "kind", "community_id"),
            "community_id",
            lambda e: (e.id, e.name, e.unit_kind, e.community_id),
            lambda r: Unit(r["id"], r["name"], r["kind"], r["community_id"]),
        ),
    )
}


def _where(entry: OrgEntry, field_name: str) -> str:
    return (
        f"line {entry.line}: {entry.kind}.{field_name}"
        if entry.line
        else f"{entry.kind}.{field_name}"
    )


@dataclass(frozen=True)
class RegisterRow:
    index: int
    request_id: str
    data: MemberData


@dataclass(frozen=True)
class RegisterResult:
    index: int
    member: Member | None = None
    created: bool = False
    error: Exception | None = None


# Names neither the member holding the number nor any part of it.
PHONE_TAKEN = "this phone number is already registered to a member"

MEMBER_SELECT = """
    SELECT m.*, c.street_id FROM member m LEFT JOIN community c ON c.id = m.community_id
"""


def member_from_record(r: asyncpg.Record) -> Member:
    data = MemberData(
        name=r["name"],
        phone=r["phone"],
        home=LatLng(r["home_lat"], r["home_lng"]),
        unit_id=r["unit_id"],
        skills=tuple((s["skill"], s["level"]) for s in json.loads(r["skills"])),
        availability=tuple(
            Window(w["day"], w["start"], w["end"]) for w in json.loads(r["availability"])
        ),
        hours_per_month=r["hours_per_month"],
        community_id=r["community_id"],
        grid_id=r["grid_id"],
        building_group_id=r["building_group_id"],
    )
    return Member(
        id=str(r["id"]),
        data=data,
        active=r["active"],
        street_id=r["street_id"],
        reported_in_at=r["reported_in_at"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        deactivation_reason=r["deactivation_reason"],
    )


def request_hash(data: MemberData) -> str:
    """A fingerprint of what a registration asked for (its validated, cleaned data)."""
    return hashlib.sha256(repr(data).encode()).hexdigest()


def _home(data: MemberData) -> LatLng:
    if data.home is None:  # validate_member requires it; this guards the type
        raise ValueError("member without a home location")
    return data.home


def _skills_json(data: MemberData) -> str:
    return json.dumps([{"skill": s, "level": lvl} for s, lvl in data.skills])


def _availability_json(data: MemberData) -> str:
    return json.dumps([{"day": w.day, "start": w.start, "end": w.end} for w in data.availability])


class RegistryStore:
    def __init__(self, pool: asyncpg.Pool, outbox: Outbox) -> None:
        self._pool = pool
        self._outbox = outbox

    # -- organisation ------------------------------------------------------------------------

    async def write_org(
        self, entries: Sequence[OrgEntry], actor: Principal, *, validate_only: bool = False
    ) -> tuple[dict[str, int], int, list[OrgEntry]]:
        """Create the entries that are new, in one transaction, parents first.

        Returns (created per kind, unchanged count, the entries as stored). An entry that exists
        with other content, or whose parent exists neither in the registry nor among `entries`,
        fails the whole call with InvalidArgument naming it; nothing is written.
        """
        created: dict[str, int] = {k: 0 for k in ORG_TABLES}
        unchanged = 0
        stored: list[OrgEntry] = []
        violations: list[FieldViolation] = []
        async with self._pool.acquire() as conn, conn.transaction():
            existing: dict[tuple[str, str], OrgEntry] = {}
            for kind, table in ORG_TABLES.items():
                ids = [e.id for e in entries if e.kind == kind]
                parent_ids = [p[1] for e in entries if (p := parent_of(e)) and p[0] == kind]
                wanted = list({*ids, *parent_ids})
                if wanted:
                    for r in await conn.fetch(
                        f"SELECT * FROM {table.table} WHERE id = ANY($1::text[]) FOR UPDATE", wanted
                    ):
                        existing[(kind, r["id"])] = table.from_record(r)
            new: dict[str, list[OrgEntry]] = {k: [] for k in ORG_TABLES}
            known = set(existing)
            for entry in entries:
                parent = parent_of(entry)
                if parent is not None and parent not in known:
                    violations.append(
                        FieldViolation(
                            _where(entry, ORG_TABLES[entry.kind].parent_column or "parent"),
                            f"{parent[0]} {parent[1]!r} does not exist",
                        )
                    )
                old = existing.get((entry.kind, entry.id))
                if old is None:
                    new[entry.kind].append(entry)
                    known.add((entry.kind, entry.id))
                    stored.append(entry)
                elif old.content() != entry.content():
                    violations.append(
                        FieldViolation(
                            _where(entry, "id"),
                            f"{entry.kind} {entry.id!r} already exists with other content",
                        )
                    )
                else:
                    unchanged += 1
                    stored.append(old)
            if violations:
                raise InvalidArgument(violations)
            if validate_only:
                return {k: len(v) for k, v in new.items()}, unchanged, stored
            for kind, items in new.items():
                if not items:
                    continue
                table = ORG_TABLES[kind]
                placeholders = ", ".join(f"${i + 1}" for i in range(len(table.columns)))
                columns = ", ".join(table.columns)
                await conn.executemany(
                    f"INSERT INTO {table.table} ({columns}) VALUES ({placeholders})",
                    [table.to_row(e) for e in items],
                )
                created[kind] = len(items)
                await self._outbox.add_many(conn, [events.org_created(e) for e in items], actor)
        return created, unchanged, stored

    async def get_org(self, kind: str, entry_id: str) -> OrgEntry:
        table = ORG_TABLES[kind]
        r = await self._pool.fetchrow(f"SELECT * FROM {table.table} WHERE id = $1", entry_id)
        if r is None:
            raise NotFound(kind, entry_id)
        return table.from_record(r)

    async def org_created_at(self, kind: str, ids: list[str]) -> dict[str, Any]:
        table = ORG_TABLES[kind]
        rows = await self._pool.fetch(
            f"SELECT id, created_at FROM {table.table} WHERE id = ANY($1::text[])", ids
        )
        return {r["id"]: r["created_at"] for r in rows}

    async def list_org(
        self, kind: str, parent_id: str | None, after: str | None, limit: int
    ) -> list[tuple[OrgEntry, Any]]:
        table = ORG_TABLES[kind]
        clauses: list[str] = []
        args: list[object] = []
        if parent_id:
            args.append(parent_id)
            clauses.append(f"{table.parent_column} = ${len(args)}")
        if after is not None:
            args.append(after)
            clauses.append(f"id > ${len(args)}")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        args.append(limit)
        rows = await self._pool.fetch(
            f"SELECT * FROM {table.table} {where} ORDER BY id LIMIT ${len(args)}", *args
        )
        return [(table.from_record(r), r["created_at"]) for r in rows]

    async def street_of(self, community_id: str) -> str | None:
        return await self._pool.fetchval(
            "SELECT street_id FROM community WHERE id = $1", community_id
        )

    async def street_of_grid(self, grid_id: str) -> tuple[str, str] | None:
        r = await self._pool.fetchrow(
            "SELECT c.id, c.street_id FROM grid g JOIN community c ON c.id = g.community_id"
            " WHERE g.id = $1",
            grid_id,
        )
        return None if r is None else (r["id"], r["street_id"])

    # -- members -----------------------------------------------------------------------------

    async def check_places(self, data: MemberData, prefix: str) -> None:
        """Raise InvalidArgument naming (with `prefix`) each unknown or mismatched reference."""
        async with self._pool.acquire() as conn:
            errors, _ = await self._places(conn, [data], prefix)
        if errors:
            raise InvalidArgument(errors[0])

    async def org_exists(self, kind: str, entry_id: str) -> bool:
        table = ORG_TABLES[kind]
        found = await self._pool.fetchval(f"SELECT true FROM {table.table} WHERE id = $1", entry_id)
        return bool(found)

    async def _places(
        self, conn: asyncpg.Connection, datas: Sequence[MemberData], prefix: str = "member."
    ) -> tuple[dict[int, list[FieldViolation]], dict[str, str]]:
        """Check every row's community/grid/building group/unit in one query.

        Returns the violations per position (fields named with `prefix`) and the street of each
        community named.
        """
        refs = [
            sorted({d.community_id for d in datas if d.community_id}),
            sorted({d.grid_id for d in datas if d.grid_id}),
            sorted({d.building_group_id for d in datas if d.building_group_id}),
            sorted({d.unit_id for d in datas if d.unit_id}),
        ]
        found: dict[str, dict[str, str]] = {"c": {}, "g": {}, "b": {}, "u": {}}
        if any(refs):
            for r in await conn.fetch(
                """SELECT 'c' AS k, id, street_id AS up FROM community WHERE id = ANY($1::text[])
                   UNION ALL SELECT 'g', id, community_id FROM grid WHERE id = ANY($2::text[])
                   UNION ALL SELECT 'b', id, grid_id FROM building_group WHERE id = ANY($3::text[])
                   UNION ALL SELECT 'u', id, '' FROM unit WHERE id = ANY($4::text[])""",
                *refs,
            ):
                found[r["k"]][r["id"]] = r["up"]
        streets, grid_c, group_g, units = found["c"], found["g"], found["b"], found["u"]
        out: dict[int, list[FieldViolation]] = {}
        for i, d in enumerate(datas):
            v: list[FieldViolation] = []
            if d.community_id and d.community_id not in streets:
                v.append(
                    FieldViolation(f"{prefix}community_id", f"unknown community {d.community_id!r}")
                )
            if d.grid_id:
                if d.grid_id not in grid_c:
                    v.append(FieldViolation(f"{prefix}grid_id", f"unknown grid {d.grid_id!r}"))
                elif grid_c[d.grid_id] != d.community_id:
                    v.append(
                        FieldViolation(
                            f"{prefix}grid_id",
                            f"grid {d.grid_id!r} is not in community {d.community_id!r}",
                        )
                    )
            if d.building_group_id:
                if d.building_group_id not in group_g:
                    v.append(
                        FieldViolation(
                            f"{prefix}building_group_id",
                            f"unknown building group {d.building_group_id!r}",
                        )
                    )
                elif group_g[d.building_group_id] != d.grid_id:
                    v.append(
                        FieldViolation(
                            f"{prefix}building_group_id",
                            f"building group {d.building_group_id!r} is not in grid {d.grid_id!r}",
                        )
                    )
            if d.unit_id and d.unit_id not in units:
                v.append(FieldViolation(f"{prefix}unit_id", f"unknown unit {d.unit_id!r}"))
            if v:
                out[i] = v
        return out, streets

    async def register(
        self,
        rows: Sequence[RegisterRow],
        actor: Principal,
        *,
        conflict_allowance: int | None = None,
    ) -> list[RegisterResult]:
        """Register valid rows in one transaction; each row gets its own result.

        A row whose request_id this caller used before returns the member it registered (or, if
        that request asked for something else, fails); a phone already taken (in the registry or
        earlier in `rows`) and a bad reference fail only that row. With `conflict_allowance`,
        taken phones are counted against the caller, and more of them than allowed fail the
        whole batch with PhoneChangeLimited, writing nothing of it.
        """
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
                        error=FailedPrecondition(
                            "request_id was used before for a different member",
                            "REQUEST_ID_REUSED",
                            field="request_id",
                        ),
                    )
                else:
                    results[row.index] = RegisterResult(row.index, member_from_record(previous))
            place_errors, streets = await self._places(conn, [row.data for row in pending])
            batch_request_ids: set[str] = set()
            to_insert: list[tuple[RegisterRow, uuid.UUID]] = []
            for i, row in enumerate(pending):
                if i in place_errors:
                    error: Exception = InvalidArgument(place_errors[i])
                elif row.data.phone in taken:
                    conflicts += 1
                    error = AlreadyExists(PHONE_TAKEN, "member.phone")
                elif row.request_id in batch_request_ids:
                    error = AlreadyExists("request_id used twice in one import", "request_id")
                else:
                    taken.add(row.data.phone)
                    batch_request_ids.add(row.request_id)
                    to_insert.append((row, uuid.uuid4()))
                    continue
                results[row.index] = RegisterResult(row.index, error=error)
            if conflict_allowance is not None and conflicts > conflict_allowance:
                # Answering row by row would tell which numbers are taken beyond the allowance.
                await self._count_conflicts(self._pool, actor.subject, conflict_allowance + 1)
                raise PhoneChangeLimited(
                    "too many registrations refused for a taken phone today; try again tomorrow"
                )
            if to_insert:
                by_id = {r["id"]: r for r in await self._insert_members(conn, to_insert, actor)}
                payloads: list[tuple[str, pb_message.Message]] = []
                for row, mid in to_insert:
                    stamp = by_id[mid]
                    member = Member(
                        id=str(mid),
                        data=row.data,
                        active=True,
                        street_id=streets.get(row.data.community_id or ""),
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
            [_home(d).lat for d in datas],
            [_home(d).lng for d in datas],
            [d.community_id for d in datas],
            [d.grid_id for d in datas],
            [d.building_group_id for d in datas],
            [d.unit_id for d in datas],
            [_skills_json(d) for d in datas],
            [_availability_json(d) for d in datas],
            [d.hours_per_month for d in datas],
            [request_hash(d) for d in datas],
            actor.subject,
        )

    async def get_member(self, member_id: str) -> Member:
        try:
            key = uuid.UUID(member_id)
        except ValueError:
            raise NotFound("member", member_id) from None
        r = await self._pool.fetchrow(MEMBER_SELECT + " WHERE m.id = $1", key)
        if r is None:
            raise NotFound("member", member_id)
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
        clauses: list[str] = []
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
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
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

    async def change_member(
        self,
        member_id: str,
        change: Callable[[Member], tuple[MemberData, bool] | None],
        event: Callable[[Member], tuple[str, pb_message.Message]],
        actor: Principal,
        *,
        deactivate_reason: str | None = None,
        report_in: bool = False,
        visible: Callable[[Member], bool] | None = None,
    ) -> Member:
        """Lock the member, let `change` decide the new data, write it and its event.

        `change` returns None when nothing is to change (the member is returned as it is, no
        event), else the new data and whether it is still active. A member `visible` says no to
        is NOT_FOUND before the lock, exactly as a missing one: the same work, the same time.
        """
        member = await self.get_member(member_id)  # NOT_FOUND before taking the lock
        if visible is not None and not visible(member):
            raise NotFound("member", member_id)
        async with self._pool.acquire() as conn, conn.transaction():
            r = await conn.fetchrow(
                MEMBER_SELECT + " WHERE m.id = $1 FOR UPDATE OF m", uuid.UUID(member.id)
            )
            member = member_from_record(r)
            outcome = change(member)
            if outcome is None:
                return member
            data, active = outcome
            place_errors, _ = await self._places(conn, [data])
            if place_errors:
                raise InvalidArgument(place_errors[0])
            if data.phone != member.data.phone:
                other = await conn.fetchval(
                    "SELECT id FROM member WHERE phone = $1 AND id <> $2",
                    data.phone,
                    uuid.UUID(member.id),
                )
                if other is not None:
                    raise AlreadyExists(PHONE_TAKEN, "member.phone")
            d = data
            try:
                r = await conn.fetchrow(
                    """UPDATE member SET name = $2, phone = $3, home_lat = $4, home_lng = $5,
                       community_id = $6, grid_id = $7, building_group_id = $8, unit_id = $9,
                       skills = $10::jsonb, availability = $11::jsonb, hours_per_month = $12,
                       active = $13,
                       deactivation_reason = COALESCE($14, deactivation_reason),
                       reported_in_at = CASE WHEN $15 THEN now() ELSE reported_in_at END,
                       updated_at = now()
                   WHERE id = $1 RETURNING id""",
                    uuid.UUID(member.id),
                    d.name,
                    d.phone,
                    _home(d).lat,
                    _home(d).lng,
                    d.community_id,
                    d.grid_id,
                    d.building_group_id,
                    d.unit_id,
                    _skills_json(d),
                    _availability_json(d),
                    d.hours_per_month,
                    active,
                    deactivate_reason,
                    report_in,
                )
            except asyncpg.UniqueViolationError as e:
                # Another member took this phone between our check and our write.
                if e.constraint_name == "member_phone_key":
                    raise AlreadyExists(PHONE_TAKEN, "member.phone") from None
                raise
            updated = member_from_record(
                await conn.fetchrow(MEMBER_SELECT + " WHERE m.id = $1", r["id"])
            )
            subj, payload = event(updated)
            await self._outbox.add(conn, subj, payload, actor)
        return updated
