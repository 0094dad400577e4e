"""The year's end: where the settings say reset, what each member held at the start of the local
year goes back to the communities it was held against (RESET movements, once a year)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.points.domain.ledger import Booking, Kind, MemberLedger, Movement, local_year


def reset_source(year: int, member_id: str, community_id: str) -> str:
    return f"reset:{year}:{member_id}:{community_id}"


def reset(ledger: MemberLedger, year_start: datetime, new_id: Callable[[], str]) -> Booking:
    """Movements that bring what the member held before `year_start` to zero, per community,
    booked at `year_start` (what was booked since stays). Booking it again books nothing."""
    year = local_year(year_start)
    booked = []
    for community_id, held in sorted(ledger.held_before(year_start).items()):
        source = reset_source(year, ledger.member_id, community_id)
        if ledger.by_source(Kind.RESET, source) is not None:
            continue
        booked.append(
            Movement(
                id=new_id(),
                kind=Kind.RESET,
                member_id=ledger.member_id,
                community_id=community_id,
                amount=-held,
                source_id=source,
                reason=f"{year} 年度积分清零",
                booked_at=year_start,
            )
        )
    return Booking(booked)
