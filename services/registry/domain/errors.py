"""The registry's domain errors and reason codes: one class or constructor per rule broken.

They are the shared error classes of services/common/errors.py, which the server interceptor
maps to status codes; nothing here knows of gRPC.
"""

from __future__ import annotations

from services.common.errors import AlreadyExists, FailedPrecondition, NotFound, ResourceExhausted

MEMBER_DEACTIVATED = "MEMBER_DEACTIVATED"
REQUEST_ID_REUSED = "REQUEST_ID_REUSED"

# Names neither the member holding the number nor any part of it.
PHONE_TAKEN = "this phone number is already registered to a member"


class PhoneChangeLimited(ResourceExhausted):
    """Too many phone changes (or phone conflicts) in a day."""


def member_deactivated() -> FailedPrecondition:
    return FailedPrecondition("member is deactivated", MEMBER_DEACTIVATED)


def phone_taken() -> AlreadyExists:
    return AlreadyExists(PHONE_TAKEN, "member.phone")


def request_id_reused() -> FailedPrecondition:
    return FailedPrecondition(
        "request_id was used before for a different member", REQUEST_ID_REUSED, field="request_id"
    )


def request_id_twice() -> AlreadyExists:
    return AlreadyExists("request_id used twice in one import", "request_id")


def not_found(member_id: str) -> NotFound:
    """The one answer for a member that is missing or not the caller's to see."""
    return NotFound("member", member_id)


def too_many_conflicts() -> PhoneChangeLimited:
    return PhoneChangeLimited(
        "too many registrations refused for a taken phone today; try again tomorrow"
    )


REPORT_IN_NOT_PENDING = "REPORT_IN_NOT_PENDING"
SKILL_NOT_CLAIMED = "SKILL_NOT_CLAIMED"
SKILL_NOT_VERIFIED = "SKILL_NOT_VERIFIED"


def report_in_not_pending(state: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"the member's report-in is not pending (it is {state})", REPORT_IN_NOT_PENDING
    )


def skill_not_claimed(skill: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"the member has not claimed {skill!r}: add it to their skills first",
        SKILL_NOT_CLAIMED,
        field="skill",
    )


def skill_not_verified(skill: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"the member's {skill!r} is not verified", SKILL_NOT_VERIFIED, field="skill"
    )
