"""The sign-in revocations every service has heard of: an access token of a subject issued
before its revocation is refused, without asking the identity service on each call."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import jwt
from nats.js import JetStreamContext

from linli.v1 import events_pb2
from services.common import subjects
from services.common.auth import Principal
from services.common.errors import Unauthenticated
from services.common.eventbus.consumer import Consumer
from services.common.eventkeys import KeyRing
from services.common.protoconv import time_from_proto
from services.common.settings import Settings

log = logging.getLogger(__name__)


class Revocations:
    """(subject, session) → the instant before which its tokens are dead (session "": all the
    subject's sign-ins; else the one sign-in whose tokens carry it as `sid`). Kept in a table
    of the service's own schema (durable, so a restarted service still refuses) and in memory
    (no query per call), updated once the consumer's transaction is committed."""

    def __init__(self, pool: asyncpg.Pool, keep_s: float) -> None:
        self._pool = pool
        self._keep_s = keep_s
        self._before: dict[tuple[str, str], float] = {}

    async def load(self) -> None:
        """Reads the table into memory. A merge, never a replacement: an event committed while
        the query ran is in memory already and may be missing from what it read."""
        rows = await self._pool.fetch("SELECT subject, session, revoked_before FROM revocation")
        for r in rows:
            self._raise((r["subject"], r["session"]), r["revoked_before"].timestamp())

    def _raise(self, key: tuple[str, str], before: float) -> None:
        self._before[key] = max(before, self._before.get(key, 0.0))

    def revoked(self, subject: str, session: str, issued_at: float) -> bool:
        """Whether a token of `subject` and sign-in `session` (its sid, or "") issued at
        `issued_at` (its iat) is revoked."""
        keys = [(subject, "")] + ([(subject, session)] if session else [])
        return any(issued_at < self._before.get(k, float("-inf")) for k in keys)

    async def apply(self, conn: asyncpg.Connection, env: events_pb2.EventEnvelope) -> None:
        e = _event(env)
        if e is None:
            return
        # The latest revocation wins whatever order the events arrive in.
        await conn.execute(
            "INSERT INTO revocation (subject, session, revoked_before) VALUES ($1, $2, $3)"
            " ON CONFLICT (subject, session) DO UPDATE SET revoked_before ="
            " greatest(revocation.revoked_before, EXCLUDED.revoked_before)",
            e.subject,
            e.session,
            time_from_proto(e.before),
        )

    async def after(self, env: events_pb2.EventEnvelope) -> None:
        e = _event(env)
        if e is None:
            return
        self._raise((e.subject, e.session), time_from_proto(e.before).timestamp())

    async def prune(self) -> None:
        """Forgets revocations that no unexpired token can be covered by any more."""
        cutoff = time.time() - self._keep_s
        await self._pool.execute(
            "DELETE FROM revocation WHERE revoked_before < $1", datetime.fromtimestamp(cutoff, UTC)
        )
        self._before = {s: b for s, b in self._before.items() if b >= cutoff}

    def consumer(self, js: JetStreamContext, settings: Settings) -> Consumer:
        return Consumer(
            self._pool,
            js,
            stream=settings.stream_name,
            durable=f"{settings.service_name}-revocations",
            subjects=[subjects.SIGNINS_REVOKED],
            handler=self.apply,
            after=self.after,
            keys=KeyRing.from_settings(settings),
            service=settings.service_name,
        )


def _event(env: events_pb2.EventEnvelope) -> events_pb2.SignInsRevoked | None:
    e = events_pb2.SignInsRevoked()
    if not env.payload.Unpack(e):
        log.warning(
            "ignored an event of type %s on the revocations subject", env.payload.TypeName()
        )
        return None
    return e


def refusing_revoked(
    check: Callable[[str], Awaitable[Principal]], revocations: Revocations
) -> Callable[[str], Awaitable[Principal]]:
    """The token check `check`, then the revocations: a token valid by its signature and expiry
    whose subject's sign-ins ended after it was issued is refused all the same."""

    async def checked(token: str) -> Principal:
        principal = await check(token)
        # The signature is verified by now: the claims can be read as they are.
        claims = jwt.decode(token, options={"verify_signature": False})
        issued, session = claims.get("iat"), claims.get("sid")
        session = session if isinstance(session, str) else ""
        if isinstance(issued, int | float) and revocations.revoked(
            principal.subject, session, issued
        ):
            raise Unauthenticated("token revoked")
        return principal

    return checked
