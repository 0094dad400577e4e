"""Issuing and checking tokens: the signing keys as loaded (created at first start, rotated on
demand, reloaded from the store), access tokens, refresh tokens and their rotation."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from services.common import auth
from services.common.auth import Principal, Role
from services.common.clock import Clock
from services.common.errors import Unauthenticated
from services.common.settings import IdentitySettings
from services.identity import events
from services.identity.domain.codes import hash_secret
from services.identity.domain.errors import BadCredentials
from services.identity.domain.tokens import Issued, RefreshToken, SubjectKind, claims, new_refresh
from services.identity.keys import KeySet, Sealer, new_signing_key, retire
from services.identity.store import IdentityStore

log = logging.getLogger(__name__)

# An unknown kid reloads the keys from the store at most this often (another replica may have
# rotated); a flood of made-up kids costs one query per interval.
RELOAD_MIN_S = 2.0


class Tokens:
    def __init__(
        self, store: IdentityStore, settings: IdentitySettings, sealer: Sealer, clock: Clock
    ) -> None:
        self.store = store
        self.settings = settings
        self.keys = KeySet(sealer)
        self.clock = clock
        self._reloaded = 0.0

    # -- keys ----------------------------------------------------------------------------------

    async def ensure_key(self) -> None:
        """A first key at the first start (one replica wins), then the keys loaded."""
        await self.store.rotate_key(
            new_signing_key(self.keys.sealer, self.clock()), self._retire, only_if_none=True
        )
        await self.reload()

    async def rotate(self, actor: Principal) -> str:
        actor.require(Role.DISTRICT_ADMIN)
        key = new_signing_key(self.keys.sealer, self.clock())
        await self.store.rotate_key(key, self._retire, only_if_none=False)
        await self.reload()
        log.info("signing key rotated: %s is active", key.kid)
        return key.kid

    def _retire(self, key: Any) -> Any:
        # Published until every token it signed has expired, and a margin for clock skew.
        return retire(key, self.clock(), self.settings.access_ttl_s + self.settings.key_grace_s)

    async def reload(self) -> None:
        self._reloaded = time.monotonic()
        self.keys.load(await self.store.signing_keys(), self.clock())

    def jwks(self) -> dict[str, Any]:
        return self.keys.jwks()

    @property
    def active_kid(self) -> str:
        active = self.keys.active
        return active.kid if active else ""

    # -- access tokens -------------------------------------------------------------------------

    def access(
        self, principal: Principal, ttl_s: int | None = None, session: str = ""
    ) -> tuple[str, datetime]:
        s = self.settings
        ttl = ttl_s or s.access_ttl_s
        # Tokens carry real time: every verifier checks them against its own real clock.
        now = datetime.now(UTC)
        token = self.keys.sign(
            claims(
                principal,
                issuer=s.jwt_issuer,
                audience=s.jwt_audience,
                now=now,
                ttl_s=ttl,
                session=session,
            )
        )
        return token, now + timedelta(seconds=ttl)

    async def verify(self, token: str) -> Principal:
        """The check of this service's own interceptor: its own keys (reloaded on an unknown
        kid), and in dev mode the development tokens every service accepts there."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as e:
            raise Unauthenticated("bad token") from e
        if header.get("alg") == "HS256":
            return auth.verify_token(self.settings, token)
        kid = str(header.get("kid"))
        if not self.keys.knows(kid) and time.monotonic() - self._reloaded > RELOAD_MIN_S:
            await self.reload()
        s = self.settings
        return self.keys.verify(token, issuer=s.jwt_issuer, audience=s.jwt_audience)

    # -- sign-ins ------------------------------------------------------------------------------

    async def issue(self, principal: Principal, kind: SubjectKind) -> Issued:
        """An access token and the first refresh token of a new sign-in."""
        refresh, kept = new_refresh(
            kind, principal.subject, self.clock(), self.settings.refresh_ttl_s
        )
        await self.store.add_refresh(kept)
        token, expires = self.access(principal, session=kept.family)
        return Issued(token, expires, principal, refresh, kept.expires_at)

    async def rotate_refresh(self, refresh: str) -> tuple[RefreshToken, str]:
        """Spends `refresh` and returns its successor (kept, and given); BadCredentials when it
        is not a live one (a spent one revokes its family)."""
        given: list[str] = []

        def successor(old: RefreshToken) -> RefreshToken:
            # The successor lives as long as the sign-in it continues.
            left = max(int((old.expires_at - self.clock()).total_seconds()), 1)
            token, kept = new_refresh(old.kind, old.subject, self.clock(), left, old.family)
            given.append(token)
            return kept

        new = await self.store.rotate_refresh(hash_secret(refresh), self.clock(), successor)
        if new is None:
            raise BadCredentials()
        return new, given[0]

    async def revoke(self, refresh: str, reason: str) -> None:
        """Ends the sign-in of `refresh`: its refresh family here, its access tokens at every
        service (announced in the same transaction)."""

        def ended(subject: str, family: str) -> list[events.Event]:
            return [events.signins_revoked(subject, reason, session=family)]

        await self.store.revoke_family(hash_secret(refresh), self.clock(), ended)
