"""The part of the task service's store interface that keeps check-ins and hours records (both
stores implement it, as part of TaskStorePort)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from services.common.auth import Principal
from services.tasks.domain import Assignment, MemberView, Task
from services.tasks.domain.attendance import Attendance, Purpose
from services.tasks.domain.hours import HoursChange, HoursRecord, TaskHours
from services.tasks.store.scope import Scope

# A check-in's decision, run under the task's lock: the task, the member's latest assignment on
# it, and their check-in (for a check-out) in; the attendance to record out, or an error.
AttendanceDecision = Callable[[Task, Assignment | None, Attendance | None], Attendance]
HoursDecision = Callable[[TaskHours], HoursChange]


class AttendanceStorePort(Protocol):
    """Check-ins and hours records (kept in the task service's schema, beside the tasks)."""

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...
    async def get_task(self, task_id: str) -> Task | None: ...
    async def member_view(self, conn: Any, member_id: str) -> MemberView | None: ...
    async def record_attendance(
        self, task_id: str, member_id: str, purpose: Purpose, decide: AttendanceDecision
    ) -> Attendance:
        """The member's check-in (or check-out) at the task: the one recorded before, else the
        one `decide` makes, written."""
        ...

    async def task_hours(self, task_id: str) -> TaskHours: ...
    async def change_hours(
        self, task_id: str, decide: HoursDecision, actor: Principal
    ) -> HoursChange:
        """Load the task's hours under its lock, apply `decide`, write its records and events."""
        ...

    async def get_hours_record(self, record_id: str) -> HoursRecord | None: ...
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
        """Newest first, in the scope (the task's community and street)."""
        ...

    async def member_attendance(self, member_id: str) -> tuple[list[Attendance], list[HoursRecord]]:
        """Every check-in and hours record of the member (their export)."""
        ...
