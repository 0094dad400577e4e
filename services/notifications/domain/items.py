"""Inbox items: their kinds, urgency and delivery state, what they are about, and who reads an
inbox (its owner alone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

from services.common.auth import Principal, Role
from services.notifications.domain.errors import InboxNotFound


class Kind(StrEnum):
    PROPOSED = "proposed"
    REOFFERED = "reoffered"
    ACCEPTED = "accepted"
    TASK_CHANGED = "task_changed"
    TASK_CANCELLED = "task_cancelled"
    REMINDER = "reminder"
    PLEASE_CONFIRM = "please_confirm"
    HOURS_CONFIRMED = "hours_confirmed"
    POINTS_EARNED = "points_earned"
    CERTIFICATE_EXPIRING = "certificate_expiring"
    PLACE_RELEASED_MOVED = "place_released_moved"
    PLACE_LEFT_EMPTY = "place_left_empty"
    PLACE_RELEASED = "place_released"
    REPORT_IN_TO_VERIFY = "report_in_to_verify"
    CONFIRMATION_OVERDUE = "confirmation_overdue"
    HOURS_REQUESTED = "hours_requested"
    DIGEST = "digest"


class Urgency(IntEnum):
    NORMAL = 1
    URGENT = 2


class Delivery(StrEnum):
    """What fatigue made of an item: pushed at once, or held (then folded into a digest)."""

    PUSHED = "pushed"
    HELD = "held"
    DIGESTED = "digested"


class Owner(StrEnum):
    MEMBER = "member"
    STAFF = "staff"


@dataclass(frozen=True)
class Resource:
    task_id: str = ""
    assignment_id: str = ""
    member_id: str = ""
    community_id: str = ""
    record_id: str = ""


@dataclass(frozen=True)
class Notice:
    """An item to write: to whom, what, and the key that makes writing it twice write it once
    (the event's id and the recipient, or a reminder's assignment, offset and start)."""

    inbox_id: str
    owner: Owner
    kind: Kind
    title: str
    body: str
    resource: Resource
    key: str
    urgency: Urgency = Urgency.NORMAL


@dataclass(frozen=True)
class Item:
    """An item as kept: the notice, its cursor in its inbox, and what became of it."""

    id: str
    inbox_id: str
    cursor: int
    kind: Kind
    title: str
    body: str
    resource: Resource
    urgency: Urgency
    delivery: Delivery
    read: bool
    create_time: datetime

    @property
    def pushed(self) -> bool:
        return self.delivery == Delivery.PUSHED


def inbox_of(principal: Principal, inbox_id: str) -> str:
    """The inbox a caller may read: their own (an empty id), never another's. Another id is
    answered as an inbox that does not exist."""
    own = principal.subject
    if inbox_id and inbox_id != own:
        raise InboxNotFound(inbox_id)
    return own


def owner_of(principal: Principal) -> Owner:
    return Owner.MEMBER if principal.role == Role.MEMBER else Owner.STAFF
