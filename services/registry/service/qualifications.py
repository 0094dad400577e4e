"""The staff's decisions on a member's standing: accept or refuse a pending report-in, verify or
withdraw a certificate for a skill that needs proof, and the sweep that reminds of certificates
about to expire and ends those that have."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.common.auth import Principal, Role
from services.common.checks import Violations, clean_text
from services.common.clock import Clock
from services.common.errors import PermissionDenied
from services.common.settings import RegistrySettings
from services.registry.domain import member as rules
from services.registry.domain import qualification
from services.registry.domain.member import Changed, Member
from services.registry.store import RegistryStore

# Members whose certificates one sweep handles; the next sweep takes the rest.
SWEEP_BATCH = 500
# Who ends a certificate at its expiry, as the events and the audit log name it.
SWEEPER = Principal("registry", Role.SERVICE)


class QualificationCases:
    store: RegistryStore
    settings: RegistrySettings
    clock: Clock

    async def _decide(
        self, principal: Principal, member_id: str, decide: qualification.MemberChange
    ) -> Member:
        """Run a staff decision on a member of the caller's scope; any other is NOT_FOUND."""
        if principal.role is Role.MEMBER:
            # Refused at the door too (STAFF_ONLY): nobody accepts or verifies themself.
            raise PermissionDenied("the community's staff decide this")

        def manages(m: Member) -> bool:
            return rules.may_manage(principal, m.id, m.data.community_id, m.street_id)

        return await self.store.update_member(member_id, decide, principal, visible=manages)

    async def accept_report_in(self, principal: Principal, member_id: str) -> Member:
        return await self._decide(principal, member_id, qualification.accept_report_in)

    async def refuse_report_in(self, principal: Principal, member_id: str, reason: str) -> Member:
        reason = qualification.check_refusal_reason(reason)
        return await self._decide(
            principal, member_id, lambda m: qualification.refuse_report_in(m, reason)
        )

    async def verify_skill(
        self,
        principal: Principal,
        member_id: str,
        skill: str,
        certificate_number: str,
        expires_at: datetime | None,
    ) -> Member:
        number = qualification.check_certificate(
            skill, certificate_number, expires_at, self.clock()
        )
        assert expires_at is not None  # check_certificate requires it

        def verify(m: Member) -> Changed | None:
            return qualification.verify_skill(m, skill, number, expires_at)

        return await self._decide(principal, member_id, verify)

    async def withdraw_verification(
        self, principal: Principal, member_id: str, skill: str, reason: str
    ) -> Member:
        v = Violations()
        if not skill:
            v.add("skill", "is required")
        if len(clean_text(reason)) > rules.REASON_MAX:
            v.add("reason", f"must be at most {rules.REASON_MAX} characters")
        v.raise_if_any()
        return await self._decide(
            principal, member_id, lambda m: qualification.withdraw_verification(m, skill)
        )

    async def sweep_certificates(self) -> int:
        """Remind of certificates expiring within the horizon and end the expired ones; how
        many members changed. Each member changes in their own transaction, under their lock,
        so a sweep cut short loses nothing: the next one finds what is still due."""
        now = self.clock()
        horizon = timedelta(days=self.settings.certificate_reminder_days)
        due = await self.store.certificates_due(now, horizon, SWEEP_BATCH)
        for member_id in due:
            await self.store.update_member(
                member_id, lambda m: qualification.expire(m, now, horizon), SWEEPER
            )
        return len(due)
