"""The organisation's use cases: who may create which entry, the district file, reads."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from services.common.auth import Principal, Role
from services.common.checks import Violations
from services.common.errors import InvalidArgument, PermissionDenied, invalid
from services.common.settings import RegistrySettings
from services.registry.domain.district_file import parse_district
from services.registry.domain.org import (
    PARENT_FIELD,
    BuildingGroup,
    Community,
    Grid,
    OrgEntry,
    Street,
    Unit,
    check_org_id,
    cleaned,
    validate_entry,
)
from services.registry.store import RaceLost, RegistryStore

ADMINS = (Role.DISTRICT_ADMIN, Role.SERVICE)


class OrgCases:
    store: RegistryStore
    settings: RegistrySettings

    async def _authorize_org_write(self, principal: Principal, entry: OrgEntry) -> None:
        if principal.is_everywhere:
            return
        if isinstance(entry, (Street, Unit)):
            raise PermissionDenied(f"only district administrators may create a {entry.kind}")
        # The organisation is public: an unknown parent is left for write_org to name as an
        # invalid field, whoever asks, rather than answered as a question of scope.
        if isinstance(entry, Community):
            if principal.role is Role.STREET_ADMIN and entry.street_id in principal.street_ids:
                return
            if not await self.store.org_exists("street", entry.street_id):
                return
            raise PermissionDenied("only administrators of its street may create a community")
        if isinstance(entry, Grid):
            community_id = entry.community_id
        else:
            assert isinstance(entry, BuildingGroup)
            place = await self.store.street_of_grid(entry.grid_id)
            if place is None:
                return
            community_id = place[0]
        street_id = await self.store.street_of(community_id)
        if street_id is None:
            return
        if not principal.holds(community_id, street_id):
            raise PermissionDenied(f"community {community_id!r} is outside your scope")

    async def create_org(
        self, principal: Principal, entry: OrgEntry
    ) -> tuple[OrgEntry, datetime | None]:
        """The entry as stored (an equal one already there is answered as created) and when."""
        entry = cleaned(entry)
        violations = validate_entry(entry, self.settings.bounds, f"{entry.kind}.")
        if violations:
            raise InvalidArgument(violations)
        await self._authorize_org_write(principal, entry)
        _created, _unchanged, stored = await self._write_org([entry], principal, False)
        created_at = await self.store.org_created_at(stored[0].kind, [stored[0].id])
        return stored[0], created_at.get(stored[0].id)

    async def _write_org(
        self, entries: Sequence[OrgEntry], principal: Principal, validate_only: bool
    ) -> tuple[dict[str, int], int, list[OrgEntry]]:
        # Two writers creating the same new entry race to insert it; the loser's retry finds it
        # and answers as for any existing entry (unchanged, or a conflict naming it).
        for _attempt in range(2):
            try:
                return await self.store.write_org(entries, principal, validate_only=validate_only)
            except RaceLost:
                continue
        return await self.store.write_org(entries, principal, validate_only=validate_only)

    async def import_district(
        self, principal: Principal, text: str, validate_only: bool
    ) -> tuple[dict[str, int], int]:
        principal.require(*ADMINS)
        # Parsing is CPU work bounded by the file's size and depth; a thread keeps every other
        # call answering while a large or hostile file is read.
        district = await asyncio.to_thread(
            parse_district,
            text,
            self.settings.bounds,
            max_bytes=self.settings.district_file_max_bytes,
            max_depth=self.settings.district_file_max_depth,
        )
        created, unchanged, _ = await self._write_org(district.entries(), principal, validate_only)
        return created, unchanged

    async def get_org(
        self, principal: Principal, kind: str, entry_id: str
    ) -> tuple[OrgEntry, datetime | None]:
        """An entry and when it was created; the organisation is public to every caller."""
        if not entry_id:
            raise invalid("id", "is required")
        v = Violations()
        check_org_id(v, "id", entry_id)
        v.raise_if_any()
        entry = await self.store.get_org(kind, entry_id)
        created_at = await self.store.org_created_at(kind, [entry_id])
        return entry, created_at.get(entry_id)

    async def list_org(
        self, principal: Principal, kind: str, parent_id: str, after: str | None, limit: int
    ) -> list[tuple[OrgEntry, datetime]]:
        """Entries of `kind` by id, under `parent_id` when given."""
        if parent_id:
            v = Violations()
            check_org_id(v, PARENT_FIELD[kind], parent_id)
            v.raise_if_any()
        return await self.store.list_org(kind, parent_id or None, after, limit)
