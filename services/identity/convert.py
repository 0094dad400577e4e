"""Proto <-> domain for the identity service's messages."""

from __future__ import annotations

from datetime import datetime

from linli.v1 import common_pb2, identity_pb2, registry_pb2
from services.common.auth import Principal, Role
from services.common.protoconv import time_from_proto, ts
from services.identity.domain.accounts import Account
from services.identity.domain.members import MemberRef
from services.identity.domain.tokens import Issued

_ROLES = {
    common_pb2.ROLE_MEMBER: Role.MEMBER,
    common_pb2.ROLE_COMMUNITY_STAFF: Role.COMMUNITY_STAFF,
    common_pb2.ROLE_STREET_ADMIN: Role.STREET_ADMIN,
    common_pb2.ROLE_DISTRICT_ADMIN: Role.DISTRICT_ADMIN,
    common_pb2.ROLE_SERVICE: Role.SERVICE,
}


def role(value: int) -> Role | None:
    return _ROLES.get(value)  # type: ignore[call-overload]


def account_to_proto(a: Account) -> identity_pb2.Account:
    return identity_pb2.Account(
        id=a.id,
        user_name=a.user_name,
        role=Principal(a.id, a.role).to_proto().role,
        community_ids=sorted(a.community_ids),
        street_ids=sorted(a.street_ids),
        disabled=a.disabled,
        totp_enrolled=a.totp_enrolled,
        created_at=ts(a.created_at),
    )


def tokens_to_proto(t: Issued) -> identity_pb2.Tokens:
    return identity_pb2.Tokens(
        access_token=t.access_token,
        access_expires_at=ts(t.access_expires_at),
        refresh_token=t.refresh_token,
        refresh_expires_at=ts(t.refresh_expires_at),
        principal=t.principal.to_proto(),
    )


def member_ref(m: registry_pb2.Member) -> tuple[MemberRef, datetime]:
    """The member as the read model keeps it, and its version."""
    active = m.status == registry_pb2.MEMBER_STATUS_ACTIVE
    return MemberRef(m.id, m.phone, m.community_id, active), time_from_proto(m.update_time)
