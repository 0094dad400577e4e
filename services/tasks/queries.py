"""The task service's reads: who may see which task, role, assignment and member record, and how
much of it. The decisions are plain functions of what the caller is and what the store holds."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from services.common.auth import Principal, Role
from services.common.checks import Violations
from services.common.clock import Clock, system_clock
from services.common.erasure import require_export_or_erase
from services.common.errors import (
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.common.settings import Bounds, TasksSettings
from services.common.values import LatLng
from services.tasks import domain
from services.tasks.domain import (
    Assignment,
    AssignmentState,
    Beneficiary,
    MemberRecord,
    MemberView,
    Task,
    TaskStatus,
    VolunteerRole,
)
from services.tasks.domain.errors import hidden, missing
from services.tasks.domain.export import MemberExport
from services.tasks.store import Scope, TaskStorePort

NEARBY_RADIUS_M = 3000
NEARBY_LIMIT = 20
EXPORT_PAGE = 500


def community_outside(community_id: str) -> PermissionDenied:
    return PermissionDenied(f"community {community_id!r} is outside your scope")


def scope_for(
    principal: Principal,
    member: MemberView | None,
    community_id: str,
    community_street: str | None = None,
) -> Scope | None:
    """What the caller may list (narrowed to `community_id` when given); None when a member has
    no community yet. `member` is the calling member's view; `community_street` the street of
    `community_id`, which only a street administrator's answer depends on."""
    if principal.role is Role.MEMBER:
        if member is None or not member.reported_in or not member.community_id:
            return None
        if community_id and community_id != member.community_id:
            raise community_outside(community_id)
        return Scope(member_community=member.community_id, member_street=member.street_id or "")
    if principal.is_everywhere:
        return Scope()
    if principal.role is Role.COMMUNITY_STAFF:
        if community_id and community_id not in principal.community_ids:
            raise community_outside(community_id)
        return Scope(community_ids=sorted(principal.community_ids))
    if community_id and community_street not in principal.street_ids:
        raise community_outside(community_id)
    return Scope(street_ids=sorted(principal.street_ids))


def role_communities(scope: Scope, community_id: str) -> Sequence[str] | None:
    """The communities whose roles a list shows (None: every one)."""
    ids: Sequence[str] | None = [community_id] if community_id else scope.community_ids
    if ids is None and scope.member_community is not None:
        ids = [scope.member_community]
    if ids is None and scope.street_ids is not None:
        raise InvalidArgument(
            FieldViolation("community_id", "street administrators list the roles of one community")
        )
    return ids


def may_see_role(
    principal: Principal, member: MemberView | None, role: VolunteerRole, street: str
) -> bool:
    if principal.role is Role.MEMBER:
        return domain.may_see_task(
            principal, member, role.draft.community_id, street, role.draft.street_wide
        )
    return principal.holds(role.draft.community_id, street)


def check_member_id(member_id: str) -> None:
    try:
        uuid.UUID(member_id)
    except ValueError:
        raise InvalidArgument(FieldViolation("member_id", "is not a member id")) from None


def check_member_scope(principal: Principal, member_id: str, member: MemberView | None) -> None:
    """Whether the caller may see a member's assignments and record; `member` is the member's
    view, needed only for staff and street administrators (see `needs_member_view`)."""
    if principal.role is Role.MEMBER:
        if principal.subject != member_id:
            raise PermissionDenied("members see only their own record")
        return
    if principal.is_everywhere:
        return
    if member is None or not principal.holds(member.community_id, member.street_id):
        raise PermissionDenied("this member is outside your scope")


def needs_member_view(principal: Principal) -> bool:
    return principal.role is not Role.MEMBER and not principal.is_everywhere


def check_nearby(near: LatLng | None, radius_m: int, limit: int, bounds: Bounds) -> LatLng:
    v = Violations()
    domain.check_location(v, "near", near, bounds)
    if not 0 <= radius_m <= 20_000:
        v.add("radius_m", f"must be 0 to 20000 metres (got {radius_m})")
    if not 0 <= limit <= 200:
        v.add("limit", f"must be 0 to 200 (got {limit})")
    v.raise_if_any()
    assert near is not None
    return near


