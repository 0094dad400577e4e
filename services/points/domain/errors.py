"""The points service's domain errors and reason codes (the interceptor maps each to its status
code)."""

from __future__ import annotations

from services.common.errors import AlreadyExists, FailedPrecondition, NotFound

INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
ALREADY_REVERSED = "ALREADY_REVERSED"
NOT_REVERSIBLE = "NOT_REVERSIBLE"


class InsufficientPoints(FailedPrecondition):
    """A redemption beyond the member's balance."""

    def __init__(self, balance: int, amount: int) -> None:
        super().__init__(
            f"the member holds {balance / 100:.2f} points, fewer than the "
            f"{amount / 100:.2f} asked for",
            INSUFFICIENT_POINTS,
            balance=str(balance),
            amount=str(amount),
        )


class AlreadyReversed(FailedPrecondition):
    def __init__(self, movement_id: str, by: str) -> None:
        super().__init__(
            f"movement {movement_id} was reversed already (by {by})",
            ALREADY_REVERSED,
            movement_id=movement_id,
            reversed_by=by,
        )


class NotReversible(FailedPrecondition):
    """Staff reverse only redemptions: awards follow the hours records (a correction there
    reverses them), and a reversal or a reset is not undone by hand."""

    def __init__(self, movement_id: str, kind: str) -> None:
        super().__init__(
            f"a {kind} is not reversed by hand: only a mistaken redemption is",
            NOT_REVERSIBLE,
            movement_id=movement_id,
            kind=kind,
        )


class RequestIdReused(AlreadyExists):
    def __init__(self) -> None:
        super().__init__(
            "request_id was used for another redemption; choose a new one", "request_id"
        )


def member_not_found(member_id: str) -> NotFound:
    """Also the answer to a caller not entitled to the member: nobody learns who is there."""
    return NotFound("member", member_id)


def movement_not_found(movement_id: str) -> NotFound:
    return NotFound("movement", movement_id)
