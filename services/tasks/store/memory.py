"""An in-memory task store: the same interface and rules as the PostgreSQL store, for use-case
tests that need no database. A transaction restores what it changed when it fails."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from services.common.auth import Principal
from services.common.errors import NotFound
from services.common.values import LatLng
from services.tasks import domain, events
from services.tasks.domain import (
    HOLDS_PLACE,
    TAKING_PLACES,
    Assignment,
    AssignmentSource,
    AssignmentState,
    Change,
    DomainEvent,
    MemberView,
    Outcome,
    ProposalRejected,
    RoleDraft,
    StandbyEntry,
    Task,
    TaskPosted,
    VolunteerRole,
    Wish,
    WishDraft,
)
from services.tasks.store.memory_attendance import MemoryAttendance
from services.tasks.store.memory_erasure import MemoryErasure
from services.tasks.store.memory_month import MemoryMonth
from services.tasks.store.memory_reads import MemoryReads, Posted


class MemoryTaskStore(MemoryMonth, MemoryReads, MemoryErasure, MemoryAttendance):
    def __init__(self) -> None:
        self.communities: dict[str, tuple[str, LatLng]] = {}
        self.units: dict[str, str] = {}
        self.members: dict[str, MemberView] = {}
        self.versions: dict[str, datetime] = {}
        self.wishes: dict[tuple[str, str], Posted] = {}
        self.roles: dict[tuple[str, str], Posted] = {}
        self.generated_until: dict[str, datetime] = {}
        self.tasks: dict[str, Task] = {}
        self.assignments: dict[str, Assignment] = {}
        self.feedback: dict[str, domain.Feedback] = {}
        self.attendance, self.hours_records = {}, {}
        self.standby: dict[tuple[str, str], StandbyEntry] = {}
        # The outbox: what the PostgreSQL store would write for the relay, as (subject, payload).
        self.outbox: list[events.Event] = []

    # -- transactions --------------------------------------------------------------------------

    def _state(self) -> list[Any]:
        return [
            *(self.communities, self.units, self.members, self.versions, self.wishes),
            *(self.roles, self.generated_until, self.tasks, self.assignments, self.feedback),
            self.standby,
            *self.attendance_state(),
        ]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MemoryTaskStore]:
        saved = [dict(d) for d in self._state()]
        sent = len(self.outbox)
        try:
            yield self
        except BaseException:
            for live, copy in zip(self._state(), saved, strict=True):
                live.clear()
                live.update(copy)
            del self.outbox[sent:]
            raise

    def _emit(self, items: Sequence[DomainEvent]) -> None:
        self.outbox += [events.payload(e) for e in items]

    def _write(self, change: Change, now: datetime) -> Task:
        for a in change.written:
            self.assignments[a.id] = replace(a, updated_at=now)
        task = replace(change.task, updated_at=now)
        self.tasks[task.id] = task
        if change.feedback is not None:
            self.feedback[task.id] = change.feedback
        self._emit([*change.events, *self._standby_after(task, change)])
        return task

    def _live(self, task_id: str) -> list[Assignment]:
        live = [
            a for a in self.assignments.values() if a.task_id == task_id and a.state in HOLDS_PLACE
        ]
        return sorted(live, key=lambda a: (a.created_at, a.id))

    def _overlapping(self, member_id: str, task: Task) -> str | None:
        accepted = (
            (a.task_id, self.tasks[a.task_id].window)
            for a in self.assignments.values()
            if a.member_id == member_id and a.state is AssignmentState.ACCEPTED
        )
        return domain.clash(task.window, accepted)

    def _task(self, task_id: str) -> Task:
        task = self.tasks.get(task_id)
        if task is None:
            raise NotFound("task", task_id)
        return task

    # -- the read model ------------------------------------------------------------------------

    async def apply_community(
        self, conn: Any, community_id: str, street_id: str, station: LatLng
    ) -> None:
        self.communities[community_id] = (street_id, station)

    async def apply_member(
        self,
        conn: Any,
        view: MemberView,
        *,
        skills: str,
        availability: str,
        hours_per_month: int,
        home: LatLng | None,
        version: datetime,
    ) -> None:
        # An older snapshot arriving late never overwrites a newer one.
        if self.versions.get(view.id, version) <= version:
            self.members[view.id] = view
            self.versions[view.id] = version

    async def apply_unit(self, conn: Any, unit_id: str, community_id: str) -> None:
        self.units[unit_id] = community_id

    async def unit_exists(self, unit_id: str) -> bool:
        return unit_id in self.units

    async def member_known(self, member_id: str) -> bool:
        return member_id in self.members

    async def member_view(self, conn: Any, member_id: str) -> MemberView | None:
        return self.members.get(member_id)

    # -- posting -------------------------------------------------------------------------------

    async def find_wish(self, created_by: str, request_id: str) -> tuple[Wish, Task, str] | None:
        found = self.wishes.get((created_by, request_id))
        if found is None:
            return None
        assert isinstance(found.record, Wish)
        return found.record, self.tasks[found.record.task_id], found.request_hash

    async def post_wish(
        self,
        request_id: str,
        request_hash: str,
        draft: WishDraft,
        street_id: str,
        actor: Principal,
        now: datetime,
    ) -> tuple[Wish, Task, str]:
        found = await self.find_wish(actor.subject, request_id)
        if found is not None:
            return found
        wish, task = domain.post_wish(draft, street_id, now, str(uuid.uuid4()), str(uuid.uuid4()))
        self.wishes[(actor.subject, request_id)] = Posted(wish, request_hash)
        self.tasks[task.id] = task
        self._emit([TaskPosted(task)])
        return wish, task, request_hash

    async def find_role(
        self, created_by: str, request_id: str
    ) -> tuple[VolunteerRole, int, str] | None:
        found = self.roles.get((created_by, request_id))
        if found is None:
            return None
        assert isinstance(found.record, VolunteerRole)
        return self._role(found.record.id), found.generated, found.request_hash

    async def create_role(
        self,
        request_id: str,
        request_hash: str,
        draft: RoleDraft,
        street_id: str,
        actor: Principal,
        now: datetime,
        horizon: timedelta,
    ) -> tuple[VolunteerRole, int, str]:
        found = await self.find_role(actor.subject, request_id)
        if found is not None:
            return found
        role = VolunteerRole(str(uuid.uuid4()), draft, False, now)
        self.roles[(actor.subject, request_id)] = Posted(role, request_hash)
        self.generated_until[role.id] = now
        self._emit([domain.RoleCreated(role)])
        generated = self._generate(role, street_id, now, now + horizon)
        self.roles[(actor.subject, request_id)] = Posted(role, request_hash, generated)
        return role, generated, request_hash

    def _generate(
        self, role: VolunteerRole, street_id: str, since: datetime, until: datetime
    ) -> int:
        existing = {(t.source_id, t.window.start) for t in self.tasks.values()}
        posted = [
            t
            for t in domain.occurrence_tasks(role, street_id, since, until, since)
            if (t.source_id, t.window.start) not in existing
        ]
        for t in posted:
            self.tasks[t.id] = t
        self.generated_until[role.id] = max(self.generated_until[role.id], until)
        self._emit([TaskPosted(t) for t in posted])
        return len(posted)

    async def generate_due(self, now: datetime, horizon: timedelta) -> int:
        until = now + horizon
        total = 0
        for posted in list(self.roles.values()):
            role = posted.record
            assert isinstance(role, VolunteerRole)
            street = await self.street_of(None, role.draft.community_id)
            if role.ended or street is None or self.generated_until[role.id] >= until:
                continue
            since = max(self.generated_until[role.id], now)
            total += self._generate(role, street, since, until)
        return total

    async def end_role(
        self, role_id: str, reason: str, actor: Principal, now: datetime
    ) -> tuple[VolunteerRole, int]:
        key = next((k for k, p in self.roles.items() if p.record.id == role_id), None)
        if key is None:
            raise NotFound("role", role_id)
        posted = self.roles[key]
        assert isinstance(posted.record, VolunteerRole)
        ended = domain.end_role(posted.record)
        if ended is None:
            return posted.record, 0
        self.roles[key] = replace(posted, record=ended)
        self._emit([domain.RoleEnded(ended)])
        mine = [t for t in self.tasks.values() if t.source_id == role_id]
        future = sorted(domain.tasks_to_cancel(mine, now), key=lambda t: t.id)
        why = domain.role_ended_reason(reason)
        for t in future:
            self._write(domain.cancel(t, self._live(t.id), why, now), now)
        return ended, len(future)

    # -- places --------------------------------------------------------------------------------

    async def claim(
        self,
        task_id: str,
        member_id: str,
        actor: Principal,
        now: datetime,
        check: Callable[[Task], None],
    ) -> tuple[Assignment, Task]:
        task = self._task(task_id)
        check(task)
        change = domain.claim(
            task,
            self._live(task_id),
            member_id,
            self.members.get(member_id),
            self._overlapping(member_id, task),
            now,
            str(uuid.uuid4()),
        )
        task = self._write(change, now)
        return self.assignments[change.assignment.id], task

    async def change_assignment(
        self,
        assignment_id: str,
        target: AssignmentState,
        actor: Principal,
        now: datetime,
        check: Callable[[Assignment, Task], None],
        reason: str = "",
    ) -> tuple[Assignment, Task]:
        a = self.assignments.get(assignment_id)
        if a is None:
            raise NotFound("assignment", assignment_id)
        task = self._task(a.task_id)
        check(a, task)
        member, clash = self.members.get(a.member_id), self._overlapping(a.member_id, task)
        change = domain.answer(task, a, target, member, clash, reason, now, self._live(task.id))
        task = self._write(change, now)
        return self.assignments[a.id], task

    async def propose(
        self,
        conn: Any,
        run_id: str,
        task_id: str,
        member_id: str,
        actor: Principal | None,
        now: datetime,
        ttl: timedelta,
        standby: bool = False,
    ) -> str | None:
        task = self.tasks.get(task_id)
        result = domain.propose(
            task,
            task_id,
            self._live(task_id) if task else (),
            member_id,
            self.members.get(member_id),
            self._overlapping(member_id, task) if task else None,
            run_id,
            now,
            ttl,
            str(uuid.uuid4()),
            AssignmentSource.STANDBY if standby else AssignmentSource.MATCHING,
        )
        if isinstance(result, ProposalRejected):
            self._emit([result])
            return result.reason
        self._write(result, now)
        return None

    async def cancel_task(
        self,
        task_id: str,
        reason: str,
        actor: Principal,
        check: Callable[[Task], None],
        now: datetime,
    ) -> Task:
        task = self._task(task_id)
        check(task)
        return self._write(domain.cancel(task, self._live(task_id), reason, now), now)

    async def complete_task(
        self,
        task_id: str,
        outcomes: tuple[Outcome, ...],
        score: int,
        comment: str,
        actor: Principal,
        now: datetime,
        check: Callable[[Task], None],
    ) -> tuple[Task, list[Assignment]]:
        task = self._task(task_id)
        check(task)
        change = domain.complete(task, self._live(task_id), outcomes, score, comment, now)
        task = self._write(change, now)
        done = change.events[0]
        assert isinstance(done, domain.TaskCompleted)
        return task, [self.assignments[a.id] for a in done.assignments]

    async def expire_proposals(self, now: datetime, batch: int = 500) -> int:
        due = {
            a.task_id
            for a in self.assignments.values()
            if a.state is AssignmentState.PROPOSED and a.expires_at and a.expires_at <= now
        }
        expired = 0
        for task_id in sorted(due)[:batch]:
            change = domain.expire_proposals(self.tasks[task_id], self._live(task_id), now)
            self._write(change, now)
            expired += len(change.written)
        return expired

    async def close_due_tasks(self, now: datetime, batch: int = 500) -> int:
        due = sorted(
            (
                t
                for t in self.tasks.values()
                if t.status in TAKING_PLACES and t.window.claim_deadline <= now
            ),
            key=lambda t: t.window.claim_deadline,
        )[:batch]
        for t in due:
            self._write(domain.close_due(t, self._live(t.id), now), now)
        return len(due)
