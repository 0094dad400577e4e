"""The signed-in user's session, kept by the browser alone: the identity service's tokens sealed
with AES-256-GCM into one cookie, and the CSRF token bound to that session."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass, replace

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from linli.v1 import common_pb2, identity_pb2
from services.common.protoconv import time_from_proto

# Bound into every sealed cookie, so that nothing sealed with the same key for another purpose
# opens as a session.
_PURPOSE = b"linli.console.session/1"
STAFF_ROLES = (
    common_pb2.ROLE_COMMUNITY_STAFF,
    common_pb2.ROLE_STREET_ADMIN,
    common_pb2.ROLE_DISTRICT_ADMIN,
)


@dataclass(frozen=True)
class Session:
    sid: str  # random per sign-in: the CSRF token is bound to it
    user: str
    access: str
    access_exp: float
    refresh: str
    refresh_exp: float
    role: int
    communities: tuple[str, ...]
    streets: tuple[str, ...]
    started: float

    @classmethod
    def signed_in(cls, user: str, tokens: identity_pb2.Tokens, now: float) -> Session:
        p = tokens.principal
        return cls(
            sid=secrets.token_urlsafe(18),
            user=user,
            access=tokens.access_token,
            access_exp=time_from_proto(tokens.access_expires_at).timestamp(),
            refresh=tokens.refresh_token,
            refresh_exp=time_from_proto(tokens.refresh_expires_at).timestamp(),
            role=int(p.role),
            communities=tuple(p.community_ids),
            streets=tuple(p.street_ids),
            started=now,
        )

    def refreshed(self, tokens: identity_pb2.Tokens) -> Session:
        return replace(
            self,
            access=tokens.access_token,
            access_exp=time_from_proto(tokens.access_expires_at).timestamp(),
            refresh=tokens.refresh_token or self.refresh,
            refresh_exp=(
                time_from_proto(tokens.refresh_expires_at).timestamp()
                if tokens.refresh_token
                else self.refresh_exp
            ),
        )

    @property
    def district_wide(self) -> bool:
        return self.role == common_pb2.ROLE_DISTRICT_ADMIN

    @property
    def street_admin(self) -> bool:
        return self.role == common_pb2.ROLE_STREET_ADMIN


class Sealer:
    """Seals a session into a cookie value and opens it again; a value altered, sealed with
    another key or too old opens as None."""

    def __init__(self, key: bytes, max_age_s: int) -> None:
        self._aead = AESGCM(key)
        self._csrf_key = hmac.new(key, b"linli.console.csrf/1", hashlib.sha256).digest()
        self.max_age_s = max_age_s

    def seal(self, session: Session) -> str:
        nonce = os.urandom(12)
        data = json.dumps(asdict(session), separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, data, _PURPOSE)).decode()

    def open(self, value: str | None, now: float) -> Session | None:
        if not value or len(value) > 8000:
            return None
        try:
            raw = base64.urlsafe_b64decode(value.encode())
            data = json.loads(self._aead.decrypt(raw[:12], raw[12:], _PURPOSE))
            session = Session(
                **{
                    **data,
                    "communities": tuple(data["communities"]),
                    "streets": tuple(data["streets"]),
                }
            )
        except (InvalidTag, ValueError, TypeError, KeyError):
            return None
        if now - session.started > self.max_age_s or now >= session.refresh_exp:
            return None
        return session

    def csrf_token(self, bound_to: str) -> str:
        """The CSRF token of a session (its sid) or of a signed-out browser (its pre-session id)."""
        mac = hmac.new(self._csrf_key, bound_to.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def csrf_ok(self, bound_to: str, given: str) -> bool:
        return bool(bound_to) and hmac.compare_digest(self.csrf_token(bound_to), given or "")
