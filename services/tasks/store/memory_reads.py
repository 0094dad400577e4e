"""The in-memory task store's reads: lists and searches as the PostgreSQL store's queries
answer them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.common.values import (
    Beneficiary,
    LatLng,
    distance_m,
    month_start,
    public_place,
    year_start,
)
from services.tasks.domain import (
    Assignment,
    AssignmentState,
    MemberRecord,
    Task,
    TaskKind,
    TaskStatus,
    VolunteerRole,
    Wish,
)
from services.tasks.domain.hours import HoursRecord, HoursState
from services.tasks.store.scope import Scope


@dataclass(frozen=True)
class Posted:
    """A wish or role as posted, with the request that posted it."""

    record: Wish | VolunteerRole
    request_hash: str
    generated: int = 0


class MemoryReads:
    communities: dict[str, tuple[str, LatLng]]
    roles: dict[tuple[str, str], Posted]
    tasks: dict[str, Task]
    assignments: dict[str, Assignment]
    hours_records: dict[str, HoursRecord]

    async def street_of(self, conn: Any, community_id: str) -> str | None:
        found = self.communities.get(community_id)
        return None if found is None else found[0]

    def _role(self, role_id: str) -> VolunteerRole:
        found = next(p.record for p in self.roles.values() if p.record.id == role_id)
        assert isinstance(found, VolunteerRole)
        return found

    async def get_task(self, task_id: str) -> Task | None:
        return self.tasks.get(task_id)

    async def get_assignment(self, assignment_id: str) -> Assignment | None:
        return self.assignments.get(assignment_id)

    async def get_role(self, role_id: str) -> tuple[VolunteerRole, str] | None:
        try:
            role = self._role(role_id)
        except StopIteration:
            return None
        return role, await self.street_of(None, role.draft.community_id) or ""

    async def list_roles(
        self, community_ids: Sequence[str] | None, after: str | None, limit: int
    ) -> list[VolunteerRole]:
        roles = sorted(
            (p.record for p in self.roles.values() if isinstance(p.record, VolunteerRole)),
            key=lambda r: r.id,
        )
        return [
            r
            for r in roles
            if (community_ids is None or r.draft.community_id in community_ids)
            and (after is None or r.id > after)
        ][:limit]

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
    ) -> list[Task]:
        def shown(t: Task) -> bool:
            start = t.window.start
            return (
                scope.admits(t.community_id, t.street_id, t.street_wide)
                and (not community_id or t.community_id == community_id)
                and (not statuses or t.status in statuses)
                and (beneficiary is None or t.beneficiary is beneficiary)
                and (not skill or any(s.skill == skill for s in t.skills))
                and (start_after is None or start >= start_after)
                and (start_before is None or start < start_before)
                and (after is None or (start, t.id) > after)
            )

        found = sorted(filter(shown, self.tasks.values()), key=lambda t: (t.window.start, t.id))
        return found[:limit]

    async def nearby(
        self,
        scope: Scope,
        near: LatLng,
        radius_m: float,
        limit: int,
        now: datetime,
        exact: bool,
    ) -> list[Task]:
        found: list[Task] = []
        for t in self.tasks.values():
            if t.status is not TaskStatus.OPEN or t.window.claim_deadline <= now:
                continue
            if not scope.admits(t.community_id, t.street_id, t.street_wide):
                continue
            # Unless exact, a wish is measured to its public, rounded place (as in SQL).
            lat, lng = t.location.lat, t.location.lng
            if not exact and t.kind is TaskKind.WISH:
                lat, lng = public_place(lat, lng)
            d = distance_m(near.lat, near.lng, lat, lng)
            if d <= radius_m:
                found.append(replace(t, distance_m=d))
        return sorted(found, key=lambda t: (t.distance_m, t.id))[:limit]

    async def list_assignments(
        self,
        *,
        task_id: str,
        member_id: str,
        states: Sequence[AssignmentState],
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Assignment]:
        found = sorted(
            (
                a
                for a in self.assignments.values()
                if (not task_id or a.task_id == task_id)
                and (not member_id or a.member_id == member_id)
                and (not states or a.state in states)
                and (after is None or (a.created_at, a.id) > after)
            ),
            key=lambda a: (a.created_at, a.id),
        )
        return found[:limit]

    async def held_tasks(self, member_id: str, task_ids: Sequence[str]) -> set[str]:
        entitled = {AssignmentState.ACCEPTED, AssignmentState.COMPLETED, AssignmentState.NO_SHOW}
        return {
            a.task_id
            for a in self.assignments.values()
            if a.member_id == member_id and a.task_id in task_ids and a.state in entitled
        }

    async def member_record(self, member_id: str, now: datetime) -> MemberRecord:
        mine = [a for a in self.assignments.values() if a.member_id == member_id]
        done = [a for a in mine if a.state is AssignmentState.COMPLETED]
        # As the PostgreSQL store counts: a confirmed record's minutes over completion's hours.
        confirmed = {
            r.task_id: r
            for r in self.hours_records.values()
            if r.member_id == member_id and r.state is HoursState.CONFIRMED
        }
        served: list[tuple[float, datetime | None]] = []
        for a in done:
            r = confirmed.pop(a.task_id, None)
            served.append((a.hours if r is None else r.minutes / 60, a.served_at))
        served += [(r.minutes / 60, r.occurred_at) for r in confirmed.values()]

        def hours(since: datetime | None) -> float:
            return float(
                sum(h for h, at in served if since is None or (at is not None and at >= since))
            )

        return MemberRecord(
            member_id,
            hours(month_start(now)),
            hours(year_start(now)),
            hours(None),
            len(served),
            sum(a.state is AssignmentState.NO_SHOW for a in mine),
            sum(a.state is AssignmentState.ACCEPTED for a in mine),
        )
