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
