"""The ledger's figures, per community, per street and in all, computed from the items."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from services.affairs.domain.items import Answer, Item, Stage

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Figures:
    scope_id: str
    street_id: str
    raised: int
    solved_in_community: int
    escalated: int
    solved_in_street: int
    overdue: int
    satisfaction_rate: float
    median_days_to_close: float
    closed: int


def _answers(item: Item) -> list[bool]:
    """Every answer given: each not satisfied one reopened the item, a satisfied one closed it
    (read from the item's counters, so that figures need no history)."""
    satisfied = item.stage is Stage.CLOSED and item.answer is Answer.SATISFIED
    return [False] * item.reopened + ([True] if satisfied else [])


def figures(scope_id: str, street_id: str, items: Iterable[Item]) -> Figures:
    """Raised, solved in the community (closed, never escalated), escalated (merged ones too),
    solved in the street (escalated and closed), overdue at any stage, satisfied answers of all
    answers, and the median days from logging to closing."""
    items = list(items)
    closed = [i for i in items if i.stage is Stage.CLOSED and i.closed_at is not None]
    answers = [a for i in items for a in _answers(i)]
    days = [
        (i.closed_at - i.created_at).total_seconds() / SECONDS_PER_DAY
        for i in closed
        if i.closed_at is not None
    ]
    return Figures(
        scope_id=scope_id,
        street_id=street_id,
        raised=len(items),
        solved_in_community=sum(1 for i in closed if not i.escalated),
        escalated=sum(1 for i in items if i.escalated),
        solved_in_street=sum(1 for i in closed if i.escalated),
        overdue=sum(1 for i in items if i.ever_overdue),
        satisfaction_rate=round(sum(answers) / len(answers), 4) if answers else 0.0,
        median_days_to_close=round(statistics.median(days), 2) if days else 0.0,
        closed=len(closed),
    )


def ledger(items: Iterable[Item]) -> tuple[list[Figures], list[Figures], Figures]:
    """Figures per community and per street (by id), and for all the items."""
    items = list(items)
    by_community: dict[tuple[str, str], list[Item]] = {}
    by_street: dict[str, list[Item]] = {}
    for i in items:
        by_community.setdefault((i.community_id, i.street_id), []).append(i)
        by_street.setdefault(i.street_id, []).append(i)
    communities = [figures(c, s, its) for (c, s), its in sorted(by_community.items())]
    streets = [figures(s, "", its) for s, its in sorted(by_street.items())]
    return communities, streets, figures("", "", items)
