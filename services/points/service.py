"""The points service's use cases: who may do this, then the store and the domain."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from services.common import paging
from services.common.auth import Principal, Role
from services.common.clock import Clock, system_clock
from services.common.erasure import require_export_or_erase
from services.common.errors import PermissionDenied
from services.common.settings import PointsSettings
from services.common.values import year_start
from services.points.domain import access, redemption, rules, year_end
from services.points.domain.errors import movement_not_found
from services.points.domain.ledger import Kind, Movement, local_year
from services.points.domain.members import MemberRef
from services.points.domain.redemption import Redemption
from services.points.domain.rules import HoursRecord
from services.points.store import PointsStore, Tx
from services.points.store.port import Booked, CommunityTotals


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Balance:
    member_id: str
    balance: int
    earned_this_year: int


class Points:
    def __init__(
        self, store: PointsStore, settings: PointsSettings, clock: Clock = system_clock
    ) -> None:
        self.store = store
        self.settings = settings
        self.rules = settings.points
        self.clock = clock

    # -- from events ---------------------------------------------------------------------------

    async def book_hours(self, tx: Tx, record: HoursRecord) -> Booked:
        """Confirmed hours earn points (a correction reverses the record it replaces first)."""
        now = self.clock()
        return await self.store.move(
            record.member_id,
            lambda ledger: rules.book_hours(self.rules, ledger, record, new_id, now),
            None,
            tx,
        )

    # -- reads ---------------------------------------------------------------------------------

    async def _readable(self, principal: Principal, member_id: str) -> MemberRef | None:
        member = await self.store.member(member_id)
        street = await self.store.street_of(member.community_id) if member else None
        access.require_reader(principal, member_id, member, street)
        return member

    async def balance(self, principal: Principal, member_id: str) -> Balance:
        await self._readable(principal, member_id)
        ledger = await self.store.ledger(member_id)
        year = local_year(self.clock())
        earned = sum(m.amount for m in ledger.movements if m.line is Kind.AWARD and m.year == year)
        return Balance(member_id, ledger.balance, earned)

    async def movements(
        self, principal: Principal, member_id: str, page_size: int, page_token: str
    ) -> tuple[list[Movement], str]:
        cursor = paging.cursor(page_size, page_token, {"member": member_id}, paging.time_uuid_key)
        await self._readable(principal, member_id)
        rows = await self.store.movements(member_id, cursor.after, cursor.fetch)
        return cursor.page(rows, lambda m: paging.time_token(m.booked_at, m.id))

    async def community(self, principal: Principal, community_id: str) -> CommunityTotals:
        access.require_community_reader(
            principal, community_id, await self.store.street_of(community_id)
        )
        return await self.store.community_totals(community_id)

    async def all_communities(self, principal: Principal) -> list[CommunityTotals]:
        """Every community's totals, for the report (district administrators and services)."""
        if not principal.is_everywhere:
            raise PermissionDenied("the whole district's points are for district administrators")
        return await self.store.all_community_totals()

    async def export_member(self, principal: Principal, member_id: str) -> list[Movement]:
        require_export_or_erase(principal, member_id, "exported")
        return await self.store.movements(member_id, None, 1_000_000)

    # -- staff ---------------------------------------------------------------------------------

    async def redeem(self, principal: Principal, r: Redemption) -> tuple[Movement, int]:
        member = await self.store.member(r.member_id)
        community_id = access.require_redeemer(principal, r.member_id, member)
        now = self.clock()
        booked = await self.store.move(
            r.member_id,
            lambda ledger: redemption.redeem(
                ledger, r, community_id, new_id(), now, principal.subject
            ),
            principal,
        )
        if booked.movements:
            return booked.movements[0], booked.balance
        # A retry of a redemption booked already: its first answer.
        ledger = await self.store.ledger(r.member_id)
        done = ledger.by_source(Kind.REDEMPTION, r.request_id)
        assert done is not None
        return done, ledger.balance

    async def reverse(
        self, principal: Principal, movement_id: str, reason: str
    ) -> tuple[Movement, int]:
        reason = redemption.check_reason(reason)
        if principal.role is not Role.COMMUNITY_STAFF:
            raise PermissionDenied("redemptions are reversed by staff of the member's community")
        target = await self.store.movement(movement_id)
        if target is None or target.community_id not in principal.community_ids:
            raise movement_not_found(movement_id)
        now = self.clock()
        booked = await self.store.move(
            target.member_id,
            lambda ledger: redemption.reverse_redemption(
                ledger, movement_id, reason, new_id(), now, principal.subject
            ),
            principal,
        )
        return booked.movements[0], booked.balance

    # -- the year's end ------------------------------------------------------------------------

    async def year_end(self) -> int:
        """Where the settings reset balances: once the local year has begun, take back what each
        member held at its start (once a year; a run cut off half-way is finished by the next).
        Returns how many members were reset."""
        if self.rules.year_end != "reset":
            return 0
        start = year_start(self.clock())
        if await self.store.year_done(start.year):
            return 0
        count = 0
        for member_id in await self.store.holders_before(start):
            booked = await self.store.move(
                member_id, lambda ledger: year_end.reset(ledger, start, new_id), None
            )
            count += bool(booked.movements)
        await self.store.mark_year_done(start.year, self.clock())
        return count

    # -- erasure -------------------------------------------------------------------------------

    async def forget(self, tx: Tx, member_id: str) -> None:
        await self.store.forget_member(tx, member_id)
