"""The double-entry ledger: movements of points between a member's account and their community's,
two entries that sum to zero, never changed; a correction is a reversal."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from services.common.values import LOCAL_TZ


class Kind(StrEnum):
    AWARD = "award"
    REDEMPTION = "redemption"
    REVERSAL = "reversal"
    RESET = "reset"


def member_account(member_id: str) -> str:
    return f"member:{member_id}"


def community_account(community_id: str) -> str:
    return f"community:{community_id}"


def local_year(when: datetime) -> int:
    return when.astimezone(LOCAL_TZ).year


@dataclass(frozen=True)
class Entry:
    account: str
    amount: int


@dataclass(frozen=True)
class Movement:
    """Points moved: `amount` hundredths credited to the member (negative: debited), the same
    debited to (credited to) the community's account."""

    id: str
    kind: Kind
    member_id: str
    community_id: str
    amount: int
    source_id: str
    reason: str
    booked_at: datetime
    # Awards and their reversals: the activity's category and the local year it counts for
    # (the yearly caps are kept per category and year).
    category: str = ""
    year: int = 0
    # A reversal: the movement it undoes, and that movement's kind (a community's totals count
    # a reversed award as less issued, a reversed redemption as less redeemed).
    reverses: str = ""
    reverses_kind: Kind | None = None
    # Who recorded it (staff's subject); "" for what events caused.
    actor: str = ""
    # Read side only: the reversal that undid this movement, if any.
    reversed_by: str = ""

    @property
    def entries(self) -> tuple[Entry, Entry]:
        return (
            Entry(member_account(self.member_id), self.amount),
            Entry(community_account(self.community_id), -self.amount),
        )

    @property
    def line(self) -> Kind:
        """Which of a community's totals it counts in: a reversal in its target's."""
        if self.kind is Kind.REVERSAL and self.reverses_kind is not None:
            return self.reverses_kind
        return self.kind


@dataclass(frozen=True)
class MemberLedger:
    """Everything booked on one member's account, in booking order, and the hours records a
    correction replaced (whose late arrival must not earn points)."""

    member_id: str
    movements: tuple[Movement, ...] = ()
    superseded: frozenset[str] = frozenset()

    @property
    def balance(self) -> int:
        return sum(m.amount for m in self.movements)

    def by_source(self, kind: Kind, source_id: str) -> Movement | None:
        for m in self.movements:
            if m.kind is kind and m.source_id == source_id:
                return m
        return None

    def find(self, movement_id: str) -> Movement | None:
        for m in self.movements:
            if m.id == movement_id:
                return m
        return None

    def reversal_of(self, movement_id: str) -> Movement | None:
        for m in self.movements:
            if m.kind is Kind.REVERSAL and m.reverses == movement_id:
                return m
        return None

    def earned(self, category: str, year: int) -> int:
        """Awarded in `category` for `year`, net of reversals."""
        return sum(m.amount for m in self.movements if m.category == category and m.year == year)

    def held_before(self, before: datetime) -> dict[str, int]:
        """Per community, what the member held against its account from what was booked
        before `before` (non-zero only)."""
        held: dict[str, int] = defaultdict(int)
        for m in self.movements:
            if m.booked_at < before:
                held[m.community_id] += m.amount
        return {c: n for c, n in held.items() if n}

    def with_(self, booked: list[Movement]) -> MemberLedger:
        return MemberLedger(self.member_id, (*self.movements, *booked), self.superseded)


@dataclass(frozen=True)
class Booking:
    """What one change books: its movements (in order) and the hours records it supersedes."""

    movements: list[Movement] = field(default_factory=list)
    superseded: frozenset[str] = frozenset()


def reversal(
    target: Movement, new_id: str, now: datetime, reason: str, actor: str = ""
) -> Movement:
    """The movement that undoes `target` exactly (same accounts, same category and year)."""
    return Movement(
        id=new_id,
        kind=Kind.REVERSAL,
        member_id=target.member_id,
        community_id=target.community_id,
        amount=-target.amount,
        source_id=target.id,
        reason=reason,
        booked_at=now,
        category=target.category,
        year=target.year,
        reverses=target.id,
        reverses_kind=target.kind,
        actor=actor,
    )
