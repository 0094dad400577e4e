"""Rows of the points service's tables <-> its domain values, and the totals both stores count
alike."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from services.points.domain.ledger import Kind, Movement
from services.points.store.port import CommunityTotals

MOVEMENT_COLUMNS = (
    "m.id, m.kind, m.member_id, m.community_id, m.amount, m.source_id, m.reason, m.booked_at,"
    " m.category, m.year, m.reverses, m.reverses_kind, m.actor"
)


def movement(row: Mapping[str, Any], reversed_by: Any = None) -> Movement:
    return Movement(
        id=str(row["id"]),
        kind=Kind(row["kind"]),
        member_id=row["member_id"],
        community_id=row["community_id"],
        amount=row["amount"],
        source_id=row["source_id"],
        reason=row["reason"],
        booked_at=row["booked_at"],
        category=row["category"],
        year=row["year"],
        reverses=str(row["reverses"]) if row["reverses"] else "",
        reverses_kind=Kind(row["reverses_kind"]) if row["reverses_kind"] else None,
        actor=row["actor"],
        reversed_by=str(reversed_by) if reversed_by else "",
    )


def movement_args(m: Movement) -> tuple[Any, ...]:
    return (
        m.id,
        m.kind.value,
        m.member_id,
        m.community_id,
        m.amount,
        m.source_id,
        m.reason,
        m.booked_at,
        m.category,
        m.year,
        m.reverses or None,
        m.reverses_kind.value if m.reverses_kind else None,
        m.actor,
    )


def totals(community_id: str, movements: Iterable[Movement]) -> CommunityTotals:
    """A community's totals from its movements (the memory store; PostgreSQL counts in SQL)."""
    by_line: dict[Kind, int] = defaultdict(int)
    held: dict[str, int] = defaultdict(int)
    for m in movements:
        by_line[m.line] += m.amount
        held[m.member_id] += m.amount
    return CommunityTotals(
        community_id=community_id,
        issued=by_line[Kind.AWARD],
        redeemed=-by_line[Kind.REDEMPTION],
        reset=-by_line[Kind.RESET],
        outstanding=sum(held.values()),
        members_with_points=sum(1 for n in held.values() if n > 0),
    )
