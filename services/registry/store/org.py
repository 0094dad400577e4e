"""The organisation's tables in PostgreSQL: entries written with their events, read, listed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.common.auth import Principal
from services.common.errors import InvalidArgument, NotFound
from services.common.eventbus import Outbox
from services.registry import events
from services.registry.domain.org import (
    KINDS,
    OrgEntry,
    PlaceRefs,
    Places,
    place_violations,
    plan_write,
    wanted_ids,
)
from services.registry.store.port import RaceLost
from services.registry.store.records import ORG_TABLES


async def load_places(conn: asyncpg.Connection | asyncpg.Pool, refs: Sequence[PlaceRefs]) -> Places:
    """What the registry holds of every place that `refs` name, in one query."""
    ids = [
        sorted({d.community_id for d in refs if d.community_id}),
        sorted({d.grid_id for d in refs if d.grid_id}),
        sorted({d.building_group_id for d in refs if d.building_group_id}),
        sorted({d.unit_id for d in refs if d.unit_id}),
    ]
    found: dict[str, dict[str, str]] = {"c": {}, "g": {}, "b": {}, "u": {}}
    if any(ids):
        for r in await conn.fetch(
            """SELECT 'c' AS k, id, street_id AS up FROM community WHERE id = ANY($1::text[])
               UNION ALL SELECT 'g', id, community_id FROM grid WHERE id = ANY($2::text[])
               UNION ALL SELECT 'b', id, grid_id FROM building_group WHERE id = ANY($3::text[])
               UNION ALL SELECT 'u', id, '' FROM unit WHERE id = ANY($4::text[])""",
            *ids,
        ):
            found[r["k"]][r["id"]] = r["up"]
    return Places(found["c"], found["g"], found["b"], frozenset(found["u"]))


class OrgRows:
    _pool: asyncpg.Pool
    _outbox: Outbox

    async def write_org(
        self, entries: Sequence[OrgEntry], actor: Principal, *, validate_only: bool = False
    ) -> tuple[dict[str, int], int, list[OrgEntry]]:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                existing: dict[tuple[str, str], OrgEntry] = {}
                for kind, table in ORG_TABLES.items():
                    wanted = wanted_ids(entries, kind)
                    if wanted:
                        for r in await conn.fetch(
                            f"SELECT * FROM {table.table} WHERE id = ANY($1::text[]) FOR UPDATE",
                            wanted,
                        ):
                            existing[(kind, r["id"])] = table.from_record(r)
                plan = plan_write(entries, existing)
                if validate_only:
                    return plan.counts(), plan.unchanged, plan.stored
                for kind in KINDS:
                    items = plan.new[kind]
                    if not items:
                        continue
                    table = ORG_TABLES[kind]
                    placeholders = ", ".join(f"${i + 1}" for i in range(len(table.columns)))
                    columns = ", ".join(table.columns)
                    await conn.executemany(
                        f"INSERT INTO {table.table} ({columns}) VALUES ({placeholders})",
                        [table.to_row(e) for e in items],
                    )
                    await self._outbox.add_many(conn, [events.org_created(e) for e in items], actor)
        except asyncpg.UniqueViolationError as e:
            raise RaceLost(str(e)) from e
        return plan.counts(), plan.unchanged, plan.stored

    async def get_org(self, kind: str, entry_id: str) -> OrgEntry:
        table = ORG_TABLES[kind]
        r = await self._pool.fetchrow(f"SELECT * FROM {table.table} WHERE id = $1", entry_id)
        if r is None:
            raise NotFound(kind, entry_id)
        return table.from_record(r)

    async def org_created_at(self, kind: str, ids: list[str]) -> dict[str, datetime]:
        table = ORG_TABLES[kind]
        rows = await self._pool.fetch(
            f"SELECT id, created_at FROM {table.table} WHERE id = ANY($1::text[])", ids
        )
        return {r["id"]: r["created_at"] for r in rows}

    async def list_org(
        self, kind: str, parent_id: str | None, after: str | None, limit: int
    ) -> list[tuple[OrgEntry, datetime]]:
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

    async def org_exists(self, kind: str, entry_id: str) -> bool:
        table = ORG_TABLES[kind]
        found = await self._pool.fetchval(f"SELECT true FROM {table.table} WHERE id = $1", entry_id)
        return bool(found)

    async def street_of(self, community_id: str) -> str | None:
        return await self._pool.fetchval(  # type: ignore[no-any-return]
            "SELECT street_id FROM community WHERE id = $1", community_id
        )

    async def street_of_grid(self, grid_id: str) -> tuple[str, str] | None:
        r = await self._pool.fetchrow(
            "SELECT c.id, c.street_id FROM grid g JOIN community c ON c.id = g.community_id"
            " WHERE g.id = $1",
            grid_id,
        )
        return None if r is None else (r["id"], r["street_id"])

    async def check_places(self, refs: PlaceRefs, prefix: str) -> None:
        async with self._pool.acquire() as conn:
            places = await load_places(conn, [refs])
        violations = place_violations(refs, places, prefix)
        if violations:
            raise InvalidArgument(violations)
