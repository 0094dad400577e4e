"""The notifications service's use cases: a caller's own inbox (list, follow, mark read, count),
a member's channels, and the writing of items with fatigue's verdict (`service/schedule.py`
holds reminders, digests and deliveries)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

from services.common import paging
from services.common.auth import Principal, Role
from services.common.clock import Clock, system_clock
from services.common.errors import Unavailable, invalid
from services.common.settings import NotificationsSettings
from services.notifications.domain import fatigue
from services.notifications.domain.errors import MembersOnly
from services.notifications.domain.fatigue import Fatigue, Pushes
from services.notifications.domain.items import Delivery, Item, Notice, Owner, inbox_of
from services.notifications.domain.notices import Urgent
from services.notifications.domain.world import Preferences
from services.notifications.service.wakeups import Wakeups
from services.notifications.store import NotificationStore, Tx

# Items sent to a follower per read of the store while it catches up.
FOLLOW_BATCH = 200
STOPPING = "STOPPING"
OPENID_MAX = 128


class Notifications:
    def __init__(
        self,
        store: NotificationStore,
        settings: NotificationsSettings,
        clock: Clock = system_clock,
        wakeups: Wakeups | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.wakeups = wakeups or Wakeups()
        self.fatigue = Fatigue.parse(
            settings.quiet_start, settings.quiet_end, settings.daily_budget
        )
        self.urgent = Urgent(timedelta(seconds=settings.urgent_within_s))
        # Set when the process begins to stop: streams end at once (their clients resume from
        # their cursor elsewhere) rather than hold the stop for its whole grace period.
        self.stopping = asyncio.Event()

    # -- writing ---------------------------------------------------------------------------------

    def decide(self, notice: Notice, pushes: Pushes) -> tuple[Delivery, Pushes]:
        """Fatigue governs members' inboxes; staff read theirs at work, every item pushed."""
        if notice.owner != Owner.MEMBER:
            return Delivery.PUSHED, pushes
        return fatigue.decide(self.fatigue, pushes, self.clock(), notice.urgency)

    async def write(self, tx: Tx, notices: Sequence[Notice]) -> int:
        return await self.store.write(tx, notices, self.clock(), self.decide)

    # -- a caller's inbox ------------------------------------------------------------------------

    async def list_items(
        self, who: Principal, inbox_id: str, unread_only: bool, page_size: int, page_token: str
    ) -> tuple[list[Item], str]:
        own = inbox_of(who, inbox_id)
        filters = {"inbox": own, "unread": unread_only}
        cur = paging.cursor(page_size, page_token, filters, paging.position_key)
        rows = await self.store.page(own, unread_only, cur.after, cur.fetch)
        return cur.page(rows, lambda i: str(i.cursor))

    async def follow(self, who: Principal, inbox_id: str, after: int) -> AsyncIterator[Item]:
        """Every item after `after`, then each new one: woken by writes, and looking anyway
        every follow_poll_s, so that a lost wake-up costs only a delay."""
        own = inbox_of(who, inbox_id)
        if after < 0:
            raise invalid("after_cursor", "a cursor is 0 or more")
        with self.wakeups.watching(own) as woken:
            while True:
                if self.stopping.is_set():
                    raise Unavailable(
                        "the service is stopping; follow again from the last cursor",
                        STOPPING,
                        retry_after_s=1.0,
                    )
                woken.clear()
                items = await self.store.after(own, after, FOLLOW_BATCH)
                for item in items:
                    yield item
                    after = item.cursor
                if len(items) == FOLLOW_BATCH:
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.follow_poll_s):
                        await _either(woken, self.stopping)

    async def mark_read(
        self, who: Principal, inbox_id: str, cursors: Sequence[int], up_to: int
    ) -> int:
        own = inbox_of(who, inbox_id)
        if any(c <= 0 for c in cursors):
            raise invalid("cursors", "a cursor is 1 or more")
        if up_to < 0:
            raise invalid("up_to_cursor", "a cursor is 0 or more")
        return await self.store.mark_read(own, cursors, up_to)

    async def unread(self, who: Principal, inbox_id: str) -> int:
        return await self.store.unread(inbox_of(who, inbox_id))

    # -- a member's channels ---------------------------------------------------------------------

    async def preferences(self, who: Principal) -> Preferences:
        if who.role != Role.MEMBER:
            raise MembersOnly()
        return await self.store.preferences(who.subject)

    async def set_preferences(self, who: Principal, prefs: Preferences) -> Preferences:
        """The member's own choice; setting them again lifts an earlier refusal by WeChat."""
        if who.role != Role.MEMBER:
            raise MembersOnly()
        openid = prefs.openid.strip()
        if len(openid) > OPENID_MAX or not all(c.isalnum() or c in "-_" for c in openid):
            raise invalid("preferences.wechat_openid", "not a WeChat openid")
        if prefs.wechat and not openid:
            raise invalid("preferences.wechat_openid", "WeChat messages need the openid")
        kept = Preferences(prefs.sms, prefs.wechat, openid, wechat_refused=False)
        await self.store.set_preferences(who.subject, kept)
        return kept


async def _either(a: asyncio.Event, b: asyncio.Event) -> None:
    """Until either event is set."""
    waits = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
