"""The registry's store in memory: the same interface and answers as the PostgreSQL store, for
use-case tests and tools that need no database. The contract suite holds the two to each other.

Each call runs to its end without awaiting anything else, so it is as atomic as a transaction;
events go to `outbox` as the PostgreSQL store writes them to its outbox table.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from google.protobuf import message as pb_message

from linli.v1 import events_pb2
from services.common.auth import Principal
from services.common.clock import Clock, system_clock
from services.common.errors import InvalidArgument, NotFound
from services.common.eventbus import envelope
from services.common.subjects import REGISTRY
from services.registry import events
from services.registry.domain import errors, qualification
from services.registry.domain.errors import PhoneChangeLimited
from services.registry.domain.member import Member, MemberReportedIn, ReportInState
from services.registry.domain.org import (
    KINDS,
    Community,
    Grid,
    OrgEntry,
    PlaceRefs,
    Places,
    parent_of,
    place_violations,
    plan_write,
    wanted_ids,
)
from services.registry.store.memory_erasure import (
    MemoryErasure,
    PendingPhoneChange,
    PhoneAttempt,
    StoredMember,
)
from services.registry.store.port import MemberUpdate, RegisterResult, RegisterRow
from services.registry.store.records import request_hash

DAY = timedelta(days=1)


class MemoryRegistryStore(MemoryErasure):
    def __init__(self, source: str = REGISTRY, clock: Clock = system_clock) -> None:
        self.outbox: list[events_pb2.EventEnvelope] = []
        self._source = source
        self._clock = clock
        self._org: dict[str, dict[str, tuple[OrgEntry, datetime]]] = {k: {} for k in KINDS}
        self._members: dict[uuid.UUID, StoredMember] = {}
        self._attempts: list[PhoneAttempt] = []
        self._phone_changes: dict[str, PendingPhoneChange] = {}

    def _publish(self, items: Sequence[tuple[str, pb_message.Message]], actor: Principal) -> None:
        for subj, payload in items:
            self.outbox.append(
                envelope(source=self._source, subj=subj, payload=payload, actor=actor)
            )

    # -- organisation ------------------------------------------------------------------------

    async def write_org(
        self, entries: Sequence[OrgEntry], actor: Principal, *, validate_only: bool = False
    ) -> tuple[dict[str, int], int, list[OrgEntry]]:
        existing = {
            (kind, i): self._org[kind][i][0]
            for kind in KINDS
            for i in wanted_ids(entries, kind)
            if i in self._org[kind]
        }
        plan = plan_write(entries, existing)
        if not validate_only:
            now = self._clock()
            for kind in KINDS:
                for entry in plan.new[kind]:
                    self._org[kind][entry.id] = (entry, now)
                self._publish([events.org_created(e) for e in plan.new[kind]], actor)
        return plan.counts(), plan.unchanged, plan.stored

    async def get_org(self, kind: str, entry_id: str) -> OrgEntry:
        found = self._org[kind].get(entry_id)
        if found is None:
            raise NotFound(kind, entry_id)
        return found[0]

    async def org_created_at(self, kind: str, ids: list[str]) -> dict[str, datetime]:
        return {i: self._org[kind][i][1] for i in ids if i in self._org[kind]}

    async def list_org(
        self, kind: str, parent_id: str | None, after: str | None, limit: int
    ) -> list[tuple[OrgEntry, datetime]]:
        rows = [
            (entry, at)
            for i, (entry, at) in sorted(self._org[kind].items())
            if (after is None or i > after)
            and (not parent_id or (parent_of(entry) or ("", ""))[1] == parent_id)
        ]
        return rows[:limit]

    async def org_exists(self, kind: str, entry_id: str) -> bool:
        return entry_id in self._org[kind]

    def _street(self, community_id: str | None) -> str | None:
        found = self._org["community"].get(community_id or "")
        return found[0].street_id if found and isinstance(found[0], Community) else None

    async def street_of(self, community_id: str) -> str | None:
        return self._street(community_id)

    async def street_of_grid(self, grid_id: str) -> tuple[str, str] | None:
        found = self._org["grid"].get(grid_id)
        if found is None or not isinstance(found[0], Grid):
            return None
        street = self._street(found[0].community_id)
        return None if street is None else (found[0].community_id, street)

    def _places(self) -> Places:
        def ups(kind: str) -> dict[str, str]:
            return {i: (parent_of(e) or ("", ""))[1] for i, (e, _) in self._org[kind].items()}

        return Places(
            ups("community"), ups("grid"), ups("building_group"), frozenset(self._org["unit"])
        )

    async def check_places(self, refs: PlaceRefs, prefix: str) -> None:
        violations = place_violations(refs, self._places(), prefix)
        if violations:
            raise InvalidArgument(violations)

    # -- members -----------------------------------------------------------------------------

    def _read(self, row: StoredMember) -> Member:
        return replace(row.member, street_id=self._street(row.member.data.community_id))

    async def register(
        self,
        rows: Sequence[RegisterRow],
        actor: Principal,
        *,
        conflict_allowance: int | None = None,
        accepted: bool = False,
    ) -> list[RegisterResult]:
        results: dict[int, RegisterResult] = {}
        request_ids = {row.request_id for row in rows}
        phones = {row.data.phone for row in rows}
        known = [
            r
            for r in self._members.values()
            if (r.created_by == actor.subject and r.request_id in request_ids)
            or r.member.data.phone in phones
        ]
        seen = {r.request_id: r for r in known if r.created_by == actor.subject}
        taken = {r.member.data.phone for r in known}
        pending = []
        for row in rows:
            previous = seen.get(row.request_id)
            if previous is None:
                pending.append(row)
            elif previous.request_hash != request_hash(row.data):
                results[row.index] = RegisterResult(row.index, error=errors.request_id_reused())
            else:
                results[row.index] = RegisterResult(row.index, self._read(previous))
        places = self._places()
        conflicts = 0
        batch_request_ids: set[str] = set()
        to_insert: list[RegisterRow] = []
        for row in pending:
            wrong_places = place_violations(row.data, places, "member.")
            if wrong_places:
                error: Exception = InvalidArgument(wrong_places)
            elif row.data.phone in taken:
                conflicts += 1
                error = errors.phone_taken()
            elif row.request_id in batch_request_ids:
                error = errors.request_id_twice()
            else:
                taken.add(row.data.phone)
                batch_request_ids.add(row.request_id)
                to_insert.append(row)
                continue
            results[row.index] = RegisterResult(row.index, error=error)
        now = self._clock()
        if conflict_allowance is not None and conflicts > conflict_allowance:
            # Counted although nothing else is written, as the SQL store counts them outside
            # the transaction it rolls back.
            self._count(actor.subject, conflict_allowance + 1, now)
            raise errors.too_many_conflicts()
        payloads: list[tuple[str, pb_message.Message]] = []
        for row in to_insert:
            mid = uuid.uuid4()
            member = Member(
                id=str(mid),
                data=row.data,
                active=True,
                street_id=places.streets.get(row.data.community_id or ""),
                reported_in_at=now if row.data.community_id else None,
                created_at=now,
                updated_at=now,
                report_in=ReportInState.NONE
                if not row.data.community_id
                else ReportInState.ACCEPTED
                if accepted
                else ReportInState.PENDING,
                report_in_decided_at=now if row.data.community_id and accepted else None,
            )
            self._members[mid] = StoredMember(
                member, row.request_id, request_hash(row.data), actor.subject
            )
            results[row.index] = RegisterResult(row.index, member, created=True)
            payloads.append(events.member_registered(member))
        self._publish(payloads, actor)
        if conflict_allowance is not None and conflicts:
            self._count(actor.subject, conflicts, now)
        return [results[row.index] for row in rows]

    def _count(self, caller: str, n: int, now: datetime) -> None:
        self._attempts.extend(PhoneAttempt("conflict", caller, None, now) for _ in range(n))
        self._attempts = [a for a in self._attempts if a.caller != caller or a.at >= now - DAY]

    def _row(self, member_id: str) -> StoredMember:
        try:
            key = uuid.UUID(member_id)
        except ValueError:
            raise errors.not_found(member_id) from None
        row = self._members.get(key)
        if row is None or row.erased_at is not None:
            raise errors.not_found(member_id)
        return row

    async def get_member(self, member_id: str) -> Member:
        return self._read(self._row(member_id))

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
        start = uuid.UUID(after) if after is not None else None
        only = uuid.UUID(member_id) if member_id is not None else None
        out: list[Member] = []
        for key in sorted(self._members):
            if self._members[key].erased_at is not None:
                continue
            m = self._read(self._members[key])
            d = m.data
            if (
                (start is not None and key <= start)
                or (only is not None and key != only)
                or (community_id and d.community_id != community_id)
                or (grid_id and d.grid_id != grid_id)
                or (skill and skill not in {s for s, _ in d.skills})
                or (active is not None and m.active != active)
                or (street_ids is not None and m.street_id not in street_ids)
                or (community_ids is not None and d.community_id not in community_ids)
                or (report_in is not None and m.report_in is not report_in)
            ):
                continue
            out.append(m)
            if len(out) >= limit:
                break
        return out

    async def certificates_due(self, now: datetime, horizon: timedelta, limit: int) -> list[str]:
        return [
            str(key)
            for key in sorted(self._members)
            if self._members[key].erased_at is None
            and qualification.due(self._members[key].member, now, horizon)
        ][:limit]

    async def update_member(
        self,
        member_id: str,
        update: MemberUpdate,
        actor: Principal,
        *,
        visible: Callable[[Member], bool] | None = None,
    ) -> Member:
        row = self._row(member_id)
        member = self._read(row)
        if visible is not None and not visible(member):
            raise errors.not_found(member_id)
        changed = update(member)
        if changed is None:
            return member
        new = changed.member
        wrong_places = place_violations(new.data, self._places(), "member.")
        if wrong_places:
            raise InvalidArgument(wrong_places)
        if new.data.phone != member.data.phone and any(
            r.member.data.phone == new.data.phone for r in self._members.values() if r is not row
        ):
            raise errors.phone_taken()
        now = self._clock()
        decided_at = member.report_in_decided_at
        if changed.decides_report_in:
            accepted_or_refused = new.report_in in (ReportInState.ACCEPTED, ReportInState.REFUSED)
            decided_at = now if accepted_or_refused else None
        row.member = replace(
            member,
            data=new.data,
            active=new.active,
            deactivation_reason=new.deactivation_reason,
            reported_in_at=now
            if isinstance(changed.event, MemberReportedIn)
            else member.reported_in_at,
            updated_at=now,
            report_in=new.report_in,
            report_in_reason=new.report_in_reason,
            report_in_decided_at=decided_at,
            verifications=new.verifications,
        )
        updated = self._read(row)
        self._publish(events.member_events(changed, updated), actor)
        return updated

    # -- phone changes -----------------------------------------------------------------------

    async def count_phone_attempts(
        self, kind: str, *, caller: str | None = None, member_id: str | None = None
    ) -> int:
        since = self._clock() - DAY
        return sum(
            1
            for a in self._attempts
            if a.kind == kind
            and a.at > since
            and (caller is None or a.caller == caller)
            and (member_id is None or a.member_id == str(uuid.UUID(member_id)))
        )

    async def note_phone_change(
        self, caller: str, member_id: str, per_member: int | None, per_caller: int | None
    ) -> None:
        key = str(uuid.UUID(member_id))
        now = self._clock()
        recent = [a for a in self._attempts if a.kind == "change" and a.at > now - DAY]
        if per_member is not None and sum(a.member_id == key for a in recent) >= per_member:
            raise PhoneChangeLimited("too many phone changes for this member today")
        if per_caller is not None and sum(a.caller == caller for a in recent) >= per_caller:
            raise PhoneChangeLimited("too many phone changes by this caller today")
        self._attempts.append(PhoneAttempt("change", caller, key, now))
        self._attempts = [a for a in self._attempts if a.caller != caller or a.at >= now - DAY]

    async def request_phone_change(
        self, member_id: str, phone: str, code_hash: str, ttl_s: float
    ) -> bool:
        key = uuid.UUID(member_id)
        taken = any(r.member.data.phone == phone for k, r in self._members.items() if k != key)
        self._phone_changes[str(key)] = PendingPhoneChange(
            phone, None if taken else code_hash, 0, self._clock() + timedelta(seconds=ttl_s)
        )
        return not taken

    async def take_phone_change(
        self, member_id: str, code_hash: str, max_attempts: int
    ) -> str | None:
        key = str(uuid.UUID(member_id))
        pending = self._phone_changes.get(key)
        if pending is None:
            return None
        live = pending.expires_at > self._clock()
        stored = pending.code_hash
        if live and stored is not None and hmac.compare_digest(stored, code_hash):
            del self._phone_changes[key]
            return pending.phone
        if not live or pending.attempts + 1 >= max_attempts:
            del self._phone_changes[key]
        else:
            pending.attempts += 1
        return None
