"""A member's data in the task service's tables, for their export, and what their erasure
removes besides the read model's copy: the free text of their answers."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from linli.v1 import events_pb2
from services.common.erasure import anonymise_audit_trail
from services.common.eventbus import rewrite
from services.common.subjects import ASSIGNMENT_EVENTS
from services.tasks.domain import Feedback
from services.tasks.store.base import StoreBase

ASSIGNMENT_SUBJECTS = ASSIGNMENT_EVENTS.removesuffix(">")


def scrub_reason(env: events_pb2.EventEnvelope, member_id: str) -> bool:
    """Empty the reason of a kept event about one of the member's assignments (their own words
    when they declined or withdrew); True when the envelope changed."""
    if not env.payload.Is(events_pb2.AssignmentChanged.DESCRIPTOR):
        return False
    e = events_pb2.AssignmentChanged()
    env.payload.Unpack(e)
    if e.assignment.member_id != member_id or not e.assignment.reason:
        return False
    e.assignment.reason = ""
    env.payload.Pack(e)
    return True


class Erasure(StoreBase):
    async def member_copy(self, member_id: str) -> dict[str, Any] | None:
        """The read model's row of the member, as the registry's events told it."""
        r = await self._pool.fetchrow(
            """SELECT community_id, street_id, active, reported_in, skills, availability,
                   hours_per_month, home_lat, home_lng FROM member WHERE id = $1""",
            uuid.UUID(member_id),
        )
        if r is None:
            return None
        row = dict(r)
        row["skills"] = json.loads(row["skills"])
        row["availability"] = json.loads(row["availability"])
        return row

    async def feedback_on(self, task_ids: list[str]) -> dict[str, Feedback]:
        """Staff's feedback on these tasks, where they gave some."""
        rows = await self._pool.fetch(
            """SELECT id, feedback_score, feedback_comment FROM task
               WHERE id = ANY($1::uuid[]) AND feedback_score IS NOT NULL""",
            [uuid.UUID(t) for t in task_ids],
        )
        return {str(r["id"]): Feedback(r["feedback_score"], r["feedback_comment"]) for r in rows}

    async def forget_member_text(self, conn: asyncpg.Connection, member_id: str) -> None:
        """Empty the reasons the member gave (in their assignments and in the kept outbox)."""
        await conn.execute(
            "UPDATE assignment SET reason = '' WHERE member_id = $1 AND reason <> ''",
            uuid.UUID(member_id),
        )
        # The words of their requests for hours, and staff's about them.
        await conn.execute(
            "UPDATE hours_record SET reason = '' WHERE member_id = $1 AND reason <> ''",
            uuid.UUID(member_id),
        )
        await rewrite(conn, ASSIGNMENT_SUBJECTS, lambda env: scrub_reason(env, member_id))
        await anonymise_audit_trail(conn, member_id)
