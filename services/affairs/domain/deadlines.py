"""The time limit of each stage by category and urgency, and the flag of an item past it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from services.affairs.domain.items import SYSTEM, Category, Entry, Item, Stage, Urgency
from services.common.settings import AffairsDeadlines


@dataclass(frozen=True)
class DeadlineTable:
    """Days per stage for a normal item, scaled by the category's and the urgency's factors."""

    days: dict[Stage, float]
    category_factors: dict[str, float] = field(default_factory=dict)
    urgency_factors: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, d: AffairsDeadlines) -> DeadlineTable:
        return cls(
            days={
                Stage.OPEN: d.open_days,
                Stage.IN_COMMUNITY: d.community_days,
                Stage.ESCALATED: d.escalated_days,
                Stage.ROUTED: d.routed_days,
                Stage.RESOLVED: d.answer_days,
            },
            category_factors=dict(d.category_factors),
            urgency_factors=dict(d.urgency_factors),
        )

    def due(
        self, stage: Stage, category: Category, urgency: Urgency, since: datetime
    ) -> datetime | None:
        """When a stage entered at `since` must be left; None for a final stage."""
        if stage.final or stage not in self.days:
            return None
        factor = self.category_factors.get(category.value, 1.0) * self.urgency_factors.get(
            urgency.value, 1.0
        )
        return since + timedelta(days=self.days[stage] * factor)


DEFAULT_DEADLINES = DeadlineTable.from_settings(AffairsDeadlines())


def flag_overdue(item: Item, now: datetime) -> Item | None:
    """The item flagged overdue, once per stage's time limit; None when it is not (or is
    flagged already)."""
    if item.stage.final or item.overdue or item.due_at is None or now < item.due_at:
        return None
    note = f"{item.stage.value} past its time limit of {item.due_at.isoformat()}"
    entry = Entry(now, SYSTEM, "overdue", note, item.stage)
    return item.with_entry(entry, overdue=True, ever_overdue=True)


def refresh_due(item: Item, table: DeadlineTable, now: datetime) -> Item:
    """A new stage starts a new time limit, not yet overdue."""
    return replace(
        item, due_at=table.due(item.stage, item.category, item.urgency, now), overdue=False
    )
