"""What the matching service keeps of an erased member: their id and community in the read
model, and in recorded plans their place without the distances that were measured from their
home. Pure."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from services.matching.domain.rows import MemberRow
from services.matching.domain.runs import PlannedAssignment

# In an alternative ([member, score, distance, status, public distance, ...]): the distances.
ALT_MEMBER, ALT_DISTANCE, ALT_PUBLIC_DISTANCE = 0, 2, 4


def erased_member(member_id: str, community_id: str | None, street_id: str | None) -> MemberRow:
    """The read model's row of an erased member, from the erasure alone (the same whatever was
    seen of them before): their community kept for figures, never offered anything again."""
    return MemberRow(
        id=member_id,
        community_id=community_id,
        street_id=street_id,
        active=False,
        reported_in=False,
        lat=None,
        lng=None,
        skills={},
        availability=(),
        hours_per_month=0,
    )


def _forget_in_alternative(alt: list[Any], member_id: str) -> list[Any]:
    if not alt or alt[ALT_MEMBER] != member_id:
        return alt
    out = list(alt)
    if len(out) > ALT_DISTANCE:
        out[ALT_DISTANCE] = 0.0
    if len(out) > ALT_PUBLIC_DISTANCE:
        out[ALT_PUBLIC_DISTANCE] = None
    return out


def names(a: PlannedAssignment, member_id: str) -> bool:
    return a.member_id == member_id or any(
        alt and alt[ALT_MEMBER] == member_id for alt in a.alternatives
    )


def forget_in_plan(a: PlannedAssignment, member_id: str) -> PlannedAssignment:
    """A recorded assignment with the erased member's distances (and the explanation written
    from them) removed, where it names them as the member or as an alternative."""
    alternatives = [_forget_in_alternative(alt, member_id) for alt in a.alternatives]
    if a.member_id != member_id:
        return replace(a, alternatives=alternatives)
    return replace(
        a,
        distance_m=0.0,
        public_distance_m=None,
        explanation="",
        facts={},
        alternatives=alternatives,
    )
