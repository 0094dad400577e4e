"""Member's phone changes in PostgreSQL: the daily counts that limit them, and the pending change
a member confirms with the code sent to their new number."""

from __future__ import annotations

import hmac
import uuid

import asyncpg

from services.registry.domain.errors import PhoneChangeLimited


class PhoneRows:
    _pool: asyncpg.Pool

    async def _forget_old_attempts(
        self, conn: asyncpg.Connection | asyncpg.Pool, caller: str
    ) -> None:
        # Only the last day counts; older rows of this caller go as new ones arrive, so the
        # table holds about one day of attempts.
        await conn.execute(
            "DELETE FROM phone_attempt WHERE caller = $1 AND at < now() - interval '1 day'", caller
        )

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
