"""The use cases of check-in and hours: who may get a task's code, check in, ask for, confirm,
correct and see hours; then the store's transaction and the domain's rules."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from services.common import metrics
from services.common.auth import Principal, Role
from services.common.clock import Clock, system_clock
from services.common.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
)
from services.common.settings import TasksSettings
from services.common.values import LatLng
from services.tasks.domain import Assignment, Task, hours, may_manage_task, may_see_task
from services.tasks.domain import attendance as rules
from services.tasks.domain.attendance import Attendance, AttendanceRules, CheckInCode, Purpose
from services.tasks.domain.errors import hidden, missing
from services.tasks.domain.hours import Decision, HoursRecord, TaskHours
from services.tasks.store import Scope
from services.tasks.store.attendance_port import AttendanceStorePort


def rules_of(settings: TasksSettings) -> AttendanceRules:
    s = settings.attendance
    return AttendanceRules(
        step_s=s.step_s,
        check_in_before=timedelta(minutes=s.check_in_before_min),
        check_in_after=timedelta(minutes=s.check_in_after_min),
        check_out_after_end=timedelta(minutes=s.check_out_after_end_min),
        geofence_m=s.geofence_m,
        hard_to_fill_horizon=timedelta(hours=settings.empty_alert_horizon_h),
    )


def acting_member(principal: Principal, member_id: str) -> str:
    """The member a call is for: members act as themselves; the app's backend names them."""
    if principal.role is Role.MEMBER:
        if member_id and member_id != principal.subject:
            raise PermissionDenied("members act only as themselves")
        return principal.subject
    if principal.role is not Role.SERVICE:
        raise PermissionDenied("only a member (or the app's backend service) does this")
    if not member_id:
        raise InvalidArgument(FieldViolation("member_id", "is required"))
    return member_id


