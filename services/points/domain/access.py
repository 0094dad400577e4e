"""Who may read a member's points and record their redemptions: the member themself, staff of
their community, administrators whose scope holds it. Anyone else is told the member is not
there, as for a member nobody knows."""

from __future__ import annotations

from services.common.auth import Principal, Role
from services.common.errors import PermissionDenied
from services.points.domain.errors import member_not_found
from services.points.domain.members import MemberRef


def require_reader(
    principal: Principal, member_id: str, member: MemberRef | None, street: str | None
) -> None:
    """`street`: the street of the member's community, when known."""
    if principal.role is Role.MEMBER:
        if principal.subject != member_id or (member is not None and member.erased):
            raise member_not_found(member_id)
        return
    if member is None or member.erased or not member.community_id:
        raise member_not_found(member_id)
    if not principal.holds(member.community_id, street):
        raise member_not_found(member_id)


def require_redeemer(principal: Principal, member_id: str, member: MemberRef | None) -> str:
    """Staff of the member's community record redemptions; returns that community."""
    if principal.role is not Role.COMMUNITY_STAFF:
        raise PermissionDenied("redemptions are recorded by staff of the member's community")
    if member is None or member.erased or member.community_id not in principal.community_ids:
        raise member_not_found(member_id)
    return member.community_id


def require_community_reader(principal: Principal, community_id: str, street: str | None) -> None:
    if principal.role is Role.MEMBER or not principal.holds(community_id, street):
        raise PermissionDenied(f"community {community_id} is outside the caller's scope")
