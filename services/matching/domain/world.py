"""The matching service's picture of the district, held in memory: members, open tasks, and
members' assignments, mirrored from its read model tables. Runs are planned from it, and
suggestions answered from it in milliseconds.

Pure: loading from and refreshing against the database happen in the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from services.common.values import LOCAL_TZ, month_start
from services.matching.domain.eligibility import (
    MOST_HEADCOUNT,
    MOST_HOURS_PER_MONTH,
    MOST_LEVEL,
    eligible,
    task_problem,
)
from services.matching.domain.privacy import public_distance
from services.matching.domain.rows import LIVE, STANDING, AssignmentRow, MemberRow, TaskRow
from services.matching.domain.scope import Scope
from services.matching.solver import model as sm


@dataclass
class World:
    members: dict[str, MemberRow] = field(default_factory=dict)
    tasks: dict[str, TaskRow] = field(default_factory=dict)
    assignments: dict[str, AssignmentRow] = field(default_factory=dict)
    by_member: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    refusals: set[tuple[str, str]] = field(default_factory=set)
    # Indexes for suggestions: members and tasks by community, and by street.
    _members_at: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _tasks_at: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # What the solver sees of a member, per month: cleared when the member or an assignment of
    # theirs changes.
    _seen: dict[str, tuple[tuple[int, int], sm.Member]] = field(default_factory=dict)
    # Proposals sent but not yet heard back about from the task service: they count as held
    # (load, busy time, the task's place) until its word arrives, so that a re-offer made
    # meanwhile cannot give the same member more than their hours.
    # They are kept in the read model too (pending_proposal), so that a restart or a reload of
    # the task's row never forgets them: a place offered is not free until the task service says
    # so, and the next run does not offer it again.
    pending: dict[tuple[str, str], AssignmentRow] = field(default_factory=dict)
    _pending_of: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    _pending_on: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # Assignments by task: who already holds a team's places.
    _on_task: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # The organisation: community -> its street.
    communities: dict[str, str] = field(default_factory=dict)
    # Standby lists: task -> member -> when they joined (a freed place is theirs first).
    standby: dict[str, dict[str, datetime]] = field(default_factory=dict)

    # -- keeping it current --------------------------------------------------------------------

    def put_member(self, m: MemberRow) -> None:
        old = self.members.get(m.id)
        if old is not None:
            self._members_at[f"c:{old.community_id}"].discard(m.id)
            self._members_at[f"s:{old.street_id}"].discard(m.id)
        self.members[m.id] = m
        self._forget(m.id)
        self._members_at[f"c:{m.community_id}"].add(m.id)
        self._members_at[f"s:{m.street_id}"].add(m.id)

    def join_standby(self, task_id: str, member_id: str, joined: datetime) -> None:
        self.standby.setdefault(task_id, {})[member_id] = joined

    def leave_standby(self, task_id: str, member_id: str) -> None:
        waiting = self.standby.get(task_id, {})
        waiting.pop(member_id, None)
        if not waiting:
            self.standby.pop(task_id, None)

    def put_community(self, community_id: str, street_id: str) -> None:
        self.communities[community_id] = street_id

    def put_task(self, t: TaskRow) -> None:
        self.tasks[t.id] = t
        self._tasks_at[f"c:{t.community_id}"].add(t.id)
        if t.street_wide:
            self._tasks_at[f"s:{t.street_id}"].add(t.id)
        if t.status not in ("open", "filled"):
            # A closed task has no place to give: nothing offered on it is held any more.
            for member_id in list(self._pending_on.get(t.id, ())):
                self.settle(t.id, member_id)

    def open_places(self, t: TaskRow, now: datetime) -> int:
        """Free places, less those offered and not yet answered for."""
        return max(0, t.open_places(now) - len(self._pending_on.get(t.id, ())))

    def put_assignment(self, a: AssignmentRow) -> None:
        self.assignments[a.assignment_id] = a
        self.by_member[a.member_id].add(a.assignment_id)
        self._on_task[a.task_id].add(a.assignment_id)
        self.settle(a.task_id, a.member_id)
        self._forget(a.member_id)

    def holds_place(self, task_id: str, member_id: str) -> bool:
        """Whether the member holds (or has been proposed for) a place on the task."""
        return any(
            self.assignments[a].task_id == task_id and self.assignments[a].state in LIVE
            for a in self.by_member.get(member_id, ())
        )

    def public_distance(self, task_id: str, member_id: str) -> float:
        """From the member's public cell to the task: what those outside their scope may know."""
        return public_distance(self.members.get(member_id), self.tasks.get(task_id))

    def offer(self, task_id: str, member_id: str) -> None:
        """Count a proposal just sent as held until the task service answers for it."""
        t = self.tasks.get(task_id)
        if t is None or (task_id, member_id) in self.pending:
            return
        self._pending_of[member_id].add((task_id, member_id))
        self._pending_on[task_id].add(member_id)
        self.pending[(task_id, member_id)] = AssignmentRow(
            assignment_id="",
            member_id=member_id,
            task_id=task_id,
            state="proposed",
            start=t.start,
            end=t.end,
            flexible=t.flexible,
            effort_hours=t.effort_hours,
            hours=0,
        )
        self._forget(member_id)

    def settle(self, task_id: str, member_id: str) -> None:
        """The task service answered for a proposal (taken, or rejected)."""
        if self.pending.pop((task_id, member_id), None) is not None:
            self._pending_of[member_id].discard((task_id, member_id))
            self._pending_on[task_id].discard(member_id)
            self._forget(member_id)

    def _forget(self, member_id: str) -> None:
        self._seen.pop(member_id, None)

    def refuse(self, task_id: str, member_id: str) -> None:
        self.refusals.add((task_id, member_id))

    # -- what the solver sees ------------------------------------------------------------------

    def solver_member(self, m: MemberRow, now: datetime) -> sm.Member:
        local = now.astimezone(LOCAL_TZ)
        month = (local.year, local.month)
        cached = self._seen.get(m.id)
        if cached is None or cached[0] != month:
            start = month_start(now)
            cached = (month, self._solver_member(m, start))
            self._seen[m.id] = cached
        return cached[1]

    def _solver_member(self, m: MemberRow, month: datetime) -> sm.Member:
        """A member as the solver sees them. Their load is every place they hold or have been
        offered (a proposal counts until it is answered: it may be accepted) plus the hours
        they gave since the month began; hours left is what their monthly offer leaves."""
        load, done, no_shows = 0.0, 0, 0
        busy = []
        slots = set()
        held = [self.assignments[aid] for aid in self.by_member.get(m.id, ())]
        held += [self.pending[k] for k in self._pending_of.get(m.id, ())]
        for c in held:
            if c.slot and c.state in STANDING:
                slots.add(c.slot)
            if c.state in LIVE:
                load += c.effort_hours
                if not c.flexible:
                    busy.append((c.start, c.end))
            elif c.state == "completed":
                done += 1
                if c.start >= month:
                    load += c.hours
            elif c.state == "no_show":
                no_shows += 1
        assert m.lat is not None and m.lng is not None
        return sm.Member(
            id=m.id,
            lat=m.lat,
            lng=m.lng,
            community_id=m.community_id or "",
            street_id=m.street_id or "",
            # Read within their scales, so that one odd record cannot break a run.
            skills={k: min(MOST_LEVEL, max(0, v)) for k, v in m.skills.items()},
            availability=m.availability,
            hours_left=max(0.0, min(MOST_HOURS_PER_MONTH, m.hours_per_month) - load),
            load_hours=load,
            reliability=(done + 1) / (done + no_shows + 2),
            busy=tuple(sorted(busy)),
            unit_id=m.unit_id,
            slots=frozenset(slots),
        )

    def team_skills_left(self, t: TaskRow) -> tuple[tuple[str, int], ...]:
        """A team task's skills nobody holding (or offered) one of its places brings yet: the
        places left are planned to bring those."""
        holders = {
            self.assignments[a].member_id
            for a in self._on_task.get(t.id, ())
            if self.assignments[a].state in LIVE
        } | self._pending_on.get(t.id, set())
        brought = [self.members[m].skills for m in holders if m in self.members]
        return tuple(
            (code, level)
            for code, level in t.skills
            if not any(skills.get(code, 0) >= level for skills in brought)
        )

    def solver_task(self, t: TaskRow, now: datetime) -> sm.Task:
        team = t.team and len(t.skills) > 1
        return sm.Task(
            id=t.id,
            lat=t.lat,
            lng=t.lng,
            community_id=t.community_id,
            street_id=t.street_id,
            street_wide=t.street_wide,
            skills=self.team_skills_left(t) if team else t.skills,
            places=self.open_places(t, now),
            start=t.start,
            end=t.end,
            flexible=t.flexible,
            effort_hours=t.effort_hours,
            beneficiary=t.beneficiary,
            posted_at=t.posted_at,
            slot=t.slot,
            team=team,
            unit_id=t.unit_id,
            # Only a role's event is over-booked: a wish (no slot) is for one resident.
            overbook_cap=min(t.overbook_cap, MOST_HEADCOUNT) if t.slot else 0,
            headcount=min(t.headcount, MOST_HEADCOUNT),
        )

    def excluded(self, task_ids: Iterable[str]) -> frozenset[tuple[str, str]]:
        wanted = set(task_ids)
        live = {
            (c.task_id, c.member_id)
            for c in self.assignments.values()
            if c.state in LIVE and c.task_id in wanted
        }
        offered = {k for k in self.pending if k[0] in wanted}
        return frozenset(live | offered | {r for r in self.refusals if r[0] in wanted})

    def instance(
        self, scope: Scope, now: datetime, weights: sm.Weights, params: sm.Params
    ) -> sm.Instance:
        tasks = sorted(
            (
                t
                for t in self.tasks.values()
                if scope.holds_task(t) and task_problem(t) is None and self.open_places(t, now) > 0
            ),
            key=lambda t: t.id,
        )
        streets = {t.street_id for t in tasks if t.street_wide}
        members = sorted(
            (
                m
                for m in self.members.values()
                if eligible(m) and (scope.holds_member(m) or m.street_id in streets)
            ),
            key=lambda m: m.id,
        )
        return sm.Instance(
            members=tuple(self.solver_member(m, now) for m in members),
            tasks=tuple(self.solver_task(t, now) for t in tasks),
            now=now,
            weights=weights,
            params=params,
            excluded=self.excluded(t.id for t in tasks),
        )

    def invalid_tasks(self, scope: Scope, now: datetime) -> list[tuple[str, int, str]]:
        """(task, free places, why) for the scope's open tasks the planner cannot take."""
        out = []
        for t in self.tasks.values():
            if not scope.holds_task(t) or t.status != "open":
                continue
            why = task_problem(t)
            if why is not None:
                out.append((t.id, max(0, min(t.headcount, MOST_HEADCOUNT) - t.places_taken), why))
        return sorted(out)
