"""What the registry's use cases ask of a store: the interface that the PostgreSQL store and the
in-memory store both implement, with the values that cross it."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from services.common.auth import Principal
from services.registry.domain.erasure import PhoneHistory
from services.registry.domain.member import Changed, Member, MemberData, ReportInState
from services.registry.domain.org import OrgEntry, PlaceRefs


@dataclass(frozen=True)
class RegisterRow:
    index: int
    request_id: str
    data: MemberData


@dataclass(frozen=True)
class RegisterResult:
    index: int
    member: Member | None = None
    created: bool = False
    error: Exception | None = None


class RaceLost(Exception):
    """A concurrent writer created the same row first; the same call, tried again, sees it."""


# Given the member as locked, the change to write (None: nothing to write), or a domain error.
MemberUpdate = Callable[[Member], Changed | None]


class RegistryStore(Protocol):
    # -- organisation
    async def write_org(
        self, entries: Sequence[OrgEntry], actor: Principal, *, validate_only: bool = False
    ) -> tuple[dict[str, int], int, list[OrgEntry]]:
        """Create the entries that are new, in one transaction, parents first; their events go
        out with them. Returns (created per kind, unchanged count, the entries as stored).
        Raises InvalidArgument (domain.org.plan_write) or RaceLost."""
        ...

    async def get_org(self, kind: str, entry_id: str) -> OrgEntry: ...

    async def org_created_at(self, kind: str, ids: list[str]) -> dict[str, datetime]: ...

    async def list_org(
        self, kind: str, parent_id: str | None, after: str | None, limit: int
    ) -> list[tuple[OrgEntry, datetime]]:
        """Entries of `kind` ordered by id, after `after`, under `parent_id` when given."""
        ...

    async def org_exists(self, kind: str, entry_id: str) -> bool: ...

    async def street_of(self, community_id: str) -> str | None: ...

    async def street_of_grid(self, grid_id: str) -> tuple[str, str] | None:
        """(community, street) of a grid."""
        ...

    async def check_places(self, refs: PlaceRefs, prefix: str) -> None:
        """Raise InvalidArgument naming (with `prefix`) each unknown or mismatched place."""
        ...

    # -- members
    async def register(
        self,
        rows: Sequence[RegisterRow],
        actor: Principal,
        *,
        conflict_allowance: int | None = None,
        accepted: bool = False,
    ) -> list[RegisterResult]:
        """Register valid rows in one transaction; each row gets its own result.

        A row naming a community reports the member in to it: accepted at once when `accepted`
        (staff registered them), else pending until the community's staff decide.

        A row whose request_id this caller used before returns the member it registered (or, if
        that request asked for something else, fails); a phone already taken (in the registry or
        earlier in `rows`) and a bad place fail only that row. With `conflict_allowance`, taken
        phones are counted against the caller, and more of them than allowed fail the whole
        batch with PhoneChangeLimited, writing nothing of it. Raises RaceLost.
        """
        ...

    async def get_member(self, member_id: str) -> Member: ...

    async def list_members(
        self,
        *,
        community_id: str,
        grid_id: str,
        skill: str,
        active: bool | None,
        street_ids: Collection[str] | None,
        after: str | None,
        limit: int,
        community_ids: Collection[str] | None = None,
        member_id: str | None = None,
        report_in: ReportInState | None = None,
    ) -> list[Member]:
        """Members ordered by id, after `after`, matching every filter given."""
        ...

    async def update_member(
        self,
        member_id: str,
        update: MemberUpdate,
        actor: Principal,
        *,
        visible: Callable[[Member], bool] | None = None,
    ) -> Member:
        """Lock the member, let `update` decide the change, write it and its event in one
        transaction; the member as stored after it (as it was, when nothing changed).

        A member `visible` says no to is NOT_FOUND before the lock, exactly as a missing one:
        the same work, the same time. A change naming unknown places is InvalidArgument, one
        to a phone another member holds AlreadyExists.
        """
        ...

    async def certificates_due(self, now: datetime, horizon: timedelta, limit: int) -> list[str]:
        """Ids of members holding a certificate that has expired by `now`, or that expires
        within `horizon` and has not been reminded (domain.qualification.due)."""
        ...

    # -- erasure and export
    async def erase_member(
        self,
        member_id: str,
        erase: Callable[[Member], Member],
        reason: str,
        actor: Principal,
        *,
        visible: Callable[[Member], bool],
    ) -> datetime:
        """Lock the member, write what `erase` leaves of them, drop their pending phone change
        and their name from the phone counts, put the erased snapshot in place of their old
        ones in the kept outbox, and add MemberErased, in one transaction; when it happened.

        From then on the member is NOT_FOUND to every read and change (as a missing one, also
        to a second erasure); their registration's row stays, so its request_id is refused.
        """
        ...

    async def phone_history(self, member_id: str) -> PhoneHistory: ...

    # -- phone changes
    async def count_phone_attempts(
        self, kind: str, *, caller: str | None = None, member_id: str | None = None
    ) -> int:
        """Counted acts of `kind` in the last 24 hours, by caller or of a member."""
        ...

    async def note_phone_change(
        self, caller: str, member_id: str, per_member: int | None, per_caller: int | None
    ) -> None:
        """Count one phone change, or raise PhoneChangeLimited when a daily limit is reached."""
        ...

    async def request_phone_change(
        self, member_id: str, phone: str, code_hash: str, ttl_s: float
    ) -> bool:
        """Record a pending change of a member's own phone; True when the number is free.
        A taken number gets no code, so it can never be confirmed."""
        ...

    async def take_phone_change(
        self, member_id: str, code_hash: str, max_attempts: int
    ) -> str | None:
        """The new phone if `code_hash` matches the member's pending change (which is used up);
        else None, counting a wrong attempt and dropping the change after `max_attempts`."""
        ...
