"""A member's export and erasure, at their own request: who may ask (the member themself, a
district administrator) and what each gives."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from services.common.auth import Principal
from services.common.erasure import require_export_or_erase
from services.registry.domain import erasure, errors
from services.registry.domain import member as rules
from services.registry.domain.member import Member
from services.registry.store import PhoneHistory, RegistryStore


class ErasureCases:
    store: RegistryStore

    async def export_member(
        self, principal: Principal, member_id: str
    ) -> tuple[Member, PhoneHistory]:
        """The member's record whole (phone and home unmasked) and their phone history."""
        member = await self.store.get_member(member_id)
        if not rules.may_see(principal, member.id, member.data.community_id, member.street_id):
            raise errors.not_found(member_id)
        require_export_or_erase(principal, member.id, "exported")
        return member, await self.store.phone_history(member.id)

    async def erase_member(self, principal: Principal, member_id: str, reason: str) -> datetime:
        """Erase the member; when it happened."""
        reason = erasure.check_reason(reason)
        return await self.store.erase_member(
            member_id,
            partial(erasure.erase, principal),
            reason,
            principal,
            visible=lambda m: rules.may_see(principal, m.id, m.data.community_id, m.street_id),
        )
