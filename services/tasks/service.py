"""The task service's use cases: who may act, the rules, and the store's transactions.

Time comes from a clock passed in, so that tests (and a simulated month) can move it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from services.common import metrics
from services.common.auth import Principal, Role
from services.common.checks import Violations, check_request_id
from services.common.clock import Clock, system_clock
from services.common.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.common.settings import TasksSettings
from services.tasks import domain
from services.tasks.domain import (
    Assignment,
    AssignmentState,
    Outcome,
    RoleDraft,
    Task,
    VolunteerRole,
    Wish,
    WishDraft,
)
from services.tasks.domain.errors import CLAIM_REFUSED, Refusal, hidden
from services.tasks.month import MemberMonth
from services.tasks.store import TaskStorePort

log = logging.getLogger(__name__)


def request_hash(draft: WishDraft | RoleDraft) -> str:
    """A fingerprint of what a request asked for, as sent (before time-dependent cleaning)."""
    return hashlib.sha256(repr(draft).encode()).hexdigest()


def _same_request(previous: str, fingerprint: str) -> None:
    if previous != fingerprint:
        raise domain.request_id_reused()


class Tasks(MemberMonth):
    def __init__(
        self, store: TaskStorePort, settings: TasksSettings, clock: Clock = system_clock
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        for refusal in Refusal:  # every reason a series at 0, so that rates and alerts see it
            metrics.CLAIMS_REFUSED.labels(refusal.value)

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.settings.role_horizon_days)

    @property
    def reach(self) -> timedelta:
        """How far ahead a wish's or a one-off event's window may lie."""
        return timedelta(days=self.settings.posting_horizon_days)

    # -- posting -------------------------------------------------------------------------------

    @staticmethod
    def _may_post(principal: Principal) -> None:
        # Before any validation: a caller who may not post anywhere learns nothing from the
        # answer, not even which of their fields would have been wrong.
        if principal.role is Role.MEMBER:
            raise PermissionDenied("members do not post wishes or roles")

    @staticmethod
    def _may_manage(principal: Principal, what: str = "task") -> None:
        # Members never manage: refused before validation, with the answer an id outside their
        # scope gets, whether or not it exists.
        if principal.role is Role.MEMBER:
            raise hidden(what)

    async def _place(self, principal: Principal, community_id: str, prefix: str) -> str:
        """The community's street, once the caller may post there."""
        async with self.store.transaction() as conn:
            street = await self.store.street_of(conn, community_id) if community_id else None
        if street is None:
            if (
                community_id
                and not principal.is_everywhere
                and community_id not in principal.community_ids
            ):
                # A street administrator (or staff) learns no more of a community outside their
                # scope from a missing one than from a foreign one.
                raise PermissionDenied(f"community {community_id!r} is outside your scope")
            raise InvalidArgument(
                FieldViolation(f"{prefix}community_id", f"unknown community {community_id!r}")
            )
        if not domain.may_manage_task(principal, community_id, street):
            raise PermissionDenied(f"community {community_id!r} is outside your scope")
        return street

    async def post_wish(
        self, principal: Principal, request_id: str, draft: WishDraft
    ) -> tuple[Wish, Task]:
        self._may_post(principal)
        v = Violations()
        request_id = check_request_id(v, request_id)
        v.raise_if_any()
        fingerprint = request_hash(draft)
        found = await self.store.find_wish(principal.subject, request_id)
        if found is None:
            draft = domain.validate_wish(draft, self.clock(), self.settings.bounds, self.reach)
            street = await self._place(principal, draft.community_id, "wish.")
            found = await self.store.post_wish(
                request_id, fingerprint, draft, street, principal, self.clock()
            )
        # On every path, a concurrent first call's included: one request_id, one request.
        wish, task, previous = found
        _same_request(previous, fingerprint)
        return wish, task

    async def create_role(
        self, principal: Principal, request_id: str, draft: RoleDraft
    ) -> tuple[VolunteerRole, int]:
        self._may_post(principal)
        v = Violations()
        request_id = check_request_id(v, request_id)
        v.raise_if_any()
        fingerprint = request_hash(draft)
        found = await self.store.find_role(principal.subject, request_id)
        if found is None:
            draft = domain.validate_role(draft, self.clock(), self.settings.bounds, self.reach)
            street = await self._place(principal, draft.community_id, "role.")
            if draft.unit_id and not await self.store.unit_exists(draft.unit_id):
                raise InvalidArgument(
                    FieldViolation("role.unit_id", "is not a unit known to the registry")
                )
            found = await self.store.create_role(
                request_id, fingerprint, draft, street, principal, self.clock(), self.horizon
            )
        # On every path, a concurrent first call's included; a repeat answers what it did.
        role, generated, previous = found
        _same_request(previous, fingerprint)
        return role, generated

    async def end_role(
        self, principal: Principal, role_id: str, reason: str
    ) -> tuple[VolunteerRole, int]:
        self._may_manage(principal, "role")
        reason = domain.check_reason(reason)
        found = await self.store.get_role(role_id)
        if found is None:
            raise NotFound("role", role_id) if principal.is_everywhere else hidden("role")
        role, street = found
        if not domain.may_manage_task(principal, role.draft.community_id, street):
            raise hidden("role")
        return await self.store.end_role(role_id, reason, principal, self.clock())

    # -- staff changes -------------------------------------------------------------------------

    def _manage_check(self, principal: Principal) -> Callable[[Task], None]:
        def check(task: Task) -> None:
            if not domain.may_manage_task(principal, task.community_id, task.street_id):
                raise hidden()

        return check

    async def _existing_orhidden(
        self, principal: Principal, task_id: str, allowed: Callable[[Task], bool]
    ) -> None:
        # A task outside the caller's reach is refused here, as a missing one is, before any
        # transaction or lock: the two take the same steps, so their timing tells nothing. (The
        # check is made again under the lock, for a task that changes meanwhile.)
        task = await self.store.get_task(task_id)
        if task is None:
            raise NotFound("task", task_id) if principal.is_everywhere else hidden()
        if not allowed(task):
            raise hidden()

    def _manages(self, principal: Principal) -> Callable[[Task], bool]:
        return lambda task: domain.may_manage_task(principal, task.community_id, task.street_id)

    async def cancel_task(self, principal: Principal, task_id: str, reason: str) -> Task:
        self._may_manage(principal)
        reason = domain.check_reason(reason, required=True)
        await self._existing_orhidden(principal, task_id, self._manages(principal))
        return await self.store.cancel_task(
            task_id, reason, principal, self._manage_check(principal), self.clock()
        )

    async def complete_task(
        self,
        principal: Principal,
        task_id: str,
        outcomes: tuple[Outcome, ...],
        score: int,
        comment: str,
    ) -> tuple[Task, list[Assignment]]:
        self._may_manage(principal)
        await self._existing_orhidden(principal, task_id, self._manages(principal))
        return await self.store.complete_task(
            task_id,
            outcomes,
            score,
            comment,
            principal,
            self.clock(),
            self._manage_check(principal),
        )

    # -- members' changes ----------------------------------------------------------------------

    def _acting_member(self, principal: Principal, member_id: str) -> str:
        if principal.role is Role.MEMBER:
            if member_id and member_id != principal.subject:
                raise PermissionDenied("members act only as themselves")
            return principal.subject
        if principal.role is not Role.SERVICE:
            raise PermissionDenied("only a member (or the app's backend service) claims a place")
        if not member_id:
            raise InvalidArgument(FieldViolation("member_id", "is required"))
        return member_id

    async def claim(
        self, principal: Principal, task_id: str, member_id: str
    ) -> tuple[Assignment, Task]:
        member_id = self._acting_member(principal, member_id)
        member = await self.store.member_view(None, member_id)

        def sees(task: Task) -> bool:
            return principal.role is not Role.MEMBER or domain.may_see_task(
                principal, member, task.community_id, task.street_id, task.street_wide
            )

        await self._existing_orhidden(principal, task_id, sees)

        def check(task: Task) -> None:
            if not sees(task):
                raise hidden()

        try:
            return await self.store.claim(task_id, member_id, principal, self.clock(), check)
        except FailedPrecondition as e:
            if e.reason == CLAIM_REFUSED:  # counted by refusal: full, conflict, out of scope...
                metrics.CLAIMS_REFUSED.labels(e.metadata.get("refusal", "")).inc()
            raise

    async def _answer(
        self, principal: Principal, assignment_id: str, target: AssignmentState, reason: str = ""
    ) -> Assignment:
        # Refused before the id is looked up: staff learn nothing of which ids exist.
        if principal.role not in (Role.MEMBER, Role.SERVICE):
            raise PermissionDenied("members answer for themselves")

        def check(a: Assignment, _task: Task) -> None:
            if principal.role is Role.MEMBER and a.member_id != principal.subject:
                raise hidden("assignment")

        found = await self.store.get_assignment(assignment_id)
        if found is None:
            raise (
                NotFound("assignment", assignment_id)
                if principal.role is Role.SERVICE
                else hidden("assignment")
            )
        # Another member's assignment is refused as a missing one is, before any lock is taken.
        if principal.role is Role.MEMBER and found.member_id != principal.subject:
            raise hidden("assignment")
        assignment, _ = await self.store.change_assignment(
            assignment_id, target, principal, self.clock(), check, reason
        )
        return assignment

    async def accept(self, principal: Principal, assignment_id: str) -> Assignment:
        return await self._answer(principal, assignment_id, AssignmentState.ACCEPTED)

    async def decline(self, principal: Principal, assignment_id: str, reason: str) -> Assignment:
        return await self._answer(
            principal, assignment_id, AssignmentState.DECLINED, domain.check_reason(reason)
        )

    async def withdraw(self, principal: Principal, assignment_id: str, reason: str) -> Assignment:
        return await self._answer(
            principal, assignment_id, AssignmentState.WITHDRAWN, domain.check_reason(reason)
        )

    # -- time passing --------------------------------------------------------------------------

    async def sweep(self, now: datetime | None = None) -> dict[str, int]:
        """Generate role occurrences, expire unanswered proposals, close tasks whose time came."""
        now = now or self.clock()
        counts = {
            "generated": await self.store.generate_due(now, self.horizon),
            "proposals_expired": await self.store.expire_proposals(now),
            "tasks_closed": await self.store.close_due_tasks(now),
        }
        if any(counts.values()):
            log.info("sweep %s", " ".join(f"{k}={v}" for k, v in counts.items()))
        return counts
