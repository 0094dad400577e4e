"""The notifications service's store in memory: the same behaviour as the PostgreSQL store (the
contract suite holds both to it), for the use-case tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.notifications.domain.fatigue import Digest, Pushes
from services.notifications.domain.items import (
    Delivery,
    Item,
    Kind,
    Notice,
    Owner,
    Resource,
    Urgency,
)
from services.notifications.domain.reminders import Accepted
from services.notifications.domain.world import (
    HOLDING,
    WECHAT,
    MemberRow,
    Place,
    Preferences,
    StaffAccount,
    TaskRow,
)
from services.notifications.store.port import Decide, Job, Outcome, Send, Tx


@dataclass
class _Inbox:
    owner: Owner
    last_cursor: int = 0
    pushes: Pushes = field(default_factory=Pushes)
    items: dict[int, Item] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)


@dataclass
class _Delivery:
    state: str = "pending"
    attempts: int = 0
    next_time: datetime | None = None
    error: str = ""


class MemoryStore:
    def __init__(self) -> None:
        self.communities: dict[str, str] = {}
        self.members: dict[str, tuple[MemberRow, datetime]] = {}
        self.accounts: dict[str, StaffAccount] = {}
        self.tasks: dict[str, TaskRow] = {}
        self.places: dict[str, Place] = {}
        self.proposals: dict[tuple[str, str], bool] = {}
        self.inboxes: dict[str, _Inbox] = {}
        self.reminded: set[tuple[str, int, datetime]] = set()
        self.prefs: dict[str, Preferences] = {}
        self.queue: dict[tuple[str, int, str], _Delivery] = {}
        # Called with an inbox's id when items are written to it (the followers' wake-up).
        self.listeners: list[Callable[[str], None]] = []
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._lock:
            yield None

    # -- read model ------------------------------------------------------------------------------

    async def put_community(self, tx: Tx, community_id: str, street_id: str) -> None:
        self.communities[community_id] = street_id

    async def street_of(self, tx: Tx, community_id: str) -> str:
        return self.communities.get(community_id, "")

    async def put_member(self, tx: Tx, member: MemberRow, version: datetime) -> None:
        old = self.members.get(member.id)
        if old is None or old[1] <= version:
            self.members[member.id] = (member, version)

    async def member(self, tx: Tx, member_id: str) -> MemberRow | None:
        found = self.members.get(member_id)
        return found[0] if found else None

    async def forget_member(self, tx: Tx, member_id: str) -> None:
        self.prefs.pop(member_id, None)
        self.places = {k: p for k, p in self.places.items() if p.member_id != member_id}
        self.proposals = {k: v for k, v in self.proposals.items() if k[1] != member_id}
        self.inboxes.pop(member_id, None)
        self.queue = {k: d for k, d in self.queue.items() if k[0] != member_id}

    async def put_account(self, tx: Tx, account: StaffAccount) -> None:
        self.accounts[account.id] = account

    async def staff_of(self, tx: Tx, community_id: str, street_id: str) -> list[str]:
        return sorted(a.id for a in self.accounts.values() if a.serves(community_id, street_id))

    async def put_task(self, tx: Tx, task: TaskRow) -> None:
        self.tasks[task.id] = task

    async def task(self, tx: Tx, task_id: str) -> TaskRow | None:
        return self.tasks.get(task_id)

    async def put_place(self, tx: Tx, place: Place) -> None:
        old = self.places.get(place.id)
        if old is not None and place.accepted_at is None:
            place = replace(place, accepted_at=old.accepted_at)
        self.places[place.id] = place

    async def holders(self, tx: Tx, task_id: str) -> list[Place]:
        return sorted(
            (p for p in self.places.values() if p.task_id == task_id and p.state in HOLDING),
            key=lambda p: p.id,
        )

    async def put_proposal(self, tx: Tx, task_id: str, member_id: str, reoffer: bool) -> None:
        self.proposals[(task_id, member_id)] = reoffer

    async def take_proposal(self, tx: Tx, task_id: str, member_id: str) -> bool | None:
        return self.proposals.pop((task_id, member_id), None)

    # -- inboxes ---------------------------------------------------------------------------------

    def _inbox(self, inbox_id: str, owner: Owner) -> _Inbox:
        return self.inboxes.setdefault(inbox_id, _Inbox(owner))

    def _insert(self, n: Notice, box: _Inbox, now: datetime, delivery: Delivery) -> Item:
        box.last_cursor += 1
        item = Item(
            str(uuid.uuid4()),
            n.inbox_id,
            box.last_cursor,
            n.kind,
            n.title,
            n.body,
            n.resource,
            n.urgency,
            delivery,
            False,
            now,
        )
        box.items[item.cursor] = item
        box.keys.add(n.key)
        if delivery == Delivery.PUSHED and n.owner == Owner.MEMBER:
            for channel in self.prefs.get(n.inbox_id, Preferences()).channels():
                self.queue.setdefault((n.inbox_id, item.cursor, channel), _Delivery(next_time=now))
        for wake in self.listeners:
            wake(n.inbox_id)
        return item

    async def write(self, tx: Tx, notices: Sequence[Notice], now: datetime, decide: Decide) -> int:
        new = 0
        for n in notices:
            box = self._inbox(n.inbox_id, n.owner)
            if n.key in box.keys:
                continue
            delivery, box.pushes = decide(n, box.pushes)
            self._insert(n, box, now, delivery)
            new += 1
        return new

    def _items(self, inbox_id: str) -> list[Item]:
        box = self.inboxes.get(inbox_id)
        return sorted(box.items.values(), key=lambda i: i.cursor) if box else []

    async def after(self, inbox_id: str, cursor: int, limit: int) -> list[Item]:
        return [i for i in self._items(inbox_id) if i.cursor > cursor][:limit]

    async def page(
        self, inbox_id: str, unread_only: bool, before: int | None, limit: int
    ) -> list[Item]:
        items = [
            i
            for i in reversed(self._items(inbox_id))
            if (before is None or i.cursor < before) and not (unread_only and i.read)
        ]
        return items[:limit]

    async def mark_read(self, inbox_id: str, cursors: Sequence[int], up_to: int) -> int:
        box = self.inboxes.get(inbox_id)
        if box is None:
            return 0
        marked = 0
        for c, i in list(box.items.items()):
            if not i.read and (c in cursors or c <= up_to):
                box.items[c] = replace(i, read=True)
                marked += 1
        return marked

    async def unread(self, inbox_id: str) -> int:
        return sum(not i.read for i in self._items(inbox_id))

    async def accepted_starting(
        self, now: datetime, until: datetime
    ) -> list[tuple[Accepted, frozenset[int]]]:
        out = []
        for p in self.places.values():
            t = self.tasks.get(p.task_id)
            if p.state != "accepted" or t is None or t.status != "open":
                continue
            if not now < t.start <= until:
                continue
            done = frozenset(o for a, o, s in self.reminded if a == p.id and s == t.start)
            out.append(
                (Accepted(p.id, p.task_id, p.member_id, t.start, p.accepted_at or t.start), done)
            )
        return out

    async def remind(
        self,
        place: Accepted,
        offsets: Sequence[int],
        notice: Notice | None,
        now: datetime,
        decide: Decide,
    ) -> None:
        async with self._lock:
            for o in offsets:
                self.reminded.add((place.assignment_id, o, place.start))
            if notice is not None:
                await self.write(None, [notice], now, decide)

    async def holding(self) -> list[str]:
        return sorted(
            k
            for k, b in self.inboxes.items()
            if any(i.delivery == Delivery.HELD for i in b.items.values())
        )

    async def fold(
        self,
        inbox_id: str,
        now: datetime,
        due: Callable[[Pushes], bool],
        digest: Callable[[list[Item]], Digest],
    ) -> Item | None:
        async with self._lock:
            box = self._inbox(inbox_id, Owner.MEMBER)
            pushes = box.pushes.on(now)
            held = [i for i in self._items(inbox_id) if i.delivery == Delivery.HELD]
            if not held or not due(pushes):
                return None
            d = digest(held)
            for c in d.cursors:
                box.items[c] = replace(box.items[c], delivery=Delivery.DIGESTED)
            box.pushes = Pushes(pushes.day, pushes.count + 1)
            notice = Notice(
                inbox_id,
                box.owner,
                Kind.DIGEST,
                d.title,
                d.body,
                Resource(),
                f"digest:{box.last_cursor + 1}",
                Urgency.NORMAL,
            )
            return self._insert(notice, box, now, Delivery.PUSHED)

    # -- channels --------------------------------------------------------------------------------

    async def preferences(self, member_id: str) -> Preferences:
        return self.prefs.get(member_id, Preferences())

    async def set_preferences(self, member_id: str, prefs: Preferences) -> None:
        self.prefs[member_id] = prefs

    async def deliver_one(
        self, now: datetime, send: Send, retry_at: Callable[[int], datetime], attempts: int
    ) -> bool:
        async with self._lock:
            due = sorted(
                (d.next_time, k)
                for k, d in self.queue.items()
                if d.state == "pending" and d.next_time is not None and d.next_time <= now
            )
            if not due:
                return False
            key = due[0][1]
            d = self.queue[key]
            inbox_id, cursor, channel = key
            item = self.inboxes[inbox_id].items[cursor]
            m = self.members.get(inbox_id)
            prefs = self.prefs.get(inbox_id, Preferences())
            job = Job(item, channel, d.attempts, m[0].phone if m else "", prefs.openid)
            if channel not in prefs.channels():
                outcome, why = Outcome.DROPPED, "the member turned this channel off"
            else:
                outcome, why = await send(job)
            d.attempts += 1
            d.state = {
                Outcome.SENT: "sent",
                Outcome.REFUSED: "refused",
                Outcome.DROPPED: "dropped",
                Outcome.RETRY: "pending" if d.attempts < attempts else "failed",
            }[outcome]
            d.next_time = retry_at(d.attempts) if d.state == "pending" else now
            d.error = why[:500]
            if outcome == Outcome.REFUSED and channel == WECHAT:
                self.prefs[inbox_id] = replace(prefs, wechat_refused=True)
            return True

    async def deliveries(self, inbox_id: str) -> list[tuple[int, str, str, int]]:
        return sorted(
            (c, ch, d.state, d.attempts) for (i, c, ch), d in self.queue.items() if i == inbox_id
        )
