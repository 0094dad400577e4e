"""The identity service's store on PostgreSQL (its schema on the pool's search path)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime

import asyncpg

from services.common.auth import Principal, Role
from services.common.eventbus import Outbox
from services.identity.domain.accounts import Account
from services.identity.domain.attempts import Attempts
from services.identity.domain.codes import PhoneCode
from services.identity.domain.errors import account_not_found, user_name_taken
from services.identity.domain.members import MemberRef
from services.identity.domain.tokens import RefreshToken, SubjectKind
from services.identity.events import Event
from services.identity.keys import SigningKey
from services.identity.store import records
from services.identity.store.port import Change, Ended, Tx

# Serialises key rotations across replicas (an advisory lock id of this service's own).
KEY_LOCK = 0x6C696E6C69_01

ACCOUNT_COLUMNS = (
    "id, user_name, role, community_ids, street_ids, password_hash, totp_sealed,"
    " totp_enrolled, disabled, totp_last_step"
)


class PostgresStore:
    def __init__(self, pool: asyncpg.Pool, outbox: Outbox) -> None:
        self._pool = pool
        self._outbox = outbox

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn

    # -- the read model ------------------------------------------------------------------------

    async def put_community(self, tx: Tx, community_id: str, street_id: str) -> None:
        await tx.execute(
            "INSERT INTO community (id, street_id) VALUES ($1, $2)"
            " ON CONFLICT (id) DO UPDATE SET street_id = EXCLUDED.street_id",
            community_id,
            street_id,
        )

    async def put_member(self, tx: Tx, member: MemberRef, version: datetime) -> None:
        await tx.execute(
            "INSERT INTO member (id, phone, community_id, active, version)"
            " VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (id) DO UPDATE SET phone = EXCLUDED.phone,"
            " community_id = EXCLUDED.community_id, active = EXCLUDED.active,"
            " version = EXCLUDED.version WHERE member.version <= EXCLUDED.version",
            member.id,
            member.phone,
            member.community_id,
            member.active,
            version,
        )

    async def streets_of(self, community_ids: Iterable[str]) -> dict[str, str]:
        rows = await self._pool.fetch(
            "SELECT id, street_id FROM community WHERE id = ANY($1::text[])", list(community_ids)
        )
        return {r["id"]: r["street_id"] for r in rows}

    async def communities_in(self, street_ids: Iterable[str]) -> frozenset[str]:
        rows = await self._pool.fetch(
            "SELECT id FROM community WHERE street_id = ANY($1::text[])", list(street_ids)
        )
        return frozenset(r["id"] for r in rows)

    async def member_by_phone(self, phone: str) -> MemberRef | None:
        rows = await self._pool.fetch(
            "SELECT id, phone, community_id, active FROM member WHERE phone = $1 AND active",
            phone,
        )
        # Two active members never share a phone in the registry; if the read model briefly
        # says so, neither signs in.
        return records.member(rows[0]) if len(rows) == 1 else None

    async def member(self, member_id: str) -> MemberRef | None:
        row = await self._pool.fetchrow(
            "SELECT id, phone, community_id, active FROM member WHERE id = $1", member_id
        )
        return records.member(row) if row else None

    # -- accounts ------------------------------------------------------------------------------

    async def add_account(self, account: Account, events: list[Event], actor: Principal) -> None:
        async with self.transaction() as conn:
            try:
                await conn.execute(
                    f"INSERT INTO account ({ACCOUNT_COLUMNS})"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    *records.account_args(account),
                )
            except asyncpg.UniqueViolationError:
                raise user_name_taken() from None
            await self._outbox.add_many(conn, list(events), actor)

    async def update_account(self, account_id: str, change: Change, actor: Principal) -> Account:
        async with self.transaction() as conn:
            row = await conn.fetchrow("SELECT * FROM account WHERE id = $1 FOR UPDATE", account_id)
            if row is None:
                raise account_not_found(account_id)
            before = records.account(row)
            after, events = change(before)
            await conn.execute(
                "UPDATE account SET user_name = $2, role = $3, community_ids = $4,"
                " street_ids = $5, password_hash = $6, totp_sealed = $7, totp_enrolled = $8,"
                " disabled = $9, totp_last_step = $10 WHERE id = $1",
                *records.account_args(after),
            )
            if events:
                await self._outbox.add_many(conn, list(events), actor)
            if records.revokes_tokens(before, after):
                await conn.execute(
                    "UPDATE refresh_token SET revoked_at = now()"
                    " WHERE kind = $1 AND subject = $2 AND revoked_at IS NULL",
                    SubjectKind.ACCOUNT.value,
                    account_id,
                )
            return records.account({**row, **_written(after)})

    async def account(self, account_id: str) -> Account | None:
        row = await self._pool.fetchrow("SELECT * FROM account WHERE id = $1", account_id)
        return records.account(row) if row else None

    async def account_by_name(self, user_name: str) -> Account | None:
        row = await self._pool.fetchrow("SELECT * FROM account WHERE user_name = $1", user_name)
        return records.account(row) if row else None

    async def list_accounts(
        self, after: str | None, limit: int, within: frozenset[str] | None
    ) -> list[Account]:
        rows = await self._pool.fetch(
            "SELECT * FROM account WHERE ($1::text IS NULL OR user_name > $1)"
            " AND ($2::text[] IS NULL OR (role = $3 AND cardinality(community_ids) > 0"
            "      AND community_ids <@ $2::text[]))"
            " ORDER BY user_name LIMIT $4",
            after,
            None if within is None else sorted(within),
            Role.COMMUNITY_STAFF.value,
            limit,
        )
        return [records.account(r) for r in rows]

    # -- attempts and codes --------------------------------------------------------------------

    async def attempts(self, key: str) -> Attempts:
        row = await self._pool.fetchrow("SELECT * FROM attempt WHERE key = $1", key)
        return records.attempts(row)

    async def count_attempt(self, key: str, now: datetime, window_s: float) -> Attempts:
        # One statement: concurrent failures are all counted.
        row = await self._pool.fetchrow(
            "INSERT INTO attempt (key, count, window_ends)"
            " VALUES ($1, 1, $2::timestamptz + make_interval(secs => $3::float8))"
            " ON CONFLICT (key) DO UPDATE SET"
            "  count = CASE WHEN attempt.window_ends <= $2::timestamptz THEN 1"
            "          ELSE attempt.count + 1 END,"
            "  window_ends = CASE WHEN attempt.window_ends <= $2::timestamptz"
            "                THEN EXCLUDED.window_ends ELSE attempt.window_ends END"
            " RETURNING count, window_ends",
            key,
            now,
            float(window_s),
        )
        return records.attempts(row)

    async def clear_attempts(self, key: str) -> None:
        await self._pool.execute("DELETE FROM attempt WHERE key = $1", key)

    async def put_code(self, code: PhoneCode) -> None:
        await self._pool.execute(
            "INSERT INTO phone_code (phone, code_hash, expires_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (phone) DO UPDATE SET code_hash = EXCLUDED.code_hash,"
            " expires_at = EXCLUDED.expires_at",
            code.phone,
            code.code_hash,
            code.expires_at,
        )

    async def code(self, phone: str) -> PhoneCode | None:
        row = await self._pool.fetchrow("SELECT * FROM phone_code WHERE phone = $1", phone)
        return records.phone_code(row) if row else None

    async def spend_code(self, phone: str, code_hash: bytes) -> bool:
        done = await self._pool.fetchval(
            "DELETE FROM phone_code WHERE phone = $1 AND code_hash = $2 RETURNING phone",
            phone,
            code_hash,
        )
        return done is not None

    # -- refresh tokens ------------------------------------------------------------------------

    async def add_refresh(self, token: RefreshToken) -> None:
        await self._add_refresh(self._pool, token)

    @staticmethod
    async def _add_refresh(conn: asyncpg.Pool | asyncpg.Connection, t: RefreshToken) -> None:
        await conn.execute(
            "INSERT INTO refresh_token (token_hash, family, kind, subject, expires_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            t.token_hash,
            t.family,
            t.kind.value,
            t.subject,
            t.expires_at,
        )

    async def rotate_refresh(
        self, token_hash: bytes, now: datetime, successor: Callable[[RefreshToken], RefreshToken]
    ) -> RefreshToken | None:
        async with self.transaction() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM refresh_token WHERE token_hash = $1 FOR UPDATE", token_hash
            )
            if row is None:
                return None
            if row["spent_at"] is not None:
                await self._revoke_family(conn, row["family"])
                return None
            if row["revoked_at"] is not None or row["expires_at"] <= now:
                return None
            await conn.execute(
                "UPDATE refresh_token SET spent_at = now() WHERE token_hash = $1", token_hash
            )
            new = successor(records.refresh(row))
            await self._add_refresh(conn, new)
            return new

    @staticmethod
    async def _revoke_family(conn: asyncpg.Connection, family: object) -> None:
        await conn.execute(
            "UPDATE refresh_token SET revoked_at = now() WHERE family = $1 AND revoked_at IS NULL",
            family,
        )

    async def revoke_family(self, token_hash: bytes, now: datetime, ended: Ended) -> None:
        async with self.transaction() as conn:
            row = await conn.fetchrow(
                "SELECT family, subject FROM refresh_token WHERE token_hash = $1", token_hash
            )
            if row is not None:
                await self._revoke_family(conn, row["family"])
                await self._outbox.add_many(conn, ended(row["subject"], str(row["family"])), None)

    async def revoke_subject(self, kind: SubjectKind, subject: str, now: datetime) -> None:
        await self._pool.execute(
            "UPDATE refresh_token SET revoked_at = now()"
            " WHERE kind = $1 AND subject = $2 AND revoked_at IS NULL",
            kind.value,
            subject,
        )

    async def announce(self, tx: Tx, events: list[Event]) -> None:
        await self._outbox.add_many(tx, list(events), None)

    # -- signing keys --------------------------------------------------------------------------

    async def signing_keys(self) -> list[SigningKey]:
        rows = await self._pool.fetch("SELECT * FROM signing_key ORDER BY created_at")
        return [records.signing_key(r) for r in rows]

    async def rotate_key(
        self, new: SigningKey, retire: Callable[[SigningKey], SigningKey], only_if_none: bool
    ) -> bool:
        async with self.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", KEY_LOCK)
            rows = await conn.fetch("SELECT * FROM signing_key WHERE retired_at IS NULL")
            if rows and only_if_none:
                return False
            for r in rows:
                old = retire(records.signing_key(r))
                await conn.execute(
                    "UPDATE signing_key SET retired_at = $2, published_until = $3 WHERE kid = $1",
                    old.kid,
                    old.retired_at,
                    old.published_until,
                )
            await conn.execute(
                "INSERT INTO signing_key (kid, private_sealed, public_jwk, created_at)"
                " VALUES ($1, $2, $3::jsonb, $4)",
                new.kid,
                new.private_sealed,
                json.dumps(new.public_jwk),
                new.created_at,
            )
            return True


def _written(a: Account) -> dict[str, object]:
    return {
        "role": a.role.value,
        "community_ids": sorted(a.community_ids),
        "street_ids": sorted(a.street_ids),
        "password_hash": a.password_hash,
        "totp_sealed": a.totp_sealed,
        "totp_enrolled": a.totp_enrolled,
        "totp_last_step": a.totp_last_step,
        "disabled": a.disabled,
    }
