"""The in-memory store's member rows, and a member's erasure and phone history there, as the
PostgreSQL store does them (store/erasure.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from google.protobuf import message as pb_message

from linli.v1 import events_pb2
from services.common.auth import Principal
from services.common.clock import Clock
from services.registry import events
from services.registry.domain import errors
from services.registry.domain.erasure import ERASED_REQUEST_HASH, PhoneHistory
from services.registry.domain.member import Member


@dataclass
class StoredMember:
    member: Member  # street_id is read from the organisation, as the SQL store's join does
    request_id: str
    request_hash: str
    created_by: str
    erased_at: datetime | None = None
    erasure_reason: str = ""


@dataclass
class PendingPhoneChange:
    phone: str
    code_hash: str | None
    attempts: int
    expires_at: datetime


@dataclass(frozen=True)
class PhoneAttempt:
    kind: str
    caller: str
    member_id: str | None
    at: datetime


class MemoryErasure:
    outbox: list[events_pb2.EventEnvelope]
    _clock: Clock
    _members: dict[uuid.UUID, StoredMember]
    _attempts: list[PhoneAttempt]
    _phone_changes: dict[str, PendingPhoneChange]

    def _row(self, member_id: str) -> StoredMember:
        raise NotImplementedError  # the store's own: erased rows are not found

    def _read(self, row: StoredMember) -> Member:
        raise NotImplementedError

    def _publish(self, items: Sequence[tuple[str, pb_message.Message]], actor: Principal) -> None:
        raise NotImplementedError

    async def erase_member(
        self,
        member_id: str,
        erase: Callable[[Member], Member],
        reason: str,
        actor: Principal,
        *,
        visible: Callable[[Member], bool],
    ) -> datetime:
        row = self._row(member_id)
        member = self._read(row)
        if not visible(member):
            raise errors.not_found(member_id)
        gone = erase(member)
        now = self._clock()
        row.member = replace(gone, updated_at=now)
        row.request_hash = ERASED_REQUEST_HASH
        row.erased_at = now
        row.erasure_reason = reason
        self._phone_changes.pop(member.id, None)
        self._attempts = [
            replace(a, member_id=None) if a.member_id == member.id else a for a in self._attempts
        ]
        for env in self.outbox:
            events.scrub(env, gone)
        self._publish([events.member_erased(member.id, gone.data.community_id)], actor)
        return now

    async def phone_history(self, member_id: str) -> PhoneHistory:
        key = str(uuid.UUID(member_id))
        pending = self._phone_changes.get(key)
        return PhoneHistory(
            pending_phone=pending.phone if pending else None,
            pending_expires=pending.expires_at if pending else None,
            changes_asked=tuple(
                a.at for a in self._attempts if a.kind == "change" and a.member_id == key
            ),
        )
