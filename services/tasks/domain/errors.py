"""The task service's domain errors and their reason codes: why a place may not be taken, and
the refusals each state change can end in. They carry no transport codes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.common.auth import Principal
from services.common.errors import FailedPrecondition, NotFound, PermissionDenied


class Refusal(StrEnum):
    """Why a place may not be taken: the machine-readable `refusal` of a CLAIM_REFUSED error
    (documented in protos/linli/v1/tasks.proto and docs/tasks.md)."""

    TASK_FULL = "TASK_FULL"
    TASK_NOT_OPEN = "TASK_NOT_OPEN"
    DEADLINE_PASSED = "DEADLINE_PASSED"
    MEMBER_UNKNOWN = "MEMBER_UNKNOWN"
    MEMBER_INACTIVE = "MEMBER_INACTIVE"
    NOT_REPORTED_IN = "NOT_REPORTED_IN"
    OUT_OF_SCOPE = "OUT_OF_SCOPE"
    TIME_CONFLICT = "TIME_CONFLICT"
    ALREADY_HOLDS = "ALREADY_HOLDS"
    SKILL_UNVERIFIED = "SKILL_UNVERIFIED"
    TEAM_TASK = "TEAM_TASK"


@dataclass(frozen=True)
class ClaimRefusal:
    refusal: Refusal
    message: str


# The `reason` of each FailedPrecondition a state change raises besides CLAIM_REFUSED.
TASK_STATE = "TASK_STATE"
ASSIGNMENT_STATE = "ASSIGNMENT_STATE"
CLAIM_REFUSED = "CLAIM_REFUSED"
TASK_STARTED = "TASK_STARTED"
PROPOSAL_EXPIRED = "PROPOSAL_EXPIRED"
NOBODY_ACCEPTED = "NOBODY_ACCEPTED"
NOT_STARTED = "NOT_STARTED"
REQUEST_ID_REUSED = "REQUEST_ID_REUSED"
TASK_NOT_FULL = "TASK_NOT_FULL"


def refused(verb: str, why: ClaimRefusal) -> FailedPrecondition:
    """CLAIM_REFUSED with the machine-readable sub-reason in the ErrorInfo's `refusal`."""
    return FailedPrecondition(
        f"cannot {verb}: {why.message}", CLAIM_REFUSED, refusal=why.refusal.value
    )


def time_conflict(verb: str, clash: str | None = None) -> FailedPrecondition:
    """The member holds an accepted task at an overlapping time (`clash`, when known)."""
    detail = f" ({clash})" if clash else ""
    return refused(
        verb,
        ClaimRefusal(
            Refusal.TIME_CONFLICT, f"the member has another accepted task at that time{detail}"
        ),
    )


def task_state(action: str, state: str) -> FailedPrecondition:
    return FailedPrecondition(f"cannot {action}: the task is {state}", TASK_STATE, state=state)


def assignment_state(action: str, state: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"cannot {action}: the assignment is {state}", ASSIGNMENT_STATE, state=state
    )


def request_id_reused() -> FailedPrecondition:
    return FailedPrecondition(
        "request_id was used before for a different request", REQUEST_ID_REUSED, field="request_id"
    )


def hidden(what: str = "task") -> PermissionDenied:
    """The answer for an id outside the caller's scope."""
    # The same answer whether or not it exists: ids outside one's scope reveal nothing.
    return PermissionDenied(f"this {what} is outside your scope")


def missing(principal: Principal, what: str, id_: str) -> NotFound | PermissionDenied:
    """The answer for an id the store does not hold: only callers who see everywhere learn that
    it is missing; anyone else gets what a foreign id gets."""
    return NotFound(what, id_) if principal.is_everywhere else hidden(what)


# Why a check-in or check-out is refused (FailedPrecondition reasons), and the hours rules'.
CODE_NOT_CURRENT = "CODE_NOT_CURRENT"
OUTSIDE_CHECK_IN_WINDOW = "OUTSIDE_CHECK_IN_WINDOW"
NOT_AT_THE_PLACE = "NOT_AT_THE_PLACE"
NO_PLACE_ON_TASK = "NO_PLACE_ON_TASK"
NOT_CHECKED_IN = "NOT_CHECKED_IN"
HOURS_STATE = "HOURS_STATE"
HOURS_ALREADY_RECORDED = "HOURS_ALREADY_RECORDED"
CHECKED_IN = "CHECKED_IN"
