"""The member's month in the in-memory task store: standby lists, confirm or release, staff's
changes, the reminder loop's questions, the calendar, and a moved member's places, as the
PostgreSQL store does them (store/month.py, store/readmodel.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.auth import Principal
from services.common.errors import NotFound
from services.tasks import domain
from services.tasks.domain import (
    HOLDS_PLACE,
    TAKING_PLACES,
    Assignment,
    AssignmentState,
    Change,
    DomainEvent,
    MemberView,
    NoAnswerPolicy,
    StandbyEntry,
    Task,
    VolunteerRole,
)
from services.tasks.domain.confirmation import ask, empty_alert, unanswered
from services.tasks.domain.errors import time_conflict
from services.tasks.domain.standby import LEFT
from services.tasks.store.memory_reads import Posted
from services.tasks.store.scope import Scope

ENDED = ("completed", "no_show", "withdrawn", "cancelled")


class MemoryMonth:
    members: dict[str, MemberView]
    roles: dict[tuple[str, str], Posted]
    tasks: dict[str, Task]
    assignments: dict[str, Assignment]
    standby: dict[tuple[str, str], StandbyEntry]

    # Defined by the store this is mixed into.
    def _write(self, change: Change, now: datetime) -> Task:
        raise NotImplementedError

    def _live(self, task_id: str) -> list[Assignment]:
        raise NotImplementedError

    def _task(self, task_id: str) -> Task:
        raise NotImplementedError

    def _standby_after(self, task: Task, change: Change) -> list[DomainEvent]:
        """As StoreBase._standby_after: the change's own entries, and those it ends."""
        for e in change.events:
            if isinstance(e, domain.StandbyJoined):
                self.standby.setdefault((task.id, e.entry.member_id), e.entry)
            elif isinstance(e, domain.StandbyLeft):
                self.standby.pop((task.id, e.member_id), None)
        placed = [a.member_id for a in change.written if a.id in change.created]
        if not placed and task.status in TAKING_PLACES:
            return []
        waiting = [m for t, m in self.standby if t == task.id]
        ended = domain.standby_ends(task, placed, waiting)
        for e in ended:
            del self.standby[(task.id, e.member_id)]
        return list(ended)

    # -- the read model: a member who can no longer take places ----------------------------------

    async def release_places(self, conn: Any, member_id: str) -> int:
        member = self.members.get(member_id)
        held = {
            a.task_id
            for a in self.assignments.values()
            if a.member_id == member_id and a.state in HOLDS_PLACE
        }
        waiting = {t for t, m in self.standby if m == member_id}
        released = 0
        now = datetime.now(UTC)
        for task_id in sorted(held | waiting):
            task = self.tasks[task_id]
            if task.status not in TAKING_PLACES and task_id not in waiting:
                continue
            on_standby = task_id in waiting
            live = self._live(task_id)
            change = domain.release_member(task, live, member_id, member, on_standby, now)
            self._write(change, now)
            released += len(change.written)
        return released

    # -- standby ---------------------------------------------------------------------------------

    async def join_standby(
        self,
        task_id: str,
        member_id: str,
        actor: Principal,
        now: datetime,
        check: Callable[[Task], None],
    ) -> StandbyEntry:
        task = self._task(task_id)
        check(task)
        found = self.standby.get((task_id, member_id))
        if found is not None:
            return found
        member = self.members.get(member_id)
        entry = domain.join_standby(task, self._live(task_id), member_id, member, now)
        self._write(Change(task, (), (domain.StandbyJoined(entry),)), now)
        return entry

    async def leave_standby(
        self, task_id: str, member_id: str, actor: Principal, now: datetime
    ) -> bool:
        task = self._task(task_id)
        if (task_id, member_id) not in self.standby:
            return False
        self._write(Change(task, (), (domain.StandbyLeft(task_id, member_id, LEFT),)), now)
        return True

    async def list_standby(
        self, task_id: str, member_id: str, scope: Scope | None = None
    ) -> list[StandbyEntry]:
        def within(t: Task) -> bool:
            return scope is None or scope.admits(t.community_id, t.street_id, t.street_wide)

        found = [
            e
            for (t, m), e in self.standby.items()
            if (not task_id or t == task_id)
            and (not member_id or m == member_id)
            and within(self.tasks[t])
        ]
        return sorted(found, key=lambda e: (e.joined_at, e.member_id))[:1000]

    # -- changes by the member or staff ----------------------------------------------------------

    async def update_assignment(
        self,
        assignment_id: str,
        actor: Principal,
        now: datetime,
        apply: Callable[[Task, Assignment], Change],
    ) -> Assignment:
        a = self.assignments.get(assignment_id)
        if a is None:
            raise NotFound("assignment", assignment_id)
        self._write(apply(self._task(a.task_id), a), now)
        return self.assignments[a.id]

    async def update_task(
        self, task_id: str, actor: Principal, now: datetime, apply: Callable[[Task], Change]
    ) -> Task:
        task = self._task(task_id)
        change = apply(task)
        if change.task.window != task.window and not change.task.window.flexible:
            # What the database's exclusion constraint refuses: a member holding an accepted
            # place with another accepted task at the new time.
            for a in self._live(task_id):
                if a.state is not AssignmentState.ACCEPTED:
                    continue
                others = (
                    (o.task_id, self.tasks[o.task_id].window)
                    for o in self.assignments.values()
                    if o.member_id == a.member_id
                    and o.task_id != task_id
                    and o.state is AssignmentState.ACCEPTED
                    and not self.tasks[o.task_id].window.flexible
                )
                if domain.clash(change.task.window, others):
                    raise time_conflict("move the task")
        return self._write(change, now) if change.task != task else task

    # -- the reminder loop -----------------------------------------------------------------------

    def _policy(self, task: Task, default: NoAnswerPolicy) -> NoAnswerPolicy:
        for posted in self.roles.values():
            role = posted.record
            if isinstance(role, VolunteerRole) and role.id == task.source_id:
                return role.draft.no_answer or default
        return default

    async def confirmations_due(
        self,
        now: datetime,
        before: timedelta,
        within: timedelta,
        default: NoAnswerPolicy,
        batch: int = 500,
    ) -> tuple[int, int]:
        asked = overdue = 0
        accepted = sorted(
            (a for a in self.assignments.values() if a.state is AssignmentState.ACCEPTED),
            key=lambda a: (self.tasks[a.task_id].window.start, a.id),
        )
        for a in accepted[:batch]:
            task = self.tasks[a.task_id]
            change = ask(task, a, now, before, within)
            if change is not None:
                asked += 1
            else:
                change = unanswered(task, a, now, self._policy(task, default))
                overdue += change is not None
            if change is not None:
                self._write(change, now)
        return asked, overdue

    async def alert_empty_places(self, now: datetime, horizon: timedelta, batch: int = 500) -> int:
        alerted = 0
        for task in sorted(self.tasks.values(), key=lambda t: (t.window.start, t.id))[:batch]:
            change = empty_alert(task, now, horizon)
            if change is not None:
                self._write(change, now)
                alerted += 1
        return alerted

    # -- the calendar ----------------------------------------------------------------------------

    async def calendar(self, member_id: str, since: datetime) -> list[tuple[Assignment, Task]]:
        mine = [
            a
            for a in self.assignments.values()
            if a.member_id == member_id
            and (
                a.state is AssignmentState.ACCEPTED
                or (a.state.value in ENDED and a.updated_at >= since)
            )
        ]
        mine.sort(key=lambda a: (a.created_at, a.id))
        return [(a, self.tasks[a.task_id]) for a in mine[:1000]]