class TaskQueries:
    """The read use cases, over the store's read methods."""

    def __init__(
        self, store: TaskStorePort, settings: TasksSettings, clock: Clock = system_clock
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock

    async def _member(self, principal: Principal) -> MemberView | None:
        if principal.role is not Role.MEMBER:
            return None
        return await self.store.member_view(None, principal.subject)

    async def _private(self, principal: Principal, tasks: Sequence[Task]) -> list[bool]:
        """For each task, whether the caller may see its exact place and address."""
        if principal.role is Role.MEMBER:
            held = await self.store.held_tasks(principal.subject, [t.id for t in tasks])
            return [t.id in held for t in tasks]
        return [principal.holds(t.community_id, t.street_id) for t in tasks]

    async def _scope(self, principal: Principal, community_id: str) -> Scope | None:
        member = await self._member(principal)
        street = None
        if principal.role is Role.STREET_ADMIN and community_id:
            async with self.store.transaction() as conn:
                street = await self.store.street_of(conn, community_id)
        return scope_for(principal, member, community_id, street)

    async def get_task(self, principal: Principal, task_id: str) -> tuple[Task, bool]:
        """The task and whether the caller may see its exact place and address."""
        # The caller's own standing first, whether or not the task exists: a foreign task and a
        # missing one take the same steps, so the time taken tells them no more than the answer.
        member = await self._member(principal)
        task = await self.store.get_task(task_id)
        if task is None:
            raise missing(principal, "task", task_id)
        if not domain.may_see_task(
            principal, member, task.community_id, task.street_id, task.street_wide
        ):
            raise hidden()
        return task, (await self._private(principal, [task]))[0]

    async def list_tasks(
        self,
        principal: Principal,
        *,
        community_id: str,
        statuses: Sequence[TaskStatus],
        beneficiary: Beneficiary | None,
        skill: str,
        start_after: datetime | None,
        start_before: datetime | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[tuple[Task, bool]]:
        if skill and skill not in domain.SKILL_CODES:
            raise InvalidArgument(FieldViolation("skill", f"unknown skill {domain.shown(skill)}"))
        scope = await self._scope(principal, community_id)
        if scope is None:
            return []
        tasks = await self.store.list_tasks(
            scope,
            community_id=community_id,
            statuses=statuses,
            beneficiary=beneficiary,
            skill=skill,
            start_after=start_after,
            start_before=start_before,
            after=after,
            limit=limit,
        )
        return list(zip(tasks, await self._private(principal, tasks), strict=True))

    async def nearby(
        self, principal: Principal, near: LatLng | None, radius_m: int, limit: int
    ) -> list[tuple[Task, bool]]:
        near = check_nearby(near, radius_m, limit, self.settings.bounds)
        scope = await self._scope(principal, "")
        if scope is None:
            return []
        tasks = await self.store.nearby(
            scope,
            near,
            radius_m or NEARBY_RADIUS_M,
            limit or NEARBY_LIMIT,
            self.clock(),
            # Members measure to a wish's rounded place: exact distances would locate a resident.
            exact=principal.role is not Role.MEMBER,
        )
        return list(zip(tasks, await self._private(principal, tasks), strict=True))

    async def get_role(self, principal: Principal, role_id: str) -> VolunteerRole:
        # The caller's own standing first, as for a task: foreign and missing take the same steps.
        member = await self._member(principal)
        found = await self.store.get_role(role_id)
        if found is None:
            raise missing(principal, "role", role_id)
        role, street = found
        if not may_see_role(principal, member, role, street):
            raise hidden("role")
        return role

    async def list_roles(
        self, principal: Principal, community_id: str, after: str | None, limit: int
    ) -> list[VolunteerRole]:
        scope = await self._scope(principal, community_id)
        if scope is None:
            return []
        return await self.store.list_roles(role_communities(scope, community_id), after, limit)

    async def list_assignments(
        self,
        principal: Principal,
        *,
        task_id: str,
        member_id: str,
        states: Sequence[AssignmentState],
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Assignment]:
        if bool(task_id) == bool(member_id):
            raise InvalidArgument(
                FieldViolation("task_id", "give exactly one of task_id and member_id")
            )
        if task_id:
            task, _ = await self.get_task(principal, task_id)
            # A member sees only their own assignments of a task.
            mine = principal.subject if principal.role is Role.MEMBER else ""
            return await self.store.list_assignments(
                task_id=task.id, member_id=mine, states=states, after=after, limit=limit
            )
        check_member_id(member_id)
        await self._require_member_scope(principal, member_id)
        return await self.store.list_assignments(
            task_id="", member_id=member_id, states=states, after=after, limit=limit
        )

    async def _require_member_scope(self, principal: Principal, member_id: str) -> None:
        member = None
        if needs_member_view(principal):
            member = await self.store.member_view(None, member_id)
        check_member_scope(principal, member_id, member)

    async def member_record(self, principal: Principal, member_id: str) -> MemberRecord:
        check_member_id(member_id)
        await self._require_member_scope(principal, member_id)
        # Only callers who see everywhere (or the member themselves) get this far for a member
        # the service does not know: for them, "not found" reveals nothing.
        if not await self.store.member_known(member_id):
            raise NotFound("member", member_id)
        return await self.store.member_record(member_id, self.clock())

    async def export_member(self, principal: Principal, member_id: str) -> MemberExport:
        """Everything the service holds about the member, for the member or an administrator."""
        check_member_id(member_id)
        require_export_or_erase(principal, member_id, "exported")
        assignments: list[Assignment] = []
        after: tuple[datetime, str] | None = None
        while True:
            page = await self.store.list_assignments(
                task_id="", member_id=member_id, states=(), after=after, limit=EXPORT_PAGE
            )
            assignments += page
            if len(page) < EXPORT_PAGE:
                break
            after = (page[-1].created_at, page[-1].id)
        tasks = {}
        for task_id in sorted({a.task_id for a in assignments}):
            task = await self.store.get_task(task_id)
            if task is not None:
                tasks[task_id] = task
        done = sorted({a.task_id for a in assignments if a.state is AssignmentState.COMPLETED})
        seen, hours = await self.store.member_attendance(member_id)
        return MemberExport(
            copy=await self.store.member_copy(member_id),
            record=await self.store.member_record(member_id, self.clock()),
            assignments=assignments,
            tasks=tasks,
            feedback=await self.store.feedback_on(done),
            attendance=seen,
            hours=hours,
        )
