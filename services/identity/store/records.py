"""Rows <-> domain values for the identity service's tables, and the rules both stores apply
alike when they write."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from services.common.auth import Role
from services.identity.domain.accounts import Account
from services.identity.domain.attempts import Attempts
from services.identity.domain.codes import PhoneCode
from services.identity.domain.members import MemberRef
from services.identity.domain.tokens import RefreshToken, SubjectKind
from services.identity.keys import SigningKey

Row = Mapping[str, Any]


def revokes_tokens(before: Account, after: Account) -> bool:
    """A change after which the account's refresh tokens sign nobody in any more (a new
    password revokes them too, by the use case: a rehash on sign-in must not)."""
    return after.disabled or (
        after.role != before.role
        or after.community_ids != before.community_ids
        or after.street_ids != before.street_ids
    )


def within_scope(role: Role, communities: frozenset[str], within: frozenset[str]) -> bool:
    return role is Role.COMMUNITY_STAFF and bool(communities) and communities <= within


def account(r: Row) -> Account:
    return Account(
        id=str(r["id"]),
        user_name=r["user_name"],
        role=Role(r["role"]),
        community_ids=frozenset(r["community_ids"]),
        street_ids=frozenset(r["street_ids"]),
        password_hash=r["password_hash"],
        totp_sealed=bytes(r["totp_sealed"]),
        totp_enrolled=r["totp_enrolled"],
        totp_last_step=r["totp_last_step"],
        disabled=r["disabled"],
        created_at=r["created_at"],
    )


def account_args(a: Account) -> tuple[Any, ...]:
    return (
        a.id,
        a.user_name,
        a.role.value,
        sorted(a.community_ids),
        sorted(a.street_ids),
        a.password_hash,
        a.totp_sealed,
        a.totp_enrolled,
        a.disabled,
        a.totp_last_step,
    )


def member(r: Row) -> MemberRef:
    return MemberRef(r["id"], r["phone"], r["community_id"], r["active"])


def attempts(r: Row | None) -> Attempts:
    return Attempts(r["count"], r["window_ends"]) if r else Attempts()


def phone_code(r: Row) -> PhoneCode:
    return PhoneCode(r["phone"], bytes(r["code_hash"]), r["expires_at"])


def refresh(r: Row) -> RefreshToken:
    return RefreshToken(
        bytes(r["token_hash"]),
        str(r["family"]),
        SubjectKind(r["kind"]),
        r["subject"],
        r["expires_at"],
    )


def signing_key(r: Row) -> SigningKey:
    jwk = r["public_jwk"]
    return SigningKey(
        r["kid"],
        bytes(r["private_sealed"]),
        json.loads(jwk) if isinstance(jwk, str) else dict(jwk),
        r["created_at"],
        r["retired_at"],
        r["published_until"],
    )
