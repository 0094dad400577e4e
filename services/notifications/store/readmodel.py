"""The PostgreSQL read model: communities, members, staff accounts, tasks, places and matching's
proposals, written inside the consumer's transaction."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.common.auth import Role
from services.notifications.domain.world import HOLDING, MemberRow, Place, StaffAccount, TaskRow
from services.notifications.store import records
from services.notifications.store.port import Tx


class ReadModel:
    _pool: asyncpg.Pool

    async def put_community(self, tx: Tx, community_id: str, street_id: str) -> None:
        await tx.execute(
            "INSERT INTO community (id, street_id) VALUES ($1, $2)"
            " ON CONFLICT (id) DO UPDATE SET street_id = EXCLUDED.street_id",
            community_id,
            street_id,
        )

    async def street_of(self, tx: Tx, community_id: str) -> str:
        found = await tx.fetchval("SELECT street_id FROM community WHERE id = $1", community_id)
        return found or ""

    async def put_member(self, tx: Tx, member: MemberRow, version: datetime) -> None:
        await tx.execute(
            "INSERT INTO member (id, name, community_id, phone, version)"
            " VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,"
            " community_id = EXCLUDED.community_id, phone = EXCLUDED.phone,"
            " version = EXCLUDED.version WHERE member.version <= EXCLUDED.version",
            member.id,
            member.name,
            member.community_id,
            member.phone,
            version,
        )

    async def member(self, tx: Tx, member_id: str) -> MemberRow | None:
        r = await tx.fetchrow("SELECT * FROM member WHERE id = $1", member_id)
        return records.member(r) if r is not None else None

    async def forget_member(self, tx: Tx, member_id: str) -> None:
        await tx.execute("DELETE FROM preference WHERE member_id = $1", member_id)
        await tx.execute("DELETE FROM assignment WHERE member_id = $1", member_id)
        await tx.execute("DELETE FROM proposal WHERE member_id = $1", member_id)
        await tx.execute("DELETE FROM mailbox WHERE id = $1", member_id)

    async def put_account(self, tx: Tx, account: StaffAccount) -> None:
        await tx.execute(
            "INSERT INTO account (id, role, community_ids, street_ids, disabled)"
            " VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role,"
            " community_ids = EXCLUDED.community_ids, street_ids = EXCLUDED.street_ids,"
            " disabled = EXCLUDED.disabled",
            account.id,
            account.role.value,
            sorted(account.community_ids),
            sorted(account.street_ids),
            account.disabled,
        )

    async def staff_of(self, tx: Tx, community_id: str, street_id: str) -> list[str]:
        rows = await tx.fetch(
            "SELECT * FROM account WHERE NOT disabled"
            " AND ($1 = ANY(community_ids) OR $2 = ANY(street_ids))",
            community_id,
            street_id,
        )
        accounts = [
            StaffAccount(
                r["id"],
                Role(r["role"]),
                frozenset(r["community_ids"]),
                frozenset(r["street_ids"]),
                r["disabled"],
            )
            for r in rows
        ]
        return sorted(a.id for a in accounts if a.serves(community_id, street_id))

    async def put_task(self, tx: Tx, task: TaskRow) -> None:
        await tx.execute(
            "INSERT INTO task (id, community_id, street_id, title, place, start_time, end_time,"
            " status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            " ON CONFLICT (id) DO UPDATE SET community_id = EXCLUDED.community_id,"
            " street_id = EXCLUDED.street_id, title = EXCLUDED.title, place = EXCLUDED.place,"
            " start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time,"
            " status = EXCLUDED.status",
            task.id,
            task.community_id,
            task.street_id,
            task.title,
            task.place,
            task.start,
            task.end,
            task.status,
        )

    async def task(self, tx: Tx, task_id: str) -> TaskRow | None:
        r = await tx.fetchrow("SELECT * FROM task WHERE id = $1", task_id)
        return records.task(r) if r is not None else None

    async def put_place(self, tx: Tx, place: Place) -> None:
        await tx.execute(
            "INSERT INTO assignment (id, task_id, member_id, state, accepted_at)"
            " VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state,"
            " accepted_at = COALESCE(EXCLUDED.accepted_at, assignment.accepted_at)",
            place.id,
            place.task_id,
            place.member_id,
            place.state,
            place.accepted_at,
        )

    async def holders(self, tx: Tx, task_id: str) -> list[Place]:
        rows = await tx.fetch(
            "SELECT * FROM assignment WHERE task_id = $1 AND state = ANY($2) ORDER BY id",
            task_id,
            list(HOLDING),
        )
        return [records.place(r) for r in rows]

    async def put_proposal(self, tx: Tx, task_id: str, member_id: str, reoffer: bool) -> None:
        await tx.execute(
            "INSERT INTO proposal (task_id, member_id, reoffer) VALUES ($1, $2, $3)"
            " ON CONFLICT (task_id, member_id) DO UPDATE SET reoffer = EXCLUDED.reoffer",
            task_id,
            member_id,
            reoffer,
        )

    async def take_proposal(self, tx: Tx, task_id: str, member_id: str) -> bool | None:
        found: bool | None = await tx.fetchval(
            "DELETE FROM proposal WHERE task_id = $1 AND member_id = $2 RETURNING reoffer",
            task_id,
            member_id,
        )
        return found
