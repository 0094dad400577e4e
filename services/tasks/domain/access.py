"""Who may take a place on a task, see it, and manage it: the member as the task service knows
them, and the caller's scope."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.common.auth import Principal, Role
from services.common.skills import PROOF_SKILLS
from services.tasks.domain.errors import ClaimRefusal, Refusal


@dataclass(frozen=True)
class MemberView:
    """What the task service knows of a member, from the registry's events."""

    id: str
    community_id: str | None
    street_id: str | None
    active: bool
    reported_in: bool  # and accepted by the community's staff
    # The skills needing proof whose certificate staff have verified.
    proven: frozenset[str] = frozenset()


def member_refusal(
    member: MemberView | None, community_id: str, street_id: str, street_wide: bool
) -> ClaimRefusal | None:
    """Why this member may not take a place on a task of this community, or None."""
    if member is None:
        return ClaimRefusal(
            Refusal.MEMBER_UNKNOWN, "the member is not known to the task service yet"
        )
    if not member.active:
        return ClaimRefusal(Refusal.MEMBER_INACTIVE, "the member is deactivated")
    if not member.reported_in or not member.community_id:
        return ClaimRefusal(
            Refusal.NOT_REPORTED_IN, "the member has not reported in to a community"
        )
    if member.community_id == community_id:
        return None
    if street_wide and member.street_id == street_id:
        return None
    return ClaimRefusal(
        Refusal.OUT_OF_SCOPE,
        f"the member reported in to {member.community_id!r}, not to this task's community",
    )


def proof_refusal(member: MemberView | None, skills: Iterable[str]) -> ClaimRefusal | None:
    """Why this member may not take a place asking for these skills: one that needs proof
    (a doctor's, a lawyer's, a driver's) counts only with a verified certificate. Other skills
    are matching's to weigh; a claim is not refused for them."""
    missing = sorted(
        s for s in skills if s in PROOF_SKILLS and (member is None or s not in member.proven)
    )
    if not missing:
        return None
    return ClaimRefusal(
        Refusal.SKILL_UNVERIFIED,
        f"the task needs {', '.join(missing)}, which staff have not verified for the member",
    )


def team_proof_refusal(member: MemberView | None, skills: Iterable[str]) -> ClaimRefusal | None:
    """On a team task a member covers some of the skills, not all: refused only when they can
    cover none of them (every one needs a certificate they do not hold verified)."""
    asked = list(skills)
    if any(proof_refusal(member, (s,)) is None for s in asked) or not asked:
        return None
    return proof_refusal(member, asked)


def skill_refusal(
    member: MemberView | None, skills: Iterable[str], team: bool
) -> ClaimRefusal | None:
    """The proof rule for a task's skills: of each member, or of the team together."""
    return team_proof_refusal(member, skills) if team else proof_refusal(member, skills)


def claim_problem(
    member: MemberView | None, community_id: str, street_id: str, street_wide: bool
) -> str | None:
    """Why this member may not take a place on a task of this community, or None."""
    found = member_refusal(member, community_id, street_id, street_wide)
    return None if found is None else found.message


def may_see_task(
    principal: Principal,
    member: MemberView | None,
    community_id: str,
    street_id: str,
    street_wide: bool,
) -> bool:
    if principal.role is Role.MEMBER:
        # A deactivated member still sees their community's tasks; claiming says why not.
        if member is None or not member.reported_in:
            return False
        return member.community_id == community_id or (
            street_wide and member.street_id == street_id
        )
    return principal.holds(community_id, street_id)


def may_manage_task(principal: Principal, community_id: str, street_id: str) -> bool:
    """Post, change, cancel and complete: staff of the community and the administrators above."""
    return principal.role is not Role.MEMBER and principal.holds(community_id, street_id)
