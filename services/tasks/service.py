"""The task service's use cases: who may act, the rules, and the store's transactions.

Time comes from a clock passed in, so that tests (and a simulated month) can move it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import cast

import asyncpg
from google.protobuf import descriptor_pool, message_factory

from linli.v1 import events_pb2, registry_pb2
from services.common.auth import Principal, Role
from services.common.checks import Violations, check_request_id
from services.common.clock import Clock, system_clock
from services.common.errors import (
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.common.protoconv import time_from_proto
from services.common.settings import TasksSettings
from services.common.values import LatLng
from services.tasks import domain
from services.tasks.domain import (
    Assignment,
    AssignmentState,
    Beneficiary,
    MemberRecord,
    MemberView,
    Outcome,
    RoleDraft,
    Task,
    TaskStatus,
    VolunteerRole,
    Wish,
    WishDraft,
)
from services.tasks.store import Scope, TaskStorePort

log = logging.getLogger(__name__)


def request_hash(draft: WishDraft | RoleDraft) -> str:
    """A fingerprint of what a request asked for, as sent (before time-dependent cleaning)."""
    return hashlib.sha256(repr(draft).encode()).hexdigest()


def _same_request(previous: str, fingerprint: str) -> None:
    if previous != fingerprint:
        raise domain.request_id_reused()


def _check_member_id(member_id: str) -> None:
    try:
        uuid.UUID(member_id)
    except ValueError:
        raise InvalidArgument(FieldViolation("member_id", "is not a member id")) from None


def _hidden(what: str = "task") -> PermissionDenied:
    # The same answer whether or not it exists: ids outside one's scope reveal nothing.
    return PermissionDenied(f"this {what} is outside your scope")


class Tasks:
    def __init__(
        self, store: TaskStorePort, settings: TasksSettings, clock: Clock = system_clock
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock

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
            raise _hidden(what)

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

    async def get_role(self, principal: Principal, role_id: str) -> VolunteerRole:
        # The caller's own standing first, as for a task: foreign and missing take the same steps.
        member = await self._member(principal)
        found = await self.store.get_role(role_id)
        if found is None:
            if principal.is_everywhere:
                raise NotFound("role", role_id)
            raise _hidden("role")
        role, street = found
        if principal.role is Role.MEMBER:
            visible = domain.may_see_task(
                principal, member, role.draft.community_id, street, role.draft.street_wide
            )
        else:
            visible = principal.holds(role.draft.community_id, street)
        if not visible:
            raise _hidden("role")
        return role

    async def list_roles(
        self, principal: Principal, community_id: str, after: str | None, limit: int
    ) -> list[VolunteerRole]:
        scope = await self._scope(principal, community_id)
        if scope is None:
            return []
        ids: Sequence[str] | None = [community_id] if community_id else scope.community_ids
        if ids is None and scope.member_community is not None:
            ids = [scope.member_community]
        if ids is None and scope.street_ids is not None:
            raise InvalidArgument(
                FieldViolation(
                    "community_id", "street administrators list the roles of one community"
                )
            )
        return await self.store.list_roles(ids, after, limit)

    async def end_role(
        self, principal: Principal, role_id: str, reason: str
    ) -> tuple[VolunteerRole, int]:
        self._may_manage(principal, "role")
        reason = domain.check_reason(reason)
        found = await self.store.get_role(role_id)
        if found is None:
            raise NotFound("role", role_id) if principal.is_everywhere else _hidden("role")
        role, street = found
        if not domain.may_manage_task(principal, role.draft.community_id, street):
            raise _hidden("role")
        return await self.store.end_role(role_id, reason, principal, self.clock())

    # -- reading -------------------------------------------------------------------------------

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

    async def get_task(self, principal: Principal, task_id: str) -> tuple[Task, bool]:
        """The task and whether the caller may see its exact place and address."""
        # The caller's own standing first, whether or not the task exists: a foreign task and a
        # missing one take the same steps, so the time taken tells them no more than the answer.
        member = await self._member(principal)
        task = await self.store.get_task(task_id)
        if task is None:
            if principal.is_everywhere:
                raise NotFound("task", task_id)
            raise _hidden()
        if not domain.may_see_task(
            principal, member, task.community_id, task.street_id, task.street_wide
        ):
            raise _hidden()
        return task, (await self._private(principal, [task]))[0]

    async def _scope(self, principal: Principal, community_id: str) -> Scope | None:
        """What the caller may list; None when a member has no community yet."""
        if principal.role is Role.MEMBER:
            member = await self._member(principal)
            if member is None or not member.reported_in or not member.community_id:
                return None
            if community_id and community_id != member.community_id:
                raise PermissionDenied(f"community {community_id!r} is outside your scope")
            return Scope(member_community=member.community_id, member_street=member.street_id or "")
        if principal.is_everywhere:
            return Scope()
        if principal.role is Role.COMMUNITY_STAFF:
            if community_id and community_id not in principal.community_ids:
                raise PermissionDenied(f"community {community_id!r} is outside your scope")
            return Scope(community_ids=sorted(principal.community_ids))
        if community_id:
            async with self.store.transaction() as conn:
                street = await self.store.street_of(conn, community_id)
            if street not in principal.street_ids:
                raise PermissionDenied(f"community {community_id!r} is outside your scope")
        return Scope(street_ids=sorted(principal.street_ids))

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
        v = Violations()
        domain.check_location(v, "near", near, self.settings.bounds)
        if not 0 <= radius_m <= 20_000:
            v.add("radius_m", f"must be 0 to 20000 metres (got {radius_m})")
        if not 0 <= limit <= 200:
            v.add("limit", f"must be 0 to 200 (got {limit})")
        v.raise_if_any()
        assert near is not None
        scope = await self._scope(principal, "")
        if scope is None:
            return []
        tasks = await self.store.nearby(
            scope,
            near,
            radius_m or 3000,
            limit or 20,
            self.clock(),
            exact=principal.role is not Role.MEMBER,
        )
        return list(zip(tasks, await self._private(principal, tasks), strict=True))

    # -- staff changes -------------------------------------------------------------------------

    def _manage_check(self, principal: Principal) -> Callable[[Task], None]:
        def check(task: Task) -> None:
            if not domain.may_manage_task(principal, task.community_id, task.street_id):
                raise _hidden()

        return check

    async def _existing_or_hidden(
        self, principal: Principal, task_id: str, allowed: Callable[[Task], bool]
    ) -> None:
        # A task outside the caller's reach is refused here, as a missing one is, before any
        # transaction or lock: the two take the same steps, so their timing tells nothing. (The
        # check is made again under the lock, for a task that changes meanwhile.)
        task = await self.store.get_task(task_id)
        if task is None:
            raise NotFound("task", task_id) if principal.is_everywhere else _hidden()
        if not allowed(task):
            raise _hidden()

    def _manages(self, principal: Principal) -> Callable[[Task], bool]:
        return lambda task: domain.may_manage_task(principal, task.community_id, task.street_id)

    async def cancel_task(self, principal: Principal, task_id: str, reason: str) -> Task:
        self._may_manage(principal)
        reason = domain.check_reason(reason, required=True)
        await self._existing_or_hidden(principal, task_id, self._manages(principal))
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
        await self._existing_or_hidden(principal, task_id, self._manages(principal))
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

        await self._existing_or_hidden(principal, task_id, sees)

        def check(task: Task) -> None:
            if not sees(task):
                raise _hidden()

        return await self.store.claim(task_id, member_id, principal, self.clock(), check)

    async def _answer(
        self, principal: Principal, assignment_id: str, target: AssignmentState, reason: str = ""
    ) -> Assignment:
        # Refused before the id is looked up: staff learn nothing of which ids exist.
        if principal.role not in (Role.MEMBER, Role.SERVICE):
            raise PermissionDenied("members answer for themselves")

        def check(a: Assignment, _task: Task) -> None:
            if principal.role is Role.MEMBER and a.member_id != principal.subject:
                raise _hidden("assignment")

        found = await self.store.get_assignment(assignment_id)
        if found is None:
            raise (
                NotFound("assignment", assignment_id)
                if principal.role is Role.SERVICE
                else _hidden("assignment")
            )
        # Another member's assignment is refused as a missing one is, before any lock is taken.
        if principal.role is Role.MEMBER and found.member_id != principal.subject:
            raise _hidden("assignment")
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
        _check_member_id(member_id)
        await self._require_member_scope(principal, member_id)
        return await self.store.list_assignments(
            task_id="", member_id=member_id, states=states, after=after, limit=limit
        )

    async def _require_member_scope(self, principal: Principal, member_id: str) -> None:
        if principal.role is Role.MEMBER:
            if principal.subject != member_id:
                raise PermissionDenied("members see only their own record")
            return
        if principal.is_everywhere:
            return
        member = await self.store.member_view(None, member_id)
        if member is None or not principal.holds(member.community_id, member.street_id):
            raise PermissionDenied("this member is outside your scope")

    async def member_record(self, principal: Principal, member_id: str) -> MemberRecord:
        _check_member_id(member_id)
        await self._require_member_scope(principal, member_id)
        # Only callers who see everywhere (or the member themselves) get this far for a member
        # the service does not know: for them, "not found" reveals nothing.
        if not await self.store.member_known(member_id):
            raise NotFound("member", member_id)
        return await self.store.member_record(member_id, self.clock())

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

    # -- events --------------------------------------------------------------------------------

    async def on_event(self, conn: asyncpg.Connection, env: events_pb2.EventEnvelope) -> None:
        """Apply one consumed event inside the consumer's transaction."""
        if env.payload.Is(events_pb2.UnitCreated.DESCRIPTOR):
            u = events_pb2.UnitCreated()
            env.payload.Unpack(u)
            await self.store.apply_unit(conn, u.unit.id, u.unit.community_id)
        elif env.payload.Is(events_pb2.CommunityCreated.DESCRIPTOR):
            c = events_pb2.CommunityCreated()
            env.payload.Unpack(c)
            await self.store.apply_community(
                conn,
                c.community.id,
                c.community.street_id,
                LatLng(c.community.station.latitude, c.community.station.longitude),
            )
        elif env.payload.Is(events_pb2.ProposalMade.DESCRIPTOR):
            p = events_pb2.ProposalMade()
            env.payload.Unpack(p)
            await self.store.propose(
                conn,
                p.match_run_id,
                p.task_id,
                p.member_id,
                None,
                self.clock(),
                timedelta(seconds=self.settings.proposal_ttl_s),
            )
        else:
            await self._apply_member(conn, env)

    async def _apply_member(self, conn: asyncpg.Connection, env: events_pb2.EventEnvelope) -> None:
        # Any registry event that carries the member whole (registered, updated, reported in,
        # deactivated, and any later kind such as a reactivation) is applied the same way: the
        # read model follows the member's latest snapshot.
        try:
            kind = descriptor_pool.Default().FindMessageTypeByName(env.payload.TypeName())
        except KeyError:
            return
        field = kind.fields_by_name.get("member")
        if field is None or field.message_type is not registry_pb2.Member.DESCRIPTOR:
            return
        payload = message_factory.GetMessageClass(kind)()
        env.payload.Unpack(payload)
        m = cast(registry_pb2.Member, getattr(payload, field.name))
        street = await self.store.street_of(conn, m.community_id) if m.community_id else None
        view = MemberView(
            m.id,
            m.community_id or None,
            street,
            m.status == registry_pb2.MEMBER_STATUS_ACTIVE,
            m.HasField("reported_in_time") and bool(m.community_id),
        )
        await self.store.apply_member(
            conn,
            view,
            skills=json.dumps([{"skill": s.skill, "level": s.level} for s in m.skills]),
            availability=json.dumps(
                [
                    {"day": w.day, "start": w.start_minute, "end": w.end_minute}
                    for w in m.availability
                ]
            ),
            hours_per_month=m.hours_per_month,
            home=LatLng(m.home.latitude, m.home.longitude) if m.HasField("home") else None,
            version=time_from_proto(m.update_time),
        )
        # A member holds only places they could take as they now stand: deactivated, or moved
        # to another community, they free the rest for others (announced as withdrawals).
        released = await self.store.release_places(conn, m.id)
        if released:
            log.info("released %d place(s) of member %s", released, m.id)
