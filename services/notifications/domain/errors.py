"""The notifications service's domain errors (the interceptor maps each to its status code)."""

from __future__ import annotations

from services.common.errors import NotFound, PermissionDenied


class InboxNotFound(NotFound):
    """Answered alike for an inbox that is not the caller's and one that does not exist: an
    inbox id tells nobody whether its owner exists."""

    def __init__(self, inbox_id: str) -> None:
        super().__init__("inbox", inbox_id)


class MembersOnly(PermissionDenied):
    """Delivery preferences are a member's own (staff read their inbox in the console)."""

    def __init__(self) -> None:
        super().__init__("only a member sets their delivery preferences")
