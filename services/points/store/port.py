"""What the use cases and the event handlers ask of the points service's store: one interface,
implemented on PostgreSQL (`postgres.PostgresStore`) and in memory (`memory.MemoryStore`)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.common.auth import Principal
from services.points.domain.ledger import Booking, MemberLedger, Movement
from services.points.domain.members import MemberRef

# The transaction an event is applied in: the consumer's connection for PostgreSQL.
Tx = Any
# A change of a member's ledger: the ledger as it stands (under the member's lock) → what to book.
Decide = Callable[[MemberLedger], Booking]


@dataclass(frozen=True)
class Booked:
    """What a change booked, and the member's balance after it."""

    movements: list[Movement]
    balance: int


@dataclass(frozen=True)
class CommunityTotals:
    community_id: str
    issued: int
    redeemed: int
    reset: int
    outstanding: int
    members_with_points: int


class PointsStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    # -- the read model of the registry, written inside an event's transaction -------------------

    async def put_community(self, tx: Tx, community_id: str, street_id: str) -> None: ...

    async def put_member(self, tx: Tx, member: MemberRef, version: datetime) -> None:
        """Keep the member as of `version` (an older version changes nothing)."""
        ...

    async def forget_member(self, tx: Tx, member_id: str) -> None:
        """An erased member: nothing kept of them but the ledger's amounts under their id (the
        entries are append-only, and the id leads to nobody once the registry forgot them);
        their read-model row is sealed, and the audit trail names a pseudonym."""
        ...

    async def member(self, member_id: str) -> MemberRef | None: ...

    async def street_of(self, community_id: str) -> str | None: ...

    # -- the ledger ----------------------------------------------------------------------------

    async def move(
        self, member_id: str, decide: Decide, actor: Principal | None, tx: Tx | None = None
    ) -> Booked:
        """Under the member's lock: loads their ledger, asks `decide` what to book, and writes
        each movement (with its two entries), the records it supersedes and a PointsMoved per
        movement (through the outbox), in one transaction: `tx`'s when given. A movement whose
        kind and source were booked already is AlreadyExists (request_id)."""
        ...

    async def ledger(self, member_id: str) -> MemberLedger: ...

    async def movement(self, movement_id: str) -> Movement | None: ...

    async def movements(
        self, member_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[Movement]:
        """Newest first (by booking time, then id), after `after`; each with its reversal."""
        ...

    async def community_totals(self, community_id: str) -> CommunityTotals: ...

    async def all_community_totals(self) -> list[CommunityTotals]:
        """Every community with a movement, by id."""
        ...

    # -- the year's end ------------------------------------------------------------------------

    async def holders_before(self, before: datetime) -> list[str]:
        """Members who held points against some community from what was booked before."""
        ...

    async def year_done(self, year: int) -> bool: ...

    async def mark_year_done(self, year: int, at: datetime) -> None: ...