class AttendanceCases:
    def __init__(
        self, store: AttendanceStorePort, settings: TasksSettings, clock: Clock = system_clock
    ) -> None:
        self.store = store
        self.rules = rules_of(settings)
        self._key = settings.attendance.code_key.get_secret_value().encode()
        self.clock = clock

    # -- who may -------------------------------------------------------------------------------

    async def _managed(self, principal: Principal, task_id: str) -> Task:
        """The task, if the caller manages it; any other task answers as a missing one does."""
        if principal.role is Role.MEMBER:
            raise hidden()
        task = await self.store.get_task(task_id)
        if task is None:
            raise missing(principal, "task", task_id)
        if not may_manage_task(principal, task.community_id, task.street_id):
            raise hidden()
        return task

    def _still_managed(self, principal: Principal, task: Task) -> None:
        # Checked again under the task's lock, as the task service's other changes are.
        if not may_manage_task(principal, task.community_id, task.street_id):
            raise hidden()

    async def _seen(self, principal: Principal, task_id: str, member_id: str) -> Task:
        task = await self.store.get_task(task_id)
        if task is None:
            raise missing(principal, "task", task_id)
        if principal.role is Role.MEMBER:
            member = await self.store.member_view(None, member_id)
            if not may_see_task(
                principal, member, task.community_id, task.street_id, task.street_wide
            ):
                raise hidden()
        return task

    async def _managed_record(self, principal: Principal, record_id: str) -> HoursRecord:
        if principal.role is Role.MEMBER:
            raise hidden("hours record")
        found = await self.store.get_hours_record(record_id)
        if found is None:
            raise missing(principal, "hours record", record_id)
        if not may_manage_task(principal, found.community_id, found.street_id):
            raise hidden("hours record")
        return found

    # -- codes and check-in --------------------------------------------------------------------

    async def check_in_code(
        self, principal: Principal, task_id: str, purpose: Purpose
    ) -> tuple[CheckInCode, str]:
        """The task's current code and the text of its QR code."""
        task = await self._managed(principal, task_id)
        code = rules.current_code(self._key, task.id, purpose, self.clock(), self.rules.step_s)
        return code, rules.qr_text(task.id, purpose, code.code)

    async def check(
        self,
        principal: Principal,
        task_id: str,
        member_id: str,
        purpose: Purpose,
        code: str,
        location: LatLng | None,
    ) -> Attendance:
        member_id = acting_member(principal, member_id)
        await self._seen(principal, task_id, member_id)
        now = self.clock()
        current = rules.code_is_current(self._key, task_id, purpose, code, now, self.rules.step_s)

        def decide(
            task: Task, held: Assignment | None, checked_in: Attendance | None
        ) -> Attendance:
            return rules.check(
                task,
                member_id,
                purpose,
                held=held,
                checked_in=checked_in,
                code_current=current,
                location=location,
                now=now,
                rules=self.rules,
            )

        try:
            done = await self.store.record_attendance(task_id, member_id, purpose, decide)
        except FailedPrecondition as e:
            metrics.CHECK_INS.labels(purpose.value, e.reason).inc()
            raise
        metrics.CHECK_INS.labels(purpose.value, done.evidence.value).inc()
        return done

    # -- hours ---------------------------------------------------------------------------------

    async def proposals(self, principal: Principal, task_id: str) -> list[rules.HoursProposal]:
        await self._managed(principal, task_id)
        found = await self.store.task_hours(task_id)
        return list(found.proposals().values())

    async def confirm(
        self, principal: Principal, task_id: str, decisions: Sequence[Decision]
    ) -> list[HoursRecord]:
        await self._managed(principal, task_id)
        now, ids = self.clock(), [str(uuid.uuid4()) for _ in decisions]

        def decide(th: TaskHours) -> hours.HoursChange:
            self._still_managed(principal, th.task)
            return hours.confirm(
                th.task,
                decisions,
                completed=th.completed(),
                proposals=th.proposals(),
                current=th.current(),
                ids=ids,
                now=now,
                horizon=self.rules.hard_to_fill_horizon,
            )

        change = await self.store.change_hours(task_id, decide, principal)
        return list(change.answer)

    async def request(
        self, principal: Principal, task_id: str, member_id: str, minutes: int, reason: str
    ) -> HoursRecord:
        member_id = acting_member(principal, member_id)
        await self._seen(principal, task_id, member_id)
        now, record_id = self.clock(), str(uuid.uuid4())

        def decide(th: TaskHours) -> hours.HoursChange:
            return hours.request(
                th.task,
                member_id,
                minutes,
                reason,
                checked_in=th.checked_in(member_id),
                current=th.current().get(member_id),
                place=th.places.get(member_id),
                record_id=record_id,
                now=now,
                horizon=self.rules.hard_to_fill_horizon,
            )

        change = await self.store.change_hours(task_id, decide, principal)
        return change.answer[0]

    async def approve(self, principal: Principal, record_id: str) -> HoursRecord:
        found = await self._managed_record(principal, record_id)
        now = self.clock()

        def decide(th: TaskHours) -> hours.HoursChange:
            self._still_managed(principal, th.task)
            return hours.approve(th.record(record_id), now)

        return (await self.store.change_hours(found.task_id, decide, principal)).answer[0]

    async def refuse(self, principal: Principal, record_id: str, reason: str) -> HoursRecord:
        found = await self._managed_record(principal, record_id)
        now = self.clock()

        def decide(th: TaskHours) -> hours.HoursChange:
            self._still_managed(principal, th.task)
            return hours.refuse(th.record(record_id), reason, now)

        return (await self.store.change_hours(found.task_id, decide, principal)).answer[0]

    async def correct(
        self, principal: Principal, record_id: str, minutes: int, reason: str
    ) -> HoursRecord:
        found = await self._managed_record(principal, record_id)
        now, new_id = self.clock(), str(uuid.uuid4())

        def decide(th: TaskHours) -> hours.HoursChange:
            self._still_managed(principal, th.task)
            return hours.correct(th.record(record_id), minutes, reason, record_id=new_id, now=now)

        return (await self.store.change_hours(found.task_id, decide, principal)).answer[0]

    async def list_records(
        self,
        principal: Principal,
        *,
        member_id: str,
        task_id: str,
        community_id: str,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[HoursRecord]:
        """A member's own records; staff's and administrators' within their scope."""
        if principal.role is Role.MEMBER:
            if member_id and member_id != principal.subject:
                raise PermissionDenied("members see only their own hours")
            scope, member_id = Scope(), principal.subject
        elif principal.is_everywhere:
            scope = Scope()
        elif principal.role is Role.COMMUNITY_STAFF:
            scope = Scope(community_ids=sorted(principal.community_ids))
        else:
            scope = Scope(street_ids=sorted(principal.street_ids))
        return await self.store.list_hours_records(
            scope,
            member_id=member_id,
            task_id=task_id,
            community_id=community_id,
            after=after,
            limit=limit,
        )
