"""Who is calling: the principal a token names, its role and its scope, and how claims name them.

Callers send `authorization: Bearer <token>`. The server interceptor verifies it
(`services.common.tokens`: the identity service's keys through its JWKS, an external OpenID
issuer, or in dev mode HS256 with a shared key) and puts the Principal where handlers can read it
(`current_principal()`); handlers decide what the role and scope allow. Health checks and
reflection need no token.
"""

from __future__ import annotations

import contextvars
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import jwt

from linli.v1 import common_pb2
from services.common.errors import PermissionDenied, Unauthenticated
from services.common.settings import Settings


class Role(StrEnum):
    MEMBER = "member"
    COMMUNITY_STAFF = "community_staff"
    STREET_ADMIN = "street_admin"
    DISTRICT_ADMIN = "district_admin"
    SERVICE = "service"


_ROLE_TO_PROTO = {
    Role.MEMBER: common_pb2.ROLE_MEMBER,
    Role.COMMUNITY_STAFF: common_pb2.ROLE_COMMUNITY_STAFF,
    Role.STREET_ADMIN: common_pb2.ROLE_STREET_ADMIN,
    Role.DISTRICT_ADMIN: common_pb2.ROLE_DISTRICT_ADMIN,
    Role.SERVICE: common_pb2.ROLE_SERVICE,
}
_PROTO_TO_ROLE = {v: k for k, v in _ROLE_TO_PROTO.items()}


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    community_ids: frozenset[str] = field(default_factory=frozenset)
    street_ids: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_everywhere(self) -> bool:
        """District administrators and services act across the whole district."""
        return self.role in (Role.DISTRICT_ADMIN, Role.SERVICE)

    def holds(self, community_id: str | None, street_id: str | None) -> bool:
        """Whether a place (a community, and the street it lies in) is inside this scope."""
        if self.is_everywhere:
            return True
        if self.role is Role.COMMUNITY_STAFF:
            return community_id is not None and community_id in self.community_ids
        if self.role is Role.STREET_ADMIN:
            return street_id is not None and street_id in self.street_ids
        return False

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise PermissionDenied(f"role {self.role.value} may not do this (allowed: {allowed})")

    def to_proto(self) -> common_pb2.Principal:
        return common_pb2.Principal(
            subject=self.subject,
            role=_ROLE_TO_PROTO[self.role],
            community_ids=sorted(self.community_ids),
            street_ids=sorted(self.street_ids),
        )

    @classmethod
    def from_proto(cls, p: common_pb2.Principal) -> Principal:
        return cls(
            subject=p.subject,
            role=_PROTO_TO_ROLE[p.role],
            community_ids=frozenset(p.community_ids),
            street_ids=frozenset(p.street_ids),
        )


def issue_token(settings: Settings, principal: Principal, ttl_s: int = 12 * 3600) -> str:
    """A development token: HS256 with LINLI_JWT_SECRET, accepted only by services in dev mode.
    The identity service issues the real ones, with the same claims."""
    # To the millisecond, as the identity service's: a revocation and a token issued in the
    # same second stay apart.
    now = round(time.time(), 3)
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": principal.subject,
        "iat": now,
        "exp": round(now + ttl_s, 3),
        "jti": str(uuid.uuid4()),
        "role": principal.role.value,
        "communities": sorted(principal.community_ids),
        "streets": sorted(principal.street_ids),
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def verify_token(settings: Settings, token: str) -> Principal:
    """A development token (HS256 with LINLI_JWT_SECRET, as `linli token` and the tests make):
    accepted in dev mode only. Production tokens are checked by `services.common.tokens`."""
    if not settings.dev_mode:
        raise Unauthenticated("bad token: development tokens are accepted in dev mode only")
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=["HS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=settings.jwt_leeway_s,
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as e:
        raise Unauthenticated("token expired") from e
    except jwt.InvalidTokenError as e:
        raise Unauthenticated(f"bad token: {e}") from e
    return principal_from_claims(claims)


@dataclass(frozen=True)
class ClaimMapping:
    """Which claims of a token name the principal, its role and its scope. The defaults are
    Linli's own (the identity service's and `issue_token`'s); an external issuer may differ.
    A name is first looked up as is, then as a dotted path into nested objects."""

    subject: str = "sub"
    role: str = "role"
    communities: str = "communities"
    streets: str = "streets"
    # The issuer's role values and the Linli role each stands for; empty: Linli's role names.
    roles: tuple[tuple[str, Role], ...] = ()


LINLI_CLAIMS = ClaimMapping()


def principal_from_claims(
    claims: Mapping[str, Any], mapping: ClaimMapping = LINLI_CLAIMS
) -> Principal:
    """The principal a verified token's claims name, or Unauthenticated saying what is wrong."""
    subject = _claim(claims, mapping.subject)
    if not isinstance(subject, str | int) or isinstance(subject, bool) or str(subject) == "":
        raise Unauthenticated(f"bad token: no subject in claim {mapping.subject!r}")
    role = _role(_claim(claims, mapping.role), mapping)
    communities = _claim(claims, mapping.communities) or []
    streets = _claim(claims, mapping.streets) or []
    if not isinstance(communities, list) or not isinstance(streets, list):
        raise Unauthenticated("bad token: communities and streets must be lists")
    if not all(isinstance(x, str) for x in (*communities, *streets)):
        raise Unauthenticated("bad token: communities and streets must be lists of ids")
    if role is Role.COMMUNITY_STAFF and not communities:
        raise Unauthenticated("bad token: community staff token names no community")
    if role is Role.STREET_ADMIN and not streets:
        raise Unauthenticated("bad token: street admin token names no street")
    return Principal(str(subject), role, frozenset(communities), frozenset(streets))


def _claim(claims: Mapping[str, Any], name: str) -> Any:
    if name in claims:
        return claims[name]
    found: Any = claims
    for part in name.split("."):
        if not isinstance(found, Mapping) or part not in found:
            return None
        found = found[part]
    return found


def _role(value: Any, mapping: ClaimMapping) -> Role:
    if not mapping.roles:
        try:
            return Role(str(value))
        except ValueError as e:
            raise Unauthenticated(f"bad token: unknown role {value!r}") from e
    table = dict(mapping.roles)
    given = value if isinstance(value, list) else [value]
    # An issuer's other roles (its own, unmapped) are no concern of Linli's.
    found = {table[v] for v in given if isinstance(v, str) and v in table}
    if len(found) != 1:
        why = "unknown role" if not found else "more than one role"
        raise Unauthenticated(f"bad token: {why} in claim {mapping.role!r}")
    return found.pop()


def token_from_metadata(metadata: object) -> str:
    for key, value in metadata or ():  # type: ignore[attr-defined]
        if key == "authorization":
            scheme, _, token = str(value).partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
            return token
    raise Unauthenticated("missing authorization metadata (Bearer token)")


_current: contextvars.ContextVar[Principal] = contextvars.ContextVar("linli_principal")


def current_principal() -> Principal:
    """The principal of the call being handled (set by the server interceptor)."""
    try:
        return _current.get()
    except LookupError as e:
        raise Unauthenticated("no principal for this call") from e


def set_current_principal(principal: Principal) -> contextvars.Token[Principal]:
    return _current.set(principal)
