"""The interface of the task service's store, which the PostgreSQL store and the in-memory store
both implement (and the contract suite checks alike)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

from services.common.auth import Principal
from services.common.values import Beneficiary, LatLng
from services.tasks.domain import (
    Assignment,
    AssignmentState,
    Change,
    Feedback,
    MemberRecord,
    MemberView,
    NoAnswerPolicy,
    Outcome,
    RoleDraft,
    StandbyEntry,
    Task,
    TaskStatus,
    VolunteerRole,
    Wish,
    WishDraft,
)
from services.tasks.store.attendance_port import AttendanceStorePort
from services.tasks.store.scope import Scope

# A change's caller-given check, run under the lock: it raises to refuse (a task gone out of
# the caller's reach meanwhile).
TaskCheck = Callable[[Task], None]
AssignmentCheck = Callable[[Assignment, Task], None]


class TaskStorePort(AttendanceStorePort, Protocol):
    """What the use cases and event handlers ask of the store. `conn` is the store's own
    transaction handle, from `transaction()` (or the event consumer's)."""

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...

    # -- the read model ------------------------------------------------------------------------
    async def apply_community(
        self, conn: Any, community_id: str, street_id: str, station: LatLng
    ) -> None: ...
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
    ) -> None: ...
    async def apply_unit(self, conn: Any, unit_id: str, community_id: str) -> None: ...
    async def unit_exists(self, unit_id: str) -> bool: ...
    async def member_known(self, member_id: str) -> bool: ...
    async def release_places(self, conn: Any, member_id: str) -> int: ...
    async def street_of(self, conn: Any, community_id: str) -> str | None: ...
    async def member_view(self, conn: Any, member_id: str) -> MemberView | None: ...

    # -- posting -------------------------------------------------------------------------------
    async def find_wish(
        self, created_by: str, request_id: str
    ) -> tuple[Wish, Task, str] | None: ...
    async def post_wish(
        self,
        request_id: str,
        request_hash: str,
        draft: WishDraft,
        street_id: str,
        actor: Principal,
        now: datetime,
    ) -> tuple[Wish, Task, str]: ...
    async def find_role(
        self, created_by: str, request_id: str
    ) -> tuple[VolunteerRole, int, str] | None: ...
    async def create_role(
        self,
        request_id: str,
        request_hash: str,
        draft: RoleDraft,
        street_id: str,
        actor: Principal,
        now: datetime,
        horizon: timedelta,
    ) -> tuple[VolunteerRole, int, str]: ...
    async def generate_due(self, now: datetime, horizon: timedelta) -> int: ...
    async def end_role(
        self, role_id: str, reason: str, actor: Principal, now: datetime
    ) -> tuple[VolunteerRole, int]: ...

    # -- places --------------------------------------------------------------------------------
    async def claim(
        self, task_id: str, member_id: str, actor: Principal, now: datetime, check: TaskCheck
    ) -> tuple[Assignment, Task]: ...
    async def change_assignment(
        self,
        assignment_id: str,
        target: AssignmentState,
        actor: Principal,
        now: datetime,
        check: AssignmentCheck,
        reason: str = "",
    ) -> tuple[Assignment, Task]: ...
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
    ) -> str | None: ...
    async def cancel_task(
        self, task_id: str, reason: str, actor: Principal, check: TaskCheck, now: datetime
    ) -> Task: ...
    async def complete_task(
        self,
        task_id: str,
        outcomes: tuple[Outcome, ...],
        score: int,
        comment: str,
        actor: Principal,
        now: datetime,
        check: TaskCheck,
    ) -> tuple[Task, list[Assignment]]: ...
    async def expire_proposals(self, now: datetime, batch: int = 500) -> int: ...
    async def close_due_tasks(self, now: datetime, batch: int = 500) -> int: ...

    # -- the member's month: standby, confirm or release, staff's changes, the calendar --------
    async def join_standby(
        self, task_id: str, member_id: str, actor: Principal, now: datetime, check: TaskCheck
    ) -> StandbyEntry: ...
    async def leave_standby(
        self, task_id: str, member_id: str, actor: Principal, now: datetime
    ) -> bool: ...
    async def list_standby(
        self, task_id: str, member_id: str, scope: Scope | None = None
    ) -> list[StandbyEntry]: ...
    async def update_assignment(
        self,
        assignment_id: str,
        actor: Principal,
        now: datetime,
        apply: Callable[[Task, Assignment], Change],
    ) -> Assignment: ...
    async def update_task(
        self, task_id: str, actor: Principal, now: datetime, apply: Callable[[Task], Change]
    ) -> Task: ...
    async def confirmations_due(
        self,
        now: datetime,
        before: timedelta,
        within: timedelta,
        default: NoAnswerPolicy,
        batch: int = 500,
    ) -> tuple[int, int]: ...
    async def alert_empty_places(
        self, now: datetime, horizon: timedelta, batch: int = 500
    ) -> int: ...
    async def calendar(self, member_id: str, since: datetime) -> list[tuple[Assignment, Task]]: ...

    # -- reads ---------------------------------------------------------------------------------
    async def get_task(self, task_id: str) -> Task | None: ...
    async def get_assignment(self, assignment_id: str) -> Assignment | None: ...
    async def get_role(self, role_id: str) -> tuple[VolunteerRole, str] | None: ...
    async def list_roles(
        self, community_ids: Sequence[str] | None, after: str | None, limit: int
    ) -> list[VolunteerRole]: ...
    async def list_tasks(
        self,
        scope: Scope,
        *,
        community_id: str,
        statuses: Sequence[TaskStatus],
        beneficiary: Beneficiary | None,
        skill: str,
        start_after: datetime | None,
        start_before: datetime | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Task]: ...
    async def nearby(
        self,
        scope: Scope,
        near: LatLng,
        radius_m: float,
        limit: int,
        now: datetime,
        exact: bool,
    ) -> list[Task]: ...
    async def list_assignments(
        self,
        *,
        task_id: str,
        member_id: str,
        states: Sequence[AssignmentState],
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Assignment]: ...
    async def held_tasks(self, member_id: str, task_ids: Sequence[str]) -> set[str]: ...
    async def member_record(self, member_id: str, now: datetime) -> MemberRecord: ...

    # -- a member's export and erasure
    async def member_copy(self, member_id: str) -> dict[str, Any] | None:
        """The read model's row of the member (None: never heard of)."""
        ...

    async def feedback_on(self, task_ids: list[str]) -> dict[str, Feedback]: ...

    async def forget_member_text(self, conn: Any, member_id: str) -> None:
        """Empty the reasons the member gave, in their assignments and in kept events."""
        ...
