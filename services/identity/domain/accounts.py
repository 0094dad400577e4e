"""Staff and service accounts: what one is, the checks of what a caller asks for, and who may
manage whom."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.common.auth import Principal, Role
from services.common.checks import ID_MAX, Violations
from services.common.errors import PermissionDenied
from services.identity.domain.errors import not_yours

USER_NAME_RE = re.compile(r"[A-Za-z0-9._-]{3,64}")
PASSWORD_MIN = 12
PASSWORD_MAX = 256
SCOPE_MAX = 200
STAFF_ROLES = (Role.COMMUNITY_STAFF, Role.STREET_ADMIN, Role.DISTRICT_ADMIN)
# Roles that sign in with a second factor.
TOTP_ROLES = (Role.STREET_ADMIN, Role.DISTRICT_ADMIN)


@dataclass(frozen=True)
class Account:
    id: str
    user_name: str
    role: Role
    community_ids: frozenset[str] = field(default_factory=frozenset)
    street_ids: frozenset[str] = field(default_factory=frozenset)
    password_hash: str = ""
    # The TOTP seed, sealed; `totp_enrolled` once a first code confirmed it.
    totp_sealed: bytes = b""
    totp_enrolled: bool = False
    # The time step of the last TOTP code accepted: no code is accepted twice.
    totp_last_step: int = 0
    disabled: bool = False
    created_at: datetime | None = None

    @property
    def needs_totp(self) -> bool:
        return self.role in TOTP_ROLES

    def principal(self) -> Principal:
        return Principal(self.id, self.role, self.community_ids, self.street_ids)


def new_account_id() -> str:
    return str(uuid.uuid4())


def check_user_name(v: Violations, field_name: str, value: str) -> str:
    if not USER_NAME_RE.fullmatch(value):
        v.add(field_name, "must be 3 to 64 letters, digits, '.', '_' or '-'")
    return value.lower()


def check_password(v: Violations, field_name: str, value: str) -> str:
    if len(value) < PASSWORD_MIN:
        v.add(field_name, f"must be at least {PASSWORD_MIN} characters")
    elif len(value) > PASSWORD_MAX:
        v.add(field_name, f"must be at most {PASSWORD_MAX} characters")
    return value


def check_scope(
    v: Violations, role: Role | None, communities: list[str], streets: list[str]
) -> tuple[Role, frozenset[str], frozenset[str]]:
    """A staff role and the scope it needs: communities for community staff, streets for street
    administrators, none for district administrators."""
    if role not in STAFF_ROLES:
        v.add("role", "must be COMMUNITY_STAFF, STREET_ADMIN or DISTRICT_ADMIN")
        return Role.COMMUNITY_STAFF, frozenset(), frozenset()
    ids: dict[str, list[str]] = {"community_ids": communities, "street_ids": streets}
    for name, values in ids.items():
        if len(values) > SCOPE_MAX:
            v.add(name, f"at most {SCOPE_MAX}")
        for i, value in enumerate(values[:SCOPE_MAX]):
            if not value or len(value) > ID_MAX or not value.isprintable():
                v.add(f"{name}[{i}]", f"must be 1 to {ID_MAX} printable characters")
    wanted = {
        Role.COMMUNITY_STAFF: ("community_ids", "street_ids"),
        Role.STREET_ADMIN: ("street_ids", "community_ids"),
    }.get(role)
    if wanted is None:
        if communities or streets:
            v.add("community_ids", "a district administrator's scope is the whole district")
    else:
        needed, empty = wanted
        if not ids[needed]:
            v.add(needed, "name at least one")
        if ids[empty]:
            v.add(empty, f"not for {role.value}")
    return role, frozenset(communities), frozenset(streets)


def may_manage(
    actor: Principal, role: Role, communities: frozenset[str], streets_of: Mapping[str, str]
) -> bool:
    """Whether `actor` may create, change or disable an account of `role` over `communities`:
    district administrators manage anyone; street administrators the community staff of
    communities in their streets (`streets_of`: community → street, from the registry)."""
    if actor.role is Role.DISTRICT_ADMIN:
        return True
    if actor.role is Role.STREET_ADMIN and role is Role.COMMUNITY_STAFF and communities:
        return all(streets_of.get(c) in actor.street_ids for c in communities)
    return False


def require_manages(
    actor: Principal, account: Account, streets_of: Mapping[str, str], *, own_ok: bool = False
) -> None:
    if own_ok and actor.subject == account.id:
        return
    if not may_manage(actor, account.role, account.community_ids, streets_of):
        raise not_yours()


def require_may_grant(
    actor: Principal, role: Role, communities: frozenset[str], streets_of: Mapping[str, str]
) -> None:
    if actor.role not in (Role.STREET_ADMIN, Role.DISTRICT_ADMIN):
        raise PermissionDenied(f"role {actor.role.value} manages no account")
    if not may_manage(actor, role, communities, streets_of):
        raise PermissionDenied("that role or scope is beyond what you manage")


def rescoped(
    account: Account, role: Role, communities: frozenset[str], streets: frozenset[str]
) -> Account:
    # A new role that needs a second factor enrols again; TOTP kept when the role keeps needing it.
    keep_totp = role in TOTP_ROLES and account.needs_totp
    return replace(
        account,
        role=role,
        community_ids=communities,
        street_ids=streets,
        totp_enrolled=account.totp_enrolled and keep_totp,
        totp_sealed=account.totp_sealed if keep_totp else b"",
    )


def disabled(account: Account) -> Account:
    return replace(account, disabled=True)
