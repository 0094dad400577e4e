"""Fatigue: quiet hours and a daily budget per member. An item is pushed at once, or held and
later folded, with every other item held, into one digest pushed when quiet hours end or the
next day's budget opens. Urgent items always pass and never spend the budget."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from services.common.values import LOCAL_TZ
from services.notifications.domain import templates
from services.notifications.domain.items import Delivery, Item, Kind, Urgency


@dataclass(frozen=True)
class Fatigue:
    quiet_start: time
    quiet_end: time
    budget: int

    @classmethod
    def parse(cls, quiet_start: str, quiet_end: str, budget: int) -> Fatigue:
        return cls(time.fromisoformat(quiet_start), time.fromisoformat(quiet_end), budget)

    def quiet(self, now: datetime) -> bool:
        t = now.astimezone(LOCAL_TZ).time()
        if self.quiet_start <= self.quiet_end:
            return self.quiet_start <= t < self.quiet_end
        return t >= self.quiet_start or t < self.quiet_end  # across midnight


@dataclass(frozen=True)
class Pushes:
    """What a member's inbox has pushed on one local day (urgent items not counted)."""

    day: date | None = None
    count: int = 0

    def on(self, now: datetime) -> Pushes:
        today = now.astimezone(LOCAL_TZ).date()
        return self if self.day == today else Pushes(today, 0)


def decide(f: Fatigue, pushes: Pushes, now: datetime, urgency: Urgency) -> tuple[Delivery, Pushes]:
    """Push an item now or hold it; the day's count after it."""
    today = pushes.on(now)
    if urgency == Urgency.URGENT:
        return Delivery.PUSHED, today
    if f.quiet(now) or today.count >= f.budget:
        return Delivery.HELD, today
    return Delivery.PUSHED, Pushes(today.day, today.count + 1)


def digest_due(f: Fatigue, pushes: Pushes, now: datetime) -> bool:
    """Whether the items held may now go out as one digest (which spends one of the budget)."""
    return not f.quiet(now) and pushes.on(now).count < f.budget


@dataclass(frozen=True)
class Digest:
    title: str
    body: str
    cursors: tuple[int, ...]


def fold(held: Sequence[Item]) -> Digest:
    """One digest of every item held, in order."""
    kinds = Counter(i.kind for i in held)
    title, body = templates.text(
        Kind.DIGEST, {"count": str(len(held)), "summary": templates.summary(kinds)}
    )
    return Digest(title, body, tuple(sorted(i.cursor for i in held)))
