"""Points from confirmed hours: the rules of the settings (points an hour, at most the scheduled
length, a yearly cap per category, a bonus for places hard to fill), and a correction's
reversal of the record it replaces."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.common.settings.points import PointsRules
from services.points.domain.ledger import (
    Booking,
    Kind,
    MemberLedger,
    Movement,
    local_year,
    reversal,
)


@dataclass(frozen=True)
class HoursRecord:
    """A member's confirmed hours for one task, as the task service announced them."""

    record_id: str
    member_id: str
    community_id: str
    category: str
    minutes: int
    scheduled_minutes: int
    hard_to_fill: bool
    occurred_at: datetime
    task_id: str = ""
    supersedes: str = ""
    reason: str = ""


def points_for(rules: PointsRules, record: HoursRecord) -> int:
    """Hundredths of a point the hours are worth before the yearly cap."""
    minutes = max(record.minutes, 0)
    if record.scheduled_minutes > 0:
        minutes = min(minutes, record.scheduled_minutes)
    base = minutes * rules.rate(record.category) // 60
    bonus = base * rules.hard_to_fill_bonus_percent // 100 if record.hard_to_fill else 0
    return base + bonus


def capped(rules: PointsRules, ledger: MemberLedger, category: str, year: int, amount: int) -> int:
    """`amount`, cut to what is left of the category's cap for the year."""
    room = max(rules.cap(category) - ledger.earned(category, year), 0)
    return min(amount, room)


def describe(minutes: int, category: str) -> str:
    hours, rest = divmod(max(minutes, 0), 60)
    length = f"{hours} h {rest:02d} min" if rest else f"{hours} h"
    return f"{length} ({category})" if category else length


def book_hours(
    rules: PointsRules,
    ledger: MemberLedger,
    record: HoursRecord,
    new_id: Callable[[], str],
    now: datetime,
) -> Booking:
    """The movements confirmed hours cause: for a correction, the reversal of the replaced
    record's award first, then the award of this record (nothing when it is worth nothing).
    Booking the same record again books nothing, and so does a record that names no record,
    member or community (nothing could be booked against it)."""
    if not (record.record_id and record.member_id and record.community_id):
        return Booking()
    if record.record_id in ledger.superseded or ledger.by_source(Kind.AWARD, record.record_id):
        return Booking()
    booked: list[Movement] = []
    if record.supersedes:
        old = ledger.by_source(Kind.AWARD, record.supersedes)
        if old is not None and ledger.reversal_of(old.id) is None:
            why = f"corrected: {record.reason}" if record.reason else "hours corrected"
            booked.append(reversal(old, new_id(), now, why))
    year = local_year(record.occurred_at)
    after = ledger.with_(booked)
    amount = capped(rules, after, record.category, year, points_for(rules, record))
    if amount > 0:
        booked.append(
            Movement(
                id=new_id(),
                kind=Kind.AWARD,
                member_id=record.member_id,
                community_id=record.community_id,
                amount=amount,
                source_id=record.record_id,
                reason=describe(record.minutes, record.category),
                booked_at=now,
                category=record.category,
                year=year,
            )
        )
    superseded = frozenset({record.supersedes}) if record.supersedes else frozenset()
    return Booking(booked, superseded)
