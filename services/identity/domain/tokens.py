"""What a token says and how long tokens live: the claims every service reads (the same as
`services.common.auth.issue_token`'s), refresh tokens and their families."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from services.common.auth import Principal
from services.identity.domain.codes import hash_secret


def claims(
    principal: Principal,
    *,
    issuer: str,
    audience: str,
    now: datetime,
    ttl_s: int,
    session: str = "",
) -> dict[str, Any]:
    # To the millisecond: a sign-in in the same second as a revocation, but after it, is not
    # covered by it (NumericDate allows fractions).
    issued = round(now.timestamp(), 3)
    # The sign-in (refresh family) the token belongs to, so a sign-out can end it alone.
    sid = {"sid": session} if session else {}
    return {
        **sid,
        "iss": issuer,
        "aud": audience,
        "sub": principal.subject,
        "iat": issued,
        "exp": issued + ttl_s,
        "jti": str(uuid.uuid4()),
        "role": principal.role.value,
        "communities": sorted(principal.community_ids),
        "streets": sorted(principal.street_ids),
    }


class SubjectKind(StrEnum):
    """Whom a refresh token signs in again: a staff account or a member."""

    ACCOUNT = "account"
    MEMBER = "member"


@dataclass(frozen=True)
class RefreshToken:
    """A refresh token as kept: its hash, the sign-in (family) it belongs to, whom it names."""

    token_hash: bytes
    family: str
    kind: SubjectKind
    subject: str
    expires_at: datetime


def new_refresh(
    kind: SubjectKind, subject: str, now: datetime, ttl_s: int, family: str | None = None
) -> tuple[str, RefreshToken]:
    """A fresh refresh token (given to the caller once) and what is kept of it."""
    token = secrets.token_urlsafe(32)
    kept = RefreshToken(
        hash_secret(token),
        family or str(uuid.uuid4()),
        kind,
        subject,
        now + timedelta(seconds=ttl_s),
    )
    return token, kept


@dataclass(frozen=True)
class Issued:
    """What a sign-in gives back."""

    access_token: str
    access_expires_at: datetime
    principal: Principal
    refresh_token: str = ""
    refresh_expires_at: datetime | None = None
