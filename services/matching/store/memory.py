"""The matching service's store in memory: the same interface as the PostgreSQL store, for
use-case tests and tools that need no database. The contract suite holds both to one behaviour.

Changes take effect at once (there is no rollback); the proposals it would publish are kept in
`published`, in order.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.auth import Principal
from services.matching.domain import erasure, runs
from services.matching.domain.rows import AssignmentRow, MemberRow, TaskRow
from services.matching.domain.runs import PlannedAssignment, RunFilter, RunRecord, UnfilledPlace
from services.matching.domain.scope import Scope
from services.matching.domain.world import World
from services.matching.events import Proposal
from services.matching.store.port import Tx


@dataclass
class _Run:
    record: RunRecord
    heartbeat_at: datetime
    planned: list[PlannedAssignment]
    unfilled: list[UnfilledPlace]
    edits: dict[tuple[str, str], str] = field(default_factory=dict)


class MemoryStore:
    def __init__(self) -> None:
        self.communities: dict[str, str] = {}
        self.members: dict[str, tuple[MemberRow, datetime]] = {}
        self.tasks: dict[str, tuple[TaskRow, datetime]] = {}
        self.assignments: dict[str, tuple[AssignmentRow, datetime]] = {}
        self.refusals: dict[tuple[str, str], str] = {}
        self.pending: dict[tuple[str, str], str] = {}  # (task, member) -> the run that proposed
        self.standby: dict[tuple[str, str], datetime] = {}
        self.runs: dict[str, _Run] = {}
        self.published: list[tuple[Proposal, Principal | None]] = []
        # Creation times strictly increase, as rows written one after another would.
        self._ticks = itertools.count(1)

    def _now(self) -> datetime:
        return datetime.now(UTC)

    # -- the read model --------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        yield None

    async def put_community(self, tx: Tx, community_id: str, street_id: str) -> None:
        self.communities[community_id] = street_id

    async def put_member(self, tx: Tx, m: MemberRow, version: datetime) -> None:
        old = self.members.get(m.id)
        if old is not None and old[1] > version:
            return
        street = self.communities.get(m.community_id) if m.community_id else None
        self.members[m.id] = (replace(m, street_id=street), version)

    async def put_standby(self, tx: Tx, task_id: str, member_id: str, joined: datetime) -> None:
        self.standby.setdefault((task_id, member_id), joined)

    async def drop_standby(self, tx: Tx, task_id: str, member_id: str) -> None:
        self.standby.pop((task_id, member_id), None)

    async def change_task(self, tx: Tx, t: TaskRow, version: datetime) -> None:
        old = self.tasks.get(t.id)
        if old is not None and old[1] <= version:
            fields = ("lat", "lng", "headcount", "places_taken", "start", "end", "flexible")
            kept = replace(old[0], status=t.status, **{f: getattr(t, f) for f in fields})
            self.tasks[t.id] = (kept, version)

    async def put_task(self, tx: Tx, t: TaskRow, version: datetime) -> None:
        old = self.tasks.get(t.id)
        if old is None:
            self.tasks[t.id] = (t, version)
        elif old[1] <= version:
            kept = replace(old[0], places_taken=t.places_taken, status=t.status)
            self.tasks[t.id] = (kept, version)

    async def put_assignment(self, tx: Tx, a: AssignmentRow, version: datetime) -> None:
        old = self.assignments.get(a.assignment_id)
        if old is None:
            self.assignments[a.assignment_id] = (a, version)
        elif old[1] <= version:
            kept = replace(old[0], state=a.state, hours=a.hours)
            self.assignments[a.assignment_id] = (kept, version)

    async def refuse(self, tx: Tx, task_id: str, member_id: str, reason: str) -> None:
        self.refusals.setdefault((task_id, member_id), reason)

    async def forget_member(self, tx: Tx, member_id: str) -> None:
        for run in self.runs.values():
            run.planned = [
                erasure.forget_in_plan(a, member_id) if erasure.names(a, member_id) else a
                for a in run.planned
            ]
        for key in self.refusals:
            if key[1] == member_id:
                self.refusals[key] = ""

    async def answered(self, tx: Tx, task_id: str, member_id: str) -> None:
        self.pending.pop((task_id, member_id), None)

    async def load(self, world: World) -> None:
        for community_id, street_id in self.communities.items():
            world.put_community(community_id, street_id)
        for m, _ in self.members.values():
            world.put_member(m)
        for t, _ in self.tasks.values():
            if t.status in ("open", "filled"):
                world.put_task(t)
        for a, _ in self.assignments.values():
            world.put_assignment(a)
        for task_id, member_id in self.refusals:
            world.refuse(task_id, member_id)
        for task_id, member_id in self.pending:
            world.offer(task_id, member_id)
        for (task_id, member_id), joined in sorted(self.standby.items(), key=lambda e: e[1]):
            world.join_standby(task_id, member_id, joined)

    async def refresh(
        self,
        world: World,
        *,
        members: Sequence[str] = (),
        tasks: Sequence[str] = (),
        assignments: Sequence[str] = (),
    ) -> None:
        for member_id in members:
            if member_id in self.members:
                world.put_member(self.members[member_id][0])
        for task_id in tasks:
            if task_id in self.tasks:
                world.put_task(self.tasks[task_id][0])
        wanted = set(tasks)
        for task_id, member_id in self.refusals:
            if task_id in wanted:
                world.refuse(task_id, member_id)
        for assignment_id in assignments:
            if assignment_id in self.assignments:
                world.put_assignment(self.assignments[assignment_id][0])

    # -- runs ------------------------------------------------------------------------------------

    async def start_run(
        self,
        scope: Scope,
        street_id: str,
        dry_run: bool,
        method: str,
        by: str,
        lease_s: float = 30.0,
    ) -> tuple[str | None, str | None]:
        await self.fail_lapsed_runs(lease_s)
        clash = runs.first_overlapping(scope, street_id, [r.record for r in self.runs.values()])
        if clash is not None:
            return None, clash.id
        now = self._now()
        record = RunRecord(
            id=str(uuid.uuid4()),
            scope_kind=scope.kind,
            scope_id=scope.id,
            street_id=street_id,
            state="running",
            dry_run=dry_run,
            method=method,
            requested_by=by,
            # Strictly after every run before it, as the listing's order needs.
            created_at=now + timedelta(microseconds=next(self._ticks)),
        )
        self.runs[record.id] = _Run(record, now, [], [])
        return record.id, None

    async def renew(self, run_id: str) -> bool:
        run = self.runs.get(run_id)
        if run is not None and run.record.state == "running":
            run.heartbeat_at = self._now()
        return True

    async def fail_lapsed_runs(self, lease_s: float) -> int:
        cutoff = self._now() - timedelta(seconds=lease_s)
        lapsed = [
            run
            for run in self.runs.values()
            if run.record.state == "running" and run.heartbeat_at < cutoff
        ]
        for run in lapsed:
            self._end(run, "failed", error="interrupted")
        return len(lapsed)

    def _end(self, run: _Run, state: str, **changes: Any) -> None:
        run.record = replace(run.record, state=state, finished_at=self._now(), **changes)

    async def finish_run(
        self,
        run_id: str,
        planned: Sequence[PlannedAssignment],
        unfilled: Sequence[UnfilledPlace],
        figures: dict[str, Any],
        proposals: Sequence[Proposal],
        actor: Principal,
        *,
        draft: bool = False,
    ) -> None:
        run = self.runs[run_id]
        run.planned, run.unfilled = list(planned), list(unfilled)
        self._end(run, "draft" if draft else "succeeded", figures=dict(figures))
        self._hold(proposals, actor)

    async def draft_edits(self, run_id: str) -> dict[tuple[str, str], str]:
        run = self.runs.get(run_id)
        return {} if run is None else dict(run.edits)

    async def replace_draft(
        self,
        run_id: str,
        planned: Sequence[PlannedAssignment],
        unfilled: Sequence[UnfilledPlace],
        figures: dict[str, Any],
        edits: dict[tuple[str, str], str],
    ) -> bool:
        run = self.runs.get(run_id)
        if run is None or run.record.state != "draft":
            return False
        run.planned, run.unfilled, run.edits = list(planned), list(unfilled), dict(edits)
        run.record = replace(run.record, figures=dict(figures), finished_at=self._now())
        return True

    async def publish_draft(
        self, run_id: str, proposals: Sequence[Proposal], actor: Principal, skipped: int
    ) -> bool:
        run = self.runs.get(run_id)
        if run is None or run.record.state != "draft":
            return False
        figures = {**run.record.figures, "publish_skipped": skipped}
        run.record = replace(
            run.record,
            state="succeeded",
            published_at=self._now(),
            figures=figures,
            dry_run=False,
        )
        self._hold(proposals, actor)
        return True

    def _hold(self, proposals: Sequence[Proposal], actor: Principal | None) -> None:
        for subject, p in proposals:
            self.pending.setdefault((p.task_id, p.member_id), p.match_run_id)
            self.published.append(((subject, p), actor))

    async def propose(self, proposals: Sequence[Proposal]) -> None:
        self._hold(proposals, None)

    async def set_figure(self, run_id: str, name: str, value: float) -> None:
        run = self.runs.get(run_id)
        if run is not None:
            run.record = replace(run.record, figures={**run.record.figures, name: value})

    async def fail_run(self, run_id: str, error: str) -> None:
        run = self.runs.get(run_id)
        if run is not None and run.record.state == "running":
            self._end(run, "failed", error=error[:500])

    async def get_run(self, run_id: str) -> RunRecord | None:
        run = self.runs.get(run_id)
        return None if run is None else run.record

    async def list_runs(
        self, which: RunFilter, after: tuple[datetime, str] | None, limit: int
    ) -> list[RunRecord]:
        def listed(r: RunRecord) -> bool:
            if which.kind is not None and (r.scope_kind, r.scope_id) != (
                which.kind,
                which.scope_id,
            ):
                return False
            if which.communities is not None or which.streets is not None:
                mine = (
                    r.scope_kind == "community" and r.scope_id in (which.communities or ())
                ) or (r.street_id in (which.streets or ()))
                if not mine:
                    return False
            return after is None or (r.created_at, uuid.UUID(r.id)) < (
                after[0],
                uuid.UUID(after[1]),
            )

        runs = [run.record for run in self.runs.values() if listed(run.record)]
        runs.sort(key=lambda r: (r.created_at, uuid.UUID(r.id)), reverse=True)
        return runs[:limit]

    async def planned(self, run_id: str, after: int, limit: int) -> list[PlannedAssignment]:
        run = self.runs.get(run_id)
        return [] if run is None else [a for a in run.planned if a.position > after][:limit]

    async def unfilled(self, run_id: str, after: int, limit: int) -> list[UnfilledPlace]:
        run = self.runs.get(run_id)
        return [] if run is None else [u for u in run.unfilled if u.position > after][:limit]
