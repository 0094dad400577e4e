"""The members' use cases: who may register, see, change, report in or deactivate a member,
the daily limits on phone numbers, and the code sent to confirm a member's own new phone."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import replace

from services.common import checks
from services.common.auth import Principal, Role
from services.common.checks import Violations
from services.common.errors import FieldViolation, InvalidArgument, PermissionDenied
from services.common.settings import RegistrySettings
from services.common.sms import PHONE_CHANGE_CODE, PHONE_TAKEN_NOTICE, SmsError, SmsSender, told
from services.registry.domain import errors
from services.registry.domain import member as rules
from services.registry.domain.member import Changed, Member, MemberData, ReportInState
from services.registry.domain.org import Placement, check_org_id
from services.registry.store import RaceLost, RegisterResult, RegisterRow, RegistryStore

# Staff whose registrations refused for a taken phone are counted and limited.
LIMITED_REGISTRARS = (Role.COMMUNITY_STAFF, Role.STREET_ADMIN)
CODE_DIGITS = 6


def by_staff(principal: Principal) -> bool:
    """Whether a report-in this caller makes is accepted at once: staff and administrators
    (who may act only in their scope) did it themselves. A member's own, or the app's backend
    acting for them, waits for the community's staff."""
    return principal.role not in (Role.MEMBER, Role.SERVICE)


def code_hash(member_id: str, code: str) -> str:
    return hashlib.sha256(f"{member_id}:{code.strip()}".encode()).hexdigest()


