"""The in-memory store's check-ins and hours records, as the PostgreSQL store keeps them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.common.auth import Principal
from services.common.errors import NotFound
from services.tasks import events
from services.tasks.domain import Assignment, Task
from services.tasks.domain.attendance import Attendance, Purpose
from services.tasks.domain.hours import CURRENT, HoursChange, HoursRecord, TaskHours
from services.tasks.store.attendance_port import AttendanceDecision, HoursDecision
from services.tasks.store.scope import Scope


class MemoryAttendance:
    tasks: dict[str, Task]
    assignments: dict[str, Assignment]
    attendance: dict[tuple[str, str, Purpose], Attendance]
    hours_records: dict[str, HoursRecord]
    outbox: list[events.Event]

    def _known_task(self, task_id: str) -> Task:
        task = self.tasks.get(task_id)
        if task is None:
            raise NotFound("task", task_id)
        return task

    async def record_attendance(
        self, task_id: str, member_id: str, purpose: Purpose, decide: AttendanceDecision
    ) -> Attendance:
        task = self._known_task(task_id)
        found = self.attendance.get((task_id, member_id, purpose))
        if found is not None:
            return found
        mine = sorted(
            (
                a
                for a in self.assignments.values()
                if (a.task_id, a.member_id) == (task_id, member_id)
            ),
            key=lambda a: (a.created_at, a.id),
        )
        made = decide(
            task,
            mine[-1] if mine else None,
            self.attendance.get((task_id, member_id, Purpose.CHECK_IN)),
        )
        self.attendance[(task_id, member_id, purpose)] = made
        return made

    def _hours_of(self, task: Task) -> TaskHours:
        places = sorted(
            (a for a in self.assignments.values() if a.task_id == task.id),
            key=lambda a: (a.created_at, a.id),
        )
        return TaskHours(
            task,
            {a.member_id: a for a in places},
            [a for (t, _, _), a in self.attendance.items() if t == task.id],
            sorted(
                (r for r in self.hours_records.values() if r.task_id == task.id),
                key=lambda r: (r.created_at, r.id),
            ),
        )

    async def task_hours(self, task_id: str) -> TaskHours:
        return self._hours_of(self._known_task(task_id))

    async def change_hours(
        self, task_id: str, decide: HoursDecision, actor: Principal
    ) -> HoursChange:
        change = decide(self._hours_of(self._known_task(task_id)))
        after = dict(self.hours_records)
        for rec in change.written:
            after[rec.id] = rec
        current = [(r.task_id, r.member_id) for r in after.values() if r.state in CURRENT]
        if len(current) != len(set(current)):  # the unique index of the PostgreSQL store
            raise AssertionError("two current hours records of one member and task")
        self.hours_records.update({r.id: r for r in change.written})
        self.outbox += [events.hours_payload(e) for e in change.events]
        return change

    async def get_hours_record(self, record_id: str) -> HoursRecord | None:
        return self.hours_records.get(record_id)

    async def list_hours_records(
        self,
        scope: Scope,
        *,
        member_id: str,
        task_id: str,
        community_id: str,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[HoursRecord]:
        def shown(r: HoursRecord) -> bool:
            t = self.tasks[r.task_id]
            return (
                scope.admits(t.community_id, t.street_id, t.street_wide)
                and (not member_id or r.member_id == member_id)
                and (not task_id or r.task_id == task_id)
                and (not community_id or r.community_id == community_id)
                and (
                    after is None
                    or (r.created_at, uuid.UUID(r.id)) < (after[0], uuid.UUID(after[1]))
                )
            )

        found = sorted(
            filter(shown, self.hours_records.values()),
            key=lambda r: (r.created_at, uuid.UUID(r.id)),
            reverse=True,
        )
        return found[:limit]

    def attendance_state(self) -> list[Any]:
        return [self.attendance, self.hours_records]

    async def member_attendance(self, member_id: str) -> tuple[list[Attendance], list[HoursRecord]]:
        seen = sorted(
            (a for a in self.attendance.values() if a.member_id == member_id),
            key=lambda a: (a.at, a.task_id, a.purpose.value),
        )
        records = sorted(
            (r for r in self.hours_records.values() if r.member_id == member_id),
            key=lambda r: (r.created_at, r.id),
        )
        return seen, records
