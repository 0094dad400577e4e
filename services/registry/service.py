"""The registry's use cases: check who may act, apply the rules, and let the store write.

Callers pass domain values and the acting Principal; results are domain values. The gRPC
servicer (api.py) is a thin translation on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import asyncpg

from services.common.auth import Principal, Role
from services.common.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.common.settings import Settings
from services.registry import domain, events
from services.registry.domain import Member, MemberData, Violations
from services.registry.org import (
    BuildingGroup,
    Community,
    Grid,
    OrgEntry,
    Street,
    Unit,
    cleaned,
    parse_district,
    validate_entry,
)
from services.registry.store import RegisterResult, RegisterRow, RegistryStore

ADMINS = (Role.DISTRICT_ADMIN, Role.SERVICE)


class Registry:
    def __init__(self, store: RegistryStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    # -- organisation ------------------------------------------------------------------------

    async def _authorize_org_write(self, principal: Principal, entry: OrgEntry) -> None:
        if principal.is_everywhere:
            return
        if isinstance(entry, (Street, Unit)):
            raise PermissionDenied(f"only district administrators may create a {entry.kind}")
        if isinstance(entry, Community):
            if principal.role is Role.STREET_ADMIN and entry.street_id in principal.street_ids:
                return
            raise PermissionDenied("only administrators of its street may create a community")
        if isinstance(entry, Grid):
            community_id = entry.community_id
        else:
            assert isinstance(entry, BuildingGroup)
            place = await self.store.street_of_grid(entry.grid_id)
            community_id = place[0] if place else ""
        street_id = await self.store.street_of(community_id)
        if not principal.holds(community_id, street_id):
            raise PermissionDenied(f"community {community_id!r} is outside your scope")

    async def create_org(self, principal: Principal, entry: OrgEntry) -> OrgEntry:
        entry = cleaned(entry)
        violations = validate_entry(entry, self.settings.bounds, f"{entry.kind}.")
        if violations:
            raise InvalidArgument(violations)
        await self._authorize_org_write(principal, entry)
        _created, _unchanged, stored = await self._write_org([entry], principal, False)
        return stored[0]

    async def _write_org(
        self, entries: Sequence[OrgEntry], principal: Principal, validate_only: bool
    ) -> tuple[dict[str, int], int, list[OrgEntry]]:
        # Two writers creating the same new entry race to insert it; the loser's retry finds it
        # and answers as for any existing entry (unchanged, or a conflict naming it).
        for _attempt in range(2):
            try:
                return await self.store.write_org(entries, principal, validate_only=validate_only)
            except asyncpg.UniqueViolationError:
                continue
        return await self.store.write_org(entries, principal, validate_only=validate_only)

    async def import_district(
        self, principal: Principal, text: str, validate_only: bool
    ) -> tuple[dict[str, int], int]:
        principal.require(*ADMINS)
        district = parse_district(text, self.settings.bounds)
        created, unchanged, _ = await self._write_org(district.entries(), principal, validate_only)
        return created, unchanged

    # -- members -----------------------------------------------------------------------------

    async def _authorize_register(self, principal: Principal, data: MemberData) -> None:
        if principal.is_everywhere:
            return
        if principal.role is Role.MEMBER:
            raise PermissionDenied("members are registered by staff or the app's backend service")
        if not data.community_id:
            raise PermissionDenied(
                "staff and street administrators register members into a community of their "
                "scope: set member.community_id"
            )
        street_id = await self.store.street_of(data.community_id)
        if not principal.holds(data.community_id, street_id):
            raise PermissionDenied(f"community {data.community_id!r} is outside your scope")

    def _validate_row(self, request_id: str, data: MemberData) -> tuple[str, MemberData]:
        v = Violations()
        request_id = domain.check_request_id(v, request_id)
        try:
            data = domain.validate_member(data, self.settings.bounds)
        except InvalidArgument as e:
            v.items.extend(e.violations)
        v.raise_if_any()
        return request_id, data

    async def register(
        self, principal: Principal, request_id: str, data: MemberData
    ) -> tuple[Member, bool]:
        """The registered member, and whether the caller may see their phone and home."""
        request_id, data = self._validate_row(request_id, data)
        await self._authorize_register(principal, data)
        (result,) = await self._register_rows([RegisterRow(0, request_id, data)], principal)
        if result.error is not None:
            raise result.error
        member = result.member
        assert member is not None
        return member, domain.may_see_private(
            principal, member.id, member.data.community_id, member.street_id
        )

    async def register_batch(
        self, principal: Principal, rows: Sequence[tuple[int, str, MemberData]]
    ) -> list[RegisterResult]:
        """Validate and register a batch of rows; each row gets its own result."""
        results: list[RegisterResult] = []
        good: list[RegisterRow] = []
        for index, raw_request_id, raw_data in rows:
            try:
                request_id, data = self._validate_row(raw_request_id, raw_data)
                await self._authorize_register(principal, data)
            except (InvalidArgument, PermissionDenied) as e:
                results.append(RegisterResult(index, error=e))
                continue
            good.append(RegisterRow(index, request_id, data))
        if good:
            results.extend(await self._register_rows(good, principal))
        return sorted(results, key=lambda r: r.index)

    async def _register_rows(
        self, rows: list[RegisterRow], principal: Principal
    ) -> list[RegisterResult]:
        # A concurrent registration of the same request_id or phone can win between our checks
        # and our insert; the retry then sees its row and answers as for any repeat.
        for _attempt in range(3):
            try:
                return await self.store.register(rows, principal)
            except asyncpg.UniqueViolationError:
                continue
        return await self.store.register(rows, principal)

    async def get_member(self, principal: Principal, member_id: str) -> tuple[Member, bool]:
        """The member and whether the caller may see their phone and home."""
        member = await self.store.get_member(member_id)
        return member, domain.may_see_private(
            principal, member.id, member.data.community_id, member.street_id
        )

    async def list_members(
        self,
        principal: Principal,
        *,
        community_id: str,
        grid_id: str,
        skill: str,
        active: bool | None,
        after: str | None,
        limit: int,
    ) -> list[tuple[Member, bool]]:
        if skill and skill not in domain.SKILL_CODES:
            raise InvalidArgument(domain.FieldViolation("skill", f"unknown skill {skill!r}"))
        members = await self.store.list_members(
            community_id=community_id,
            grid_id=grid_id,
            skill=skill,
            active=active,
            street_ids=None,
            after=after,
            limit=limit,
        )
        return [
            (m, domain.may_see_private(principal, m.id, m.data.community_id, m.street_id))
            for m in members
        ]

    def _require_manage(self, principal: Principal, member: Member) -> None:
        if not domain.may_manage(principal, member.id, member.data.community_id, member.street_id):
            raise PermissionDenied("this member is outside your scope")

    async def update(
        self, principal: Principal, member_id: str, new: MemberData, paths: list[str]
    ) -> Member:
        def change(member: Member) -> tuple[MemberData, bool]:
            self._require_manage(principal, member)
            if not member.active:
                raise FailedPrecondition("member is deactivated", "MEMBER_DEACTIVATED")
            return domain.apply_update(member.data, new, paths, self.settings.bounds), True

        return await self.store.change_member(
            member_id, change, lambda m: events.member_updated(m, paths), principal
        )

    async def report_in(
        self,
        principal: Principal,
        member_id: str,
        community_id: str,
        grid_id: str,
        building_group_id: str,
    ) -> Member:
        v = Violations()
        domain.check_org_id(v, "community_id", community_id)
        domain.check_org_id(v, "grid_id", grid_id)
        if building_group_id:
            domain.check_org_id(v, "building_group_id", building_group_id)
        v.raise_if_any()
        target_street = await self.store.street_of(community_id)

        def change(member: Member) -> tuple[MemberData, bool] | None:
            if principal.role is Role.MEMBER:
                if principal.subject != member.id:
                    raise PermissionDenied("members report in only themselves")
            else:
                # Staff and street admins move a member only from a community of their scope (or
                # report in one who has none yet) into a community of their scope: a member of
                # another community is not theirs to take.
                current = member.data.community_id
                if current and not principal.holds(current, member.street_id):
                    raise PermissionDenied("this member is outside your scope")
                if not principal.holds(community_id, target_street):
                    raise PermissionDenied(f"community {community_id!r} is outside your scope")
            if not member.active:
                raise FailedPrecondition("member is deactivated", "MEMBER_DEACTIVATED")
            d = member.data
            if (
                member.reported_in_at is not None
                and d.community_id == community_id
                and d.grid_id == grid_id
                and (d.building_group_id or "") == building_group_id
            ):
                return None
            return replace(
                d,
                community_id=community_id,
                grid_id=grid_id,
                building_group_id=building_group_id or None,
            ), True

        return await self.store.change_member(
            member_id, change, events.member_reported_in, principal, report_in=True
        )

    async def deactivate(self, principal: Principal, member_id: str, reason: str) -> Member:
        v = Violations()
        reason = domain.clean_text(reason)
        if len(reason) > domain.REASON_MAX:
            v.add("reason", f"must be at most {domain.REASON_MAX} characters")
        v.raise_if_any()

        def change(member: Member) -> tuple[MemberData, bool] | None:
            self._require_manage(principal, member)
            return None if not member.active else (member.data, False)

        return await self.store.change_member(
            member_id,
            change,
            lambda m: events.member_deactivated(m, reason),
            principal,
            deactivate_reason=reason,
        )