class MemberCases:
    store: RegistryStore
    settings: RegistrySettings
    sms: SmsSender

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
        if street_id is None:
            raise InvalidArgument(
                FieldViolation("member.community_id", f"unknown community {data.community_id!r}")
            )
        if not principal.holds(data.community_id, street_id):
            raise PermissionDenied(f"community {data.community_id!r} is outside your scope")

    def _validate_row(self, request_id: str, data: MemberData) -> tuple[str, MemberData]:
        v = Violations()
        request_id = checks.check_request_id(v, request_id)
        try:
            data = rules.validate_member(data, self.settings.bounds)
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
        return member, rules.may_see_private(
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
                allowance = await self._conflict_allowance(principal)
                results = await self.store.register(
                    rows, principal, conflict_allowance=allowance, accepted=by_staff(principal)
                )
                break
            except RaceLost:
                continue
        else:
            allowance = await self._conflict_allowance(principal)
            results = await self.store.register(
                rows, principal, conflict_allowance=allowance, accepted=by_staff(principal)
            )
        return [
            await self._first_answer(principal, r, row)
            for r, row in zip(results, rows, strict=True)
        ]

    async def _first_answer(
        self, principal: Principal, result: RegisterResult, row: RegisterRow
    ) -> RegisterResult:
        """A repeated registration answers with the member as they are now only while the caller
        may still see them. One who has since left the caller's scope (reported in elsewhere) is
        answered as first registered, from the request itself: a retry must not follow the
        member to their new community, skills, hours or phone."""
        m = result.member
        if (
            m is None
            or result.created
            or rules.may_see(principal, m.id, m.data.community_id, m.street_id)
        ):
            return result
        community = row.data.community_id
        street = await self.store.street_of(community) if community else None
        first = Member(
            id=m.id,
            data=row.data,
            active=True,
            street_id=street,
            reported_in_at=m.created_at if community else None,
            created_at=m.created_at,
            updated_at=m.created_at,
            report_in=ReportInState.NONE
            if not community
            else ReportInState.ACCEPTED
            if by_staff(principal)
            else ReportInState.PENDING,
            report_in_decided_at=m.created_at if community and by_staff(principal) else None,
        )
        return replace(result, member=first)

    async def _conflict_allowance(self, principal: Principal) -> int | None:
        """How many more taken phones this caller may be told of today (None: no limit).

        Staff learn that a number is taken (they must, to avoid duplicates), but only a few
        times a day: enough for mistakes, too few to search the district's numbers.
        """
        if principal.role not in LIMITED_REGISTRARS:
            return None
        used = await self.store.count_phone_attempts("conflict", caller=principal.subject)
        left = self.settings.phone_conflicts_per_caller_per_day - used
        if left <= 0:
            # Every registration is refused, free number or not: refusing only the taken ones
            # would still tell them apart.
            raise errors.too_many_conflicts()
        return left

    async def _visible(self, principal: Principal, member_id: str) -> Member:
        member = await self.store.get_member(member_id)
        if not rules.may_see(principal, member.id, member.data.community_id, member.street_id):
            raise errors.not_found(member_id)
        return member

    async def get_member(self, principal: Principal, member_id: str) -> tuple[Member, bool]:
        """The member and whether the caller may see their phone and home."""
        member = await self._visible(principal, member_id)
        return member, rules.may_see_private(
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
        report_in: ReportInState | None = None,
    ) -> list[tuple[Member, bool]]:
        v = Violations()
        if skill and skill not in rules.SKILL_CODES:
            v.add("skill", f"unknown skill {skill[:40]!r}")
        if community_id:
            check_org_id(v, "community_id", community_id)
        if grid_id:
            check_org_id(v, "grid_id", grid_id)
        v.raise_if_any()
        # Each caller lists only the members they may see: a member themself, staff their
        # communities, street administrators their streets.
        mine = principal.role is Role.MEMBER
        members = await self.store.list_members(
            community_id=community_id,
            grid_id=grid_id,
            skill=skill,
            active=active,
            street_ids=principal.street_ids if principal.role is Role.STREET_ADMIN else None,
            community_ids=principal.community_ids
            if principal.role is Role.COMMUNITY_STAFF
            else None,
            member_id=principal.subject if mine else None,
            report_in=report_in,
            after=after,
            limit=limit,
        )
        return [
            (m, rules.may_see_private(principal, m.id, m.data.community_id, m.street_id))
            for m in members
        ]

    @staticmethod
    def _manages(principal: Principal, m: Member) -> bool:
        return rules.may_manage(principal, m.id, m.data.community_id, m.street_id)

    def _require_manage(self, principal: Principal, member: Member) -> None:
        # Not PERMISSION_DENIED: a member the caller may not see must look missing.
        if not rules.may_manage(principal, member.id, member.data.community_id, member.street_id):
            raise errors.not_found(member.id)

    async def update(
        self, principal: Principal, member_id: str, new: MemberData, paths: list[str]
    ) -> tuple[Member, bool]:
        """The member after the update, and whether a phone change awaits confirmation."""
        own = principal.role is Role.MEMBER
        current = await self._visible(principal, member_id)
        if not current.active:
            raise errors.member_deactivated()
        wanted = rules.apply_update(current.data, new, paths, self.settings.bounds)
        phone_changes = "phone" in paths and wanted.phone != current.data.phone
        paths = [p for p in paths if p != "phone" or (phone_changes and not own)]
        if phone_changes and principal.role is not Role.SERVICE:
            await self.store.note_phone_change(
                principal.subject,
                current.id,
                self.settings.phone_changes_per_member_per_day,
                None if own else self.settings.phone_changes_per_caller_per_day,
            )
        pending = False
        if phone_changes and own:
            # A member's own new number must prove itself by a code sent to it, and the answer
            # is the same whether or not the number is taken: a taken number gets a notice
            # instead of a code and so can never be confirmed.
            code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
            free = await self.store.request_phone_change(
                current.id,
                wanted.phone,
                code_hash(current.id, code),
                self.settings.phone_code_ttl_s,
            )
            minutes = max(1, round(self.settings.phone_code_ttl_s / 60))
            try:
                if free:
                    await self.sms.send(
                        wanted.phone, PHONE_CHANGE_CODE, {"code": code, "minutes": str(minutes)}
                    )
                else:
                    await self.sms.send(wanted.phone, PHONE_TAKEN_NOTICE, {})
            except SmsError as e:
                raise told(e, "member.phone") from None
            pending = True
        if not paths:
            return current, pending

        def change(member: Member) -> Changed:
            self._require_manage(principal, member)
            return rules.update(member, new, paths, self.settings.bounds)

        updated = await self.store.update_member(member_id, change, principal)
        return updated, pending

    async def confirm_phone_change(self, principal: Principal, member_id: str, code: str) -> Member:
        member = await self._visible(principal, member_id)
        if principal.role is not Role.MEMBER and principal.role is not Role.SERVICE:
            raise PermissionDenied("only the member confirms their own phone change")
        wrong = InvalidArgument(
            FieldViolation("code", "does not match a pending phone change, or has expired")
        )
        if not code.strip().isdigit() or len(code.strip()) != CODE_DIGITS:
            raise wrong
        phone = await self.store.take_phone_change(
            member.id, code_hash(member.id, code), self.settings.phone_code_attempts
        )
        if phone is None:
            raise wrong
        return await self.store.update_member(
            member.id, lambda m: rules.change_phone(m, phone), principal
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
        check_org_id(v, "community_id", community_id)
        check_org_id(v, "grid_id", grid_id)
        if building_group_id:
            check_org_id(v, "building_group_id", building_group_id)
        v.raise_if_any()
        place = Placement(community_id, grid_id, building_group_id or None)
        # The organisation is public: unknown places are named whoever asks.
        await self.store.check_places(place, prefix="")
        target_street = await self.store.street_of(community_id)

        def reachable(member: Member) -> bool:
            if principal.role is Role.MEMBER:
                return principal.subject == member.id
            # Staff and street admins move a member only from a community of their scope (or
            # report in one who has none yet) into a community of their scope: a member of
            # another community is not theirs to take, nor to know of.
            current = member.data.community_id
            return not current or principal.holds(current, member.street_id)

        def change(member: Member) -> Changed | None:
            if not reachable(member):
                raise errors.not_found(member.id)
            if principal.role is not Role.MEMBER and not principal.holds(
                community_id, target_street
            ):
                raise PermissionDenied(f"community {community_id!r} is outside your scope")
            return rules.report_in(member, place, by_staff=by_staff(principal))

        return await self.store.update_member(member_id, change, principal, visible=reachable)

    async def deactivate(self, principal: Principal, member_id: str, reason: str) -> Member:
        v = Violations()
        reason = checks.clean_text(reason)
        if len(reason) > rules.REASON_MAX:
            v.add("reason", f"must be at most {rules.REASON_MAX} characters")
        v.raise_if_any()

        def change(member: Member) -> Changed | None:
            self._require_manage(principal, member)
            return rules.deactivate(member, reason)

        return await self.store.update_member(
            member_id, change, principal, visible=lambda m: self._manages(principal, m)
        )

    async def reactivate(self, principal: Principal, member_id: str) -> Member:
        def change(member: Member) -> Changed | None:
            self._require_manage(principal, member)
            if principal.role is Role.MEMBER:
                raise PermissionDenied("staff of the member's community reactivate a member")
            return rules.reactivate(member)

        return await self.store.update_member(
            member_id, change, principal, visible=lambda m: self._manages(principal, m)
        )
