"""A member's erasure in PostgreSQL (the row anonymised, their phone changes and kept snapshots
scrubbed, MemberErased written, in one transaction) and the phone history of their export."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from services.common.auth import Principal
from services.common.erasure import anonymise_audit_trail
from services.common.eventbus import rewrite
from services.common.subjects import MEMBER_EVENTS
from services.registry import events
from services.registry.domain import errors
from services.registry.domain.erasure import ERASED_REQUEST_HASH, PhoneHistory
from services.registry.domain.member import Member
from services.registry.store.members import MemberRows
from services.registry.store.records import MEMBER_SELECT, member_from_record

# The kept events that may hold a member's snapshot: all of the members' subjects.
MEMBER_SUBJECTS = MEMBER_EVENTS.removesuffix(">")


class ErasureRows(MemberRows):
    async def erase_member(
        self,
        member_id: str,
        erase: Callable[[Member], Member],
        reason: str,
        actor: Principal,
        *,
        visible: Callable[[Member], bool],
    ) -> datetime:
        member = await self.get_member(member_id)  # NOT_FOUND before taking the lock
        if not visible(member):
            raise errors.not_found(member_id)
        key = uuid.UUID(member.id)
        async with self._pool.acquire() as conn, conn.transaction():
            r = await conn.fetchrow(MEMBER_SELECT + " WHERE m.id = $1 FOR UPDATE OF m", key)
            if r["erased"]:  # erased since it was read
                raise errors.not_found(member_id)
            gone = erase(member_from_record(r))
            d = gone.data
            erased_at: datetime = await conn.fetchval(
                """UPDATE member SET name = $2, phone = $3, home_lat = NULL, home_lng = NULL,
                       community_id = $4, grid_id = NULL, building_group_id = NULL,
                       unit_id = NULL, skills = '[]', availability = '[]', hours_per_month = 0,
                       active = false, deactivation_reason = '', request_hash = $5,
                       verifications = '[]', report_in_reason = '',
                       erased_at = now(), erasure_reason = $6, updated_at = now()
                   WHERE id = $1 RETURNING erased_at""",
                key,
                d.name,
                d.phone,
                d.community_id,
                ERASED_REQUEST_HASH,
                reason,
            )
            await conn.execute("DELETE FROM phone_change WHERE member_id = $1", key)
            # The counts still limit their callers; they no longer say whose phone it was.
            await conn.execute(
                "UPDATE phone_attempt SET member_id = NULL WHERE member_id = $1", key
            )
            await rewrite(conn, MEMBER_SUBJECTS, lambda env: events.scrub(env, gone))
            subj, payload = events.member_erased(member.id, d.community_id)
            await self._outbox.add(conn, subj, payload, actor)
            # Last: the audit entry of the erasure itself names the pseudonym too.
            await anonymise_audit_trail(conn, member.id)
        return erased_at

    async def phone_history(self, member_id: str) -> PhoneHistory:
        key = uuid.UUID(member_id)
        pending = await self._pool.fetchrow(
            "SELECT phone, expires_at FROM phone_change WHERE member_id = $1", key
        )
        asked = await self._pool.fetch(
            "SELECT at FROM phone_attempt WHERE member_id = $1 AND kind = 'change' ORDER BY at",
            key,
        )
        return PhoneHistory(
            pending_phone=pending["phone"] if pending else None,
            pending_expires=pending["expires_at"] if pending else None,
            changes_asked=tuple(r["at"] for r in asked),
        )
