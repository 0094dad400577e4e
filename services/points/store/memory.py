"""The points service's store in memory: a second, real implementation of the store interface
for the use-case tests (held to the PostgreSQL store's behaviour by the contract suite)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from services.common.auth import Principal
from services.common.erasure import ERASED_VERSION
from services.points import events
from services.points.domain.errors import RequestIdReused
from services.points.domain.ledger import MemberLedger, Movement
from services.points.domain.members import MemberRef
from services.points.events import Event
from services.points.store import records
from services.points.store.port import Booked, CommunityTotals, Decide, Tx


class MemoryStore:
    def __init__(self) -> None:
        self.communities: dict[str, str] = {}
        self.members: dict[str, tuple[MemberRef, datetime]] = {}
        self.booked: list[Movement] = []
        self.superseded: dict[str, str] = {}
        self.years: dict[int, datetime] = {}
        self.events: list[tuple[Event, Principal | None]] = []
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        yield None

    async def put_community(self, tx: Tx, community_id: str, street_id: str) -> None:
        self.communities[community_id] = street_id

    async def put_member(self, tx: Tx, member: MemberRef, version: datetime) -> None:
        known = self.members.get(member.id)
        if known is None or known[1] <= version:
            self.members[member.id] = (member, version)

    async def forget_member(self, tx: Tx, member_id: str) -> None:
        await self.put_member(tx, MemberRef(member_id, "", erased=True), ERASED_VERSION)

    async def member(self, member_id: str) -> MemberRef | None:
        known = self.members.get(member_id)
        return known[0] if known else None

    async def street_of(self, community_id: str) -> str | None:
        return self.communities.get(community_id)

    async def move(
        self, member_id: str, decide: Decide, actor: Principal | None, tx: Tx | None = None
    ) -> Booked:
        async with self._lock:
            ledger = self._ledger(member_id)
            booking = decide(ledger)
            taken = {(m.kind, m.source_id) for m in self.booked}
            for m in booking.movements:
                if (m.kind, m.source_id) in taken:
                    raise RequestIdReused()
                taken.add((m.kind, m.source_id))
            balance = ledger.balance
            for m in booking.movements:
                balance += m.amount
                self.events.append((events.points_moved(m, balance), actor))
            self.booked.extend(booking.movements)
            for r in booking.superseded:
                self.superseded.setdefault(r, member_id)
            return Booked(booking.movements, balance)

    def _ledger(self, member_id: str) -> MemberLedger:
        return MemberLedger(
            member_id,
            tuple(m for m in self.booked if m.member_id == member_id),
            frozenset(r for r, owner in self.superseded.items() if owner == member_id),
        )

    async def ledger(self, member_id: str) -> MemberLedger:
        return self._ledger(member_id)

    def _with_reversal(self, m: Movement) -> Movement:
        by = next((r.id for r in self.booked if r.reverses == m.id), "")
        return Movement(**{**m.__dict__, "reversed_by": by})

    async def movement(self, movement_id: str) -> Movement | None:
        found = next((m for m in self.booked if m.id == movement_id), None)
        return self._with_reversal(found) if found else None

    async def movements(
        self, member_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[Movement]:
        mine = sorted(
            (m for m in self.booked if m.member_id == member_id),
            key=lambda m: (m.booked_at, m.id),
            reverse=True,
        )
        if after is not None:
            mine = [m for m in mine if (m.booked_at, m.id) < after]
        return [self._with_reversal(m) for m in mine[:limit]]

    async def community_totals(self, community_id: str) -> CommunityTotals:
        return records.totals(
            community_id, (m for m in self.booked if m.community_id == community_id)
        )

    async def all_community_totals(self) -> list[CommunityTotals]:
        ids = sorted({m.community_id for m in self.booked})
        return [await self.community_totals(c) for c in ids]

    async def holders_before(self, before: datetime) -> list[str]:
        return sorted(
            {m for m in {x.member_id for x in self.booked} if self._ledger(m).held_before(before)}
        )

    async def year_done(self, year: int) -> bool:
        return year in self.years

    async def mark_year_done(self, year: int, at: datetime) -> None:
        self.years.setdefault(year, at)
