"""What an erased member's erasure changes in the matching service's tables besides the read
model's row: the distances measured from their home in recorded plans, and their words in
refusals."""

from __future__ import annotations

import json
import uuid

import asyncpg

from services.common.erasure import anonymise_audit_trail
from services.matching.domain import erasure
from services.matching.store import records


class ErasureTables:
    _pool: asyncpg.Pool

    async def forget_member(self, tx: asyncpg.Connection, member_id: str) -> None:
        key = uuid.UUID(member_id)
        rows = await tx.fetch(
            """SELECT * FROM match_assignment
               WHERE member_id = $1 OR alternatives::text LIKE '%' || $2 || '%' FOR UPDATE""",
            key,
            str(key),
        )
        for r in rows:
            a = erasure.forget_in_plan(records.planned_assignment(r), str(key))
            await tx.execute(
                """UPDATE match_assignment SET distance_m = $3, explanation = $4,
                       alternatives = $5::jsonb, public_distance_m = $6, facts = $7::jsonb
                   WHERE run_id = $1 AND position = $2""",
                r["run_id"],
                r["position"],
                a.distance_m,
                a.explanation,
                json.dumps(a.alternatives),
                a.public_distance_m,
                json.dumps(a.facts),
            )
        await tx.execute("UPDATE refusal SET reason = '' WHERE member_id = $1", key)
        await anonymise_audit_trail(tx, member_id)
