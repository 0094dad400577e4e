"""A member erased at their request: what is kept of them (the id and the community, for
anonymous figures) and what is removed for good. Pure."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from services.common.auth import Principal
from services.common.checks import Violations, clean_text
from services.common.erasure import require_export_or_erase
from services.registry.domain.member import REASON_MAX, Member, MemberData

# What an erased member's record says in place of a name.
ERASED_NAME = "已注销"
# What an erased registration's fingerprint becomes: no request hashes to it, so the caller's
# request_id, sent again, is refused instead of answered with the erased member.
ERASED_REQUEST_HASH = "erased"


@dataclass(frozen=True)
class PhoneHistory:
    """What the registry keeps of a member's phone changes, for their export."""

    pending_phone: str | None  # a change asked for and not yet confirmed
    pending_expires: datetime | None
    changes_asked: tuple[datetime, ...]  # counted changes (kept about a day, for the limits)


def erased_phone(member_id: str) -> str:
    """Never a mobile number, and one per member as the column requires: the real number is
    free again, and no search for it can find the erased record."""
    return f"erased-{member_id}"


def check_reason(reason: str) -> str:
    v = Violations()
    reason = clean_text(reason)
    if len(reason) > REASON_MAX:
        v.add("reason", f"must be at most {REASON_MAX} characters")
    v.raise_if_any()
    return reason


def anonymised(member: Member) -> Member:
    """The member with nothing left that tells who they are or where they live.

    The id stays (assignments and hours name it) and so does the community, the unit of every
    anonymous figure; the grid, building group and unit would narrow it to a few households.
    """
    data = MemberData(
        name=ERASED_NAME,
        phone=erased_phone(member.id),
        home=None,
        unit_id=None,
        skills=(),
        availability=(),
        hours_per_month=0,
        community_id=member.data.community_id,
        grid_id=None,
        building_group_id=None,
    )
    # Certificate numbers and a refusal's reason are about the person: they go too.
    return replace(
        member,
        data=data,
        active=False,
        deactivation_reason="",
        report_in_reason="",
        verifications=(),
    )


def erase(principal: Principal, member: Member) -> Member:
    """The member as erasure leaves them, for the member themself or a district administrator.
    (The caller's sight of the member is checked before: a member out of it is NOT_FOUND.)"""
    require_export_or_erase(principal, member.id, "erased")
    return anonymised(member)
