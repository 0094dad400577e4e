"""The task service's read model of the registry: communities, units and members as their
events tell, and the places a member may no longer hold."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from services.common.values import LatLng
from services.tasks import domain
from services.tasks.domain import MemberView
from services.tasks.store.base import StoreBase


class ReadModel(StoreBase):
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
            """SELECT a.task_id, false AS waiting FROM assignment a JOIN task t ON t.id = a.task_id
               WHERE a.member_id = $1 AND a.state IN ('proposed', 'accepted')
               AND t.status IN ('open', 'filled')
               UNION SELECT s.task_id, true FROM standby s WHERE s.member_id = $1
               ORDER BY 1""",
            uuid.UUID(member_id),
        )
        waiting = {str(r["task_id"]) for r in rows if r["waiting"]}
        released = 0
        for task_id in sorted({str(r["task_id"]) for r in rows}):  # as every writer locks tasks
            task = await self._lock_task(conn, task_id)
            live = await self._live_assignments(conn, task.id)
            # The rule is timeless; `now` only dates the domain's copy, and the row is dated by
            # the database as every change is.
            now = datetime.now(UTC)
            change = domain.release_member(task, live, member_id, member, task_id in waiting, now)
            await self._write(conn, task, change, None, now)
            released += len(change.written)
        return released

    async def street_of(self, conn: asyncpg.Connection, community_id: str) -> str | None:
        return await conn.fetchval(  # type: ignore[no-any-return]
            "SELECT street_id FROM community WHERE id = $1", community_id
        )
