"""What the use cases, the handlers and the scheduler ask of the notifications service's store:
one interface, on PostgreSQL (`postgres.PostgresStore`) and in memory (`memory.MemoryStore`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from services.notifications.domain.fatigue import Digest, Pushes
from services.notifications.domain.items import Delivery, Item, Notice
from services.notifications.domain.reminders import Accepted
from services.notifications.domain.world import (
    MemberRow,
    Place,
    Preferences,
    StaffAccount,
    TaskRow,
)

# The transaction an event is applied in: the consumer's connection for PostgreSQL.
Tx = Any
# Fatigue's verdict on one notice, given the inbox's pushes of the day.
Decide = Callable[[Notice, Pushes], tuple[Delivery, Pushes]]


@dataclass(frozen=True)
class Job:
    """A delivery due on one channel: the item, and where it goes."""

    item: Item
    channel: str
    attempts: int
    phone: str
    openid: str


class Outcome(StrEnum):
    SENT = "sent"
    # Try again later (the provider is away, a token to refresh).
    RETRY = "retry"
    # The member refused this channel: stop sending on it.
    REFUSED = "refused"
    # Nothing will ever send it (no phone, a template not configured).
    DROPPED = "dropped"


Send = Callable[[Job], Awaitable[tuple[Outcome, str]]]


class NotificationStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    # -- the read model, written inside an event's transaction -----------------------------------

    async def put_community(self, tx: Tx, community_id: str, street_id: str) -> None: ...

    async def street_of(self, tx: Tx, community_id: str) -> str: ...

    async def put_member(self, tx: Tx, member: MemberRow, version: datetime) -> None:
        """Keep the member as of `version` (an older version changes nothing)."""
        ...

    async def member(self, tx: Tx, member_id: str) -> MemberRow | None: ...

    async def forget_member(self, tx: Tx, member_id: str) -> None:
        """An erased member: their row, channels, places and inbox are gone."""
        ...

    async def put_account(self, tx: Tx, account: StaffAccount) -> None: ...

    async def staff_of(self, tx: Tx, community_id: str, street_id: str) -> list[str]:
        """The staff accounts an item about this community goes to."""
        ...

    async def put_task(self, tx: Tx, task: TaskRow) -> None: ...

    async def task(self, tx: Tx, task_id: str) -> TaskRow | None: ...

    async def put_place(self, tx: Tx, place: Place) -> None: ...

    async def holders(self, tx: Tx, task_id: str) -> list[Place]:
        """The places proposed or accepted on a task."""
        ...

    async def put_proposal(self, tx: Tx, task_id: str, member_id: str, reoffer: bool) -> None: ...

    async def take_proposal(self, tx: Tx, task_id: str, member_id: str) -> bool | None:
        """Whether matching's proposal of this member was a re-offer (None: no proposal kept);
        forgotten once taken."""
        ...

    # -- inboxes ---------------------------------------------------------------------------------

    async def write(self, tx: Tx, notices: Sequence[Notice], now: datetime, decide: Decide) -> int:
        """Write each notice once (by its key) at the next cursor of its inbox, pushed or held as
        `decide` says, with its deliveries on the member's channels; wake the inbox's followers
        once committed. Returns how many were new."""
        ...

    async def after(self, inbox_id: str, cursor: int, limit: int) -> list[Item]:
        """Items after `cursor`, oldest first."""
        ...

    async def page(
        self, inbox_id: str, unread_only: bool, before: int | None, limit: int
    ) -> list[Item]:
        """Items before cursor `before` (None: the newest), newest first."""
        ...

    async def mark_read(self, inbox_id: str, cursors: Sequence[int], up_to: int) -> int: ...

    async def unread(self, inbox_id: str) -> int: ...

    # -- reminders and digests -------------------------------------------------------------------

    async def accepted_starting(
        self, now: datetime, until: datetime
    ) -> list[tuple[Accepted, frozenset[int]]]:
        """Accepted places on open tasks starting after `now` and before `until`, each with the
        offsets already reminded for its current start."""
        ...

    async def remind(
        self,
        place: Accepted,
        offsets: Sequence[int],
        notice: Notice | None,
        now: datetime,
        decide: Decide,
    ) -> None:
        """Record `offsets` as done for the place's start, and write `notice`, at once."""
        ...

    async def holding(self) -> list[str]:
        """Inboxes with items held for a digest."""
        ...

    async def fold(
        self,
        inbox_id: str,
        now: datetime,
        due: Callable[[Pushes], bool],
        digest: Callable[[list[Item]], Digest],
    ) -> Item | None:
        """If `due`, fold every held item of the inbox into one pushed digest item."""
        ...

    # -- channels --------------------------------------------------------------------------------

    async def preferences(self, member_id: str) -> Preferences: ...

    async def set_preferences(self, member_id: str, prefs: Preferences) -> None: ...

    async def deliver_one(
        self, now: datetime, send: Send, retry_at: Callable[[int], datetime], attempts: int
    ) -> bool:
        """Take one due delivery (no other replica takes it meanwhile), send it and record the
        outcome; False when none is due."""
        ...

    async def deliveries(self, inbox_id: str) -> list[tuple[int, str, str, int]]:
        """(cursor, channel, state, attempts) of an inbox's deliveries, for tests and operators."""
        ...
