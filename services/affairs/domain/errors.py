"""The affairs service's domain errors and reason codes (the interceptor maps each to its status
code). An item outside the caller's scope is not found, exactly as a missing one."""

from __future__ import annotations

from services.common.errors import FailedPrecondition, NotFound, PermissionDenied

MOVE_REFUSED = "MOVE_REFUSED"
REQUEST_ID_REUSED = "REQUEST_ID_REUSED"
COMMUNITY_UNKNOWN = "COMMUNITY_UNKNOWN"


def item_not_found(item_id: str) -> NotFound:
    return NotFound("item", item_id)


class MoveRefused(FailedPrecondition):
    """The move is not allowed from the item's stage."""

    def __init__(self, move: str, stage: str, why: str = "") -> None:
        super().__init__(
            f"cannot {move} an item that is {stage}" + (f": {why}" if why else ""),
            MOVE_REFUSED,
            move=move,
            stage=stage,
        )


class RequestIdReused(FailedPrecondition):
    """A request id already used for another item or another move."""

    def __init__(self) -> None:
        super().__init__(
            "request_id was already used for another change; choose a new one",
            REQUEST_ID_REUSED,
            field="request_id",
        )


class CommunityUnknown(FailedPrecondition):
    """The community is not known to the affairs service (yet: the registry's event may follow)."""

    def __init__(self, community_id: str) -> None:
        super().__init__(
            "the community is not known (yet); try again shortly",
            COMMUNITY_UNKNOWN,
            community_id=community_id,
        )


class NotYours(PermissionDenied):
    """The caller sees the item but this move is another level's (the street's, the community's)."""

    def __init__(self, move: str, who: str) -> None:
        super().__init__(f"only {who} may {move} an item")
