"""The use cases of the member's month: standby lists, confirm or release, staff's changes to a
task, the reminder loop, and a member's calendar. Part of the service layer (`service.Tasks`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from services.common.auth import Principal, Role
from services.common.checks import Violations
from services.common.clock import Clock
from services.common.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied
from services.common.settings import TasksSettings
from services.tasks import calendar, convert, domain
from services.tasks.domain import (
    Assignment,
    Change,
    NoAnswerPolicy,
    StandbyEntry,
    Task,
)
from services.tasks.domain import confirmation as confirming
from services.tasks.domain.errors import hidden
from services.tasks.domain.update import TaskPatch, check_mask, update_task
from services.tasks.queries import scope_for
from services.tasks.store import TaskStorePort

log = logging.getLogger(__name__)


class MemberMonth:
    """Mixed into `Tasks`, whose store, settings, clock and access helpers it uses."""

    store: TaskStorePort
    settings: TasksSettings
    clock: Clock

    # Defined by `Tasks`.
    def _acting_member(self, principal: Principal, member_id: str) -> str:
        raise NotImplementedError

    async def _existing_orhidden(
        self, principal: Principal, task_id: str, allowed: Callable[[Task], bool]
    ) -> None:
        raise NotImplementedError

    def _manages(self, principal: Principal) -> Callable[[Task], bool]:
        raise NotImplementedError

    def _manage_check(self, principal: Principal) -> Callable[[Task], None]:
        raise NotImplementedError

    @staticmethod
    def _may_manage(principal: Principal, what: str = "task") -> None:
        raise NotImplementedError

    # -- standby ---------------------------------------------------------------------------------

    async def _seen_by(self, principal: Principal, member_id: str) -> Callable[[Task], bool]:
        member = await self.store.member_view(None, member_id)

        def sees(task: Task) -> bool:
            return principal.role is not Role.MEMBER or domain.may_see_task(
                principal, member, task.community_id, task.street_id, task.street_wide
            )

        return sees

    async def join_standby(
        self, principal: Principal, task_id: str, member_id: str
    ) -> StandbyEntry:
        member_id = self._acting_member(principal, member_id)
        sees = await self._seen_by(principal, member_id)
        await self._existing_orhidden(principal, task_id, sees)

        def check(task: Task) -> None:
            if not sees(task):
                raise hidden()

        return await self.store.join_standby(task_id, member_id, principal, self.clock(), check)

    async def leave_standby(self, principal: Principal, task_id: str, member_id: str) -> bool:
        member_id = self._acting_member(principal, member_id)
        waiting = bool(await self.store.list_standby(task_id, member_id))
        sees = await self._seen_by(principal, member_id)
        # A member on the list may leave it whether or not they still see the task; anyone else
        # learns no more of a task out of sight than of a missing one.
        await self._existing_orhidden(principal, task_id, lambda t: waiting or sees(t))
        return await self.store.leave_standby(task_id, member_id, principal, self.clock())

    async def list_standby(self, principal: Principal, task_id: str) -> list[StandbyEntry]:
        if principal.role is Role.MEMBER:
            return await self.store.list_standby(task_id, principal.subject)
        if principal.role is Role.SERVICE:
            raise PermissionDenied("standby lists are read by members and staff")
        if not task_id:
            # Every list on the tasks of the caller's scope.
            return await self.store.list_standby("", "", scope_for(principal, None, ""))
        await self._existing_orhidden(principal, task_id, self._manages(principal))
        return await self.store.list_standby(task_id, "")

    # -- confirm or release ----------------------------------------------------------------------

    async def _own(
        self,
        principal: Principal,
        assignment_id: str,
        rule: Callable[[Task, Assignment, datetime], Change],
    ) -> Assignment:
        # As for answering a proposal: refused before the id is looked up, and another member's
        # assignment answered as a missing one is.
        if principal.role not in (Role.MEMBER, Role.SERVICE):
            raise PermissionDenied("members answer for themselves")
        found = await self.store.get_assignment(assignment_id)
        mine = found is not None and (
            principal.role is Role.SERVICE or found.member_id == principal.subject
        )
        if not mine:
            if principal.role is Role.SERVICE:
                raise NotFound("assignment", assignment_id)
            raise hidden("assignment")
        now = self.clock()

        def apply(task: Task, a: Assignment) -> Change:
            if principal.role is Role.MEMBER and a.member_id != principal.subject:
                raise hidden("assignment")
            return rule(task, a, now)

        return await self.store.update_assignment(assignment_id, principal, now, apply)

    async def confirm(self, principal: Principal, assignment_id: str) -> Assignment:
        return await self._own(principal, assignment_id, confirming.confirm)

    async def release(self, principal: Principal, assignment_id: str) -> Assignment:
        return await self._own(principal, assignment_id, confirming.release)

    # -- staff's changes -------------------------------------------------------------------------

    async def update_task(
        self,
        principal: Principal,
        task_id: str,
        patch: TaskPatch,
        paths: list[str],
        reason: str,
    ) -> Task:
        self._may_manage(principal)
        v = Violations()
        mask = check_mask(v, paths)
        v.raise_if_any()
        reason = domain.check_reason(reason)
        await self._existing_orhidden(principal, task_id, self._manages(principal))
        check = self._manage_check(principal)
        now = self.clock()
        reach = timedelta(days=self.settings.posting_horizon_days)

        def apply(task: Task) -> Change:
            check(task)
            return update_task(task, patch, mask, reason, now, self.settings.bounds, reach)

        return await self.store.update_task(task_id, principal, now, apply)

    # -- the reminder loop -----------------------------------------------------------------------

    async def remind(self, now: datetime | None = None) -> dict[str, int]:
        """Ask accepted places to confirm, apply the policy to unanswered ones, and tell staff
        of tasks close to their start with places still empty."""
        now = now or self.clock()
        s = self.settings
        asked, overdue = await self.store.confirmations_due(
            now,
            timedelta(hours=s.confirm_before_h),
            timedelta(hours=s.answer_within_h),
            NoAnswerPolicy(s.no_answer_policy),
        )
        empty = await self.store.alert_empty_places(now, timedelta(hours=s.empty_alert_horizon_h))
        counts = {"confirmations_requested": asked, "confirmations_overdue": overdue}
        counts["places_left_empty"] = empty
        if any(counts.values()):
            log.info("reminders %s", " ".join(f"{k}={v}" for k, v in counts.items()))
        return counts

    # -- the calendar ----------------------------------------------------------------------------

    async def member_calendar(self, principal: Principal, member_id: str) -> str:
        if principal.role is Role.MEMBER:
            if member_id and member_id != principal.subject:
                raise PermissionDenied("a member reads only their own calendar")
            member_id = principal.subject
        elif principal.role is not Role.SERVICE:
            raise PermissionDenied("a calendar is the member's own")
        elif not member_id:
            raise InvalidArgument(FieldViolation("member_id", "is required"))
        now = self.clock()
        since = now - timedelta(days=self.settings.calendar_keep_days)
        entries = await self.store.calendar(member_id, since)
        held = {
            a.task_id for a, _ in entries if a.state.value in ("accepted", "completed", "no_show")
        }
        # Each task as GetTask shows it to this member: the address only of places they hold.
        shown = [(a, convert.task_answer(t, private=t.id in held)) for a, t in entries]
        return calendar.member_calendar(shown, now)
