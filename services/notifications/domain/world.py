"""What the service keeps of the others, as values: tasks, places held, members, staff accounts
and their scope, and a member's channels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.common.auth import Role

# Assignment states that hold a place and hear of the task's changes.
HOLDING = ("proposed", "accepted")
SMS = "sms"
WECHAT = "wechat"


@dataclass(frozen=True)
class TaskRow:
    id: str
    community_id: str
    street_id: str
    title: str
    place: str
    start: datetime
    end: datetime
    status: str


@dataclass(frozen=True)
class Place:
    """An assignment: who holds which task, in what state."""

    id: str
    task_id: str
    member_id: str
    state: str
    accepted_at: datetime | None = None


@dataclass(frozen=True)
class MemberRow:
    id: str
    name: str
    community_id: str
    phone: str


@dataclass(frozen=True)
class StaffAccount:
    id: str
    role: Role
    community_ids: frozenset[str]
    street_ids: frozenset[str]
    disabled: bool = False

    def serves(self, community_id: str, street_id: str) -> bool:
        """Whether items about this community reach this account: its community staff and the
        administrators of its street (district administrators see the ledger, not each item)."""
        if self.disabled:
            return False
        if self.role == Role.COMMUNITY_STAFF:
            return community_id in self.community_ids
        if self.role == Role.STREET_ADMIN:
            return bool(street_id) and street_id in self.street_ids
        return False


@dataclass(frozen=True)
class Preferences:
    sms: bool = False
    wechat: bool = False
    openid: str = ""
    wechat_refused: bool = False

    def channels(self) -> list[str]:
        """The channels beyond the app a pushed item goes out on."""
        out = [SMS] if self.sms else []
        if self.wechat and self.openid and not self.wechat_refused:
            out.append(WECHAT)
        return out
