"""Redemption (积分兑换): staff record what a member received for points, never beyond their
balance; a mistaken redemption is reversed, once, with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.common.checks import Violations, check_name, check_request_id, clean_text
from services.points.domain.errors import (
    AlreadyReversed,
    InsufficientPoints,
    NotReversible,
    RequestIdReused,
    movement_not_found,
)
from services.points.domain.ledger import Booking, Kind, MemberLedger, Movement, reversal

ITEM_MAX = 80
REASON_MAX = 200
# One redemption is at most this many hundredths of a point: a typing slip stays small.
AMOUNT_MAX = 100_000_00


@dataclass(frozen=True)
class Redemption:
    request_id: str
    member_id: str
    amount: int
    item: str


def check_redemption(request_id: str, member_id: str, amount: int, item: str) -> Redemption:
    v = Violations()
    request_id = check_request_id(v, request_id)
    if amount <= 0:
        v.add("amount", "must be more than zero (hundredths of a point)")
    elif amount > AMOUNT_MAX:
        v.add("amount", f"must be at most {AMOUNT_MAX} hundredths of a point")
    item = check_name(v, "item", item, ITEM_MAX)
    v.raise_if_any()
    return Redemption(request_id, member_id, amount, item)


def check_reason(reason: str) -> str:
    v = Violations()
    reason = check_name(v, "reason", clean_text(reason), REASON_MAX)
    v.raise_if_any()
    return reason


def redeem(
    ledger: MemberLedger,
    r: Redemption,
    community_id: str,
    new_id: str,
    now: datetime,
    actor: str,
) -> Booking:
    """The redemption's movement; the same request again books nothing (the first answers)."""
    done = ledger.by_source(Kind.REDEMPTION, r.request_id)
    if done is not None:
        if done.amount != -r.amount:
            raise RequestIdReused()
        return Booking()
    if r.amount > ledger.balance:
        raise InsufficientPoints(ledger.balance, r.amount)
    return Booking(
        [
            Movement(
                id=new_id,
                kind=Kind.REDEMPTION,
                member_id=r.member_id,
                community_id=community_id,
                amount=-r.amount,
                source_id=r.request_id,
                reason=f"兑换: {r.item}",
                booked_at=now,
                actor=actor,
            )
        ]
    )


def reverse_redemption(
    ledger: MemberLedger, movement_id: str, reason: str, new_id: str, now: datetime, actor: str
) -> Booking:
    target = ledger.find(movement_id)
    if target is None:
        raise movement_not_found(movement_id)
    if target.kind is not Kind.REDEMPTION:
        raise NotReversible(movement_id, target.kind.value)
    done = ledger.reversal_of(movement_id)
    if done is not None:
        raise AlreadyReversed(movement_id, done.id)
    return Booking([reversal(target, new_id, now, f"撤销兑换: {reason}", actor)])
