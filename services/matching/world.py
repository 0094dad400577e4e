"""The matching service's picture of the district, held in memory: members, open tasks, and
members' commitments, mirrored from its read model tables. Runs are planned from it, and
suggestions answered from it in milliseconds.

Pure: loading from and refreshing against the database happen in store.py.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from services.common.values import (
    LOCAL_TZ,
    PRIORITY_GROUPS,
    claim_deadline,
    distance_m,
    month_start,
    public_place,
)
from services.matching.solver import model as sm

LIVE = frozenset({"proposed", "accepted"})
# The task service shows a resident's place rounded to the public grid (common.values), and the
# registry shows nobody's home to those outside its scope: what such callers see (scores,
# distances, order) is computed from places rounded to it.
# Distances to members outside the caller's scope are shown in bands this wide (their upper end).
DISTANCE_BAND_M = 500.0
# What a task's data must lie within to be planned; outside it the task is reported unmatched
# (invalid_task) instead of failing the run it is in.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
LONGEST_WINDOW = timedelta(days=400)
MOST_EFFORT_HOURS = 1000.0
MOST_HEADCOUNT = 10_000
# Skill levels run 1 to 3 (the registry's scale); a member's levels are read within 0 to 3.
MOST_LEVEL = 3
MOST_HOURS_PER_MONTH = 31 * 24


# The skill fit of a task that asks no skills, and the reliability of a member without a
# record: what a member's score is computed with for callers who may not see their record.
NEUTRAL_FIT = 0.5
NEUTRAL_RELIABILITY = 0.5


def banded(distance: float) -> float:
    """A distance as the upper end of its band."""
    return max(1, math.ceil(distance / DISTANCE_BAND_M)) * DISTANCE_BAND_M


def on_earth(lat: float | None, lng: float | None) -> bool:
    return (
        lat is not None
        and lng is not None
        and math.isfinite(lat)
        and math.isfinite(lng)
        and -90 <= lat <= 90
        and -180 <= lng <= 180
    )


def task_problem(t: TaskRow) -> str | None:
    """Why the planner cannot take this task as it is, or None when it can."""
    if not on_earth(t.lat, t.lng):
        return "its place is not on earth"
    if not (EARLIEST <= t.start <= LATEST and EARLIEST <= t.end <= LATEST):
        return "its window lies outside the years 2000 to 2100"
    if t.end < t.start or t.end - t.start > LONGEST_WINDOW:
        return "its window ends before it starts or lasts more than 400 days"
    if not (math.isfinite(t.effort_hours) and 0 <= t.effort_hours <= MOST_EFFORT_HOURS):
        return "its effort hours are out of range"
    if not (t.places_taken >= 0 and 0 < t.headcount <= MOST_HEADCOUNT):
        return "its headcount is out of range"
    if not all(1 <= level <= MOST_LEVEL for _code, level in t.skills):
        return "a skill level asked for is out of range"
    return None


@dataclass(frozen=True)
class MemberRow:
    id: str
    community_id: str | None
    street_id: str | None
    active: bool
    reported_in: bool
    lat: float | None
    lng: float | None
    skills: dict[str, int]
    availability: tuple[sm.Window, ...]
    hours_per_month: int


@dataclass(frozen=True)
class TaskRow:
    id: str
    community_id: str
    street_id: str
    street_wide: bool
    lat: float
    lng: float
    skills: tuple[tuple[str, int], ...]
    headcount: int
    places_taken: int
    start: datetime
    end: datetime
    flexible: bool
    effort_hours: float
    beneficiary: str
    status: str
    posted_at: datetime

    @property
    def deadline(self) -> datetime:
        return claim_deadline(self.start, self.end, self.flexible)

    def open_places(self, now: datetime) -> int:
        if self.status != "open" or self.deadline <= now:
            return 0
        return max(0, self.headcount - self.places_taken)


@dataclass(frozen=True)
class CommitmentRow:
    assignment_id: str
    member_id: str
    task_id: str
    state: str
    start: datetime
    end: datetime
    flexible: bool
    effort_hours: float
    hours: float


@dataclass(frozen=True)
class Scope:
    kind: str  # "community", "street" or "district"
    id: str = ""

    def holds_task(self, t: TaskRow) -> bool:
        if self.kind == "community":
            return t.community_id == self.id
        if self.kind == "street":
            return t.street_id == self.id
        return True

    def holds_member(self, m: MemberRow) -> bool:
        if self.kind == "community":
            return m.community_id == self.id
        if self.kind == "street":
            return m.street_id == self.id
        return True

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass
class World:
    members: dict[str, MemberRow] = field(default_factory=dict)
    tasks: dict[str, TaskRow] = field(default_factory=dict)
    commitments: dict[str, CommitmentRow] = field(default_factory=dict)
    by_member: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    refusals: set[tuple[str, str]] = field(default_factory=set)
    # Indexes for suggestions: members and tasks by community, and by street.
    _members_at: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _tasks_at: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # What the solver sees of a member, per month: cleared when the member or a commitment of
    # theirs changes.
    _seen: dict[str, tuple[tuple[int, int], sm.Member]] = field(default_factory=dict)
    # Proposals sent but not yet heard back about from the task service: they count as held
    # (load, busy time, the task's place) until its word arrives, so that a re-offer made
    # meanwhile cannot give the same member more than their hours.
    # They are kept in the read model too (pending_proposal), so that a restart or a reload of
    # the task's row never forgets them: a place offered is not free until the task service says
    # so, and the next run does not offer it again.
    pending: dict[tuple[str, str], CommitmentRow] = field(default_factory=dict)
    _pending_of: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    _pending_on: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # The organisation: community -> its street.
    communities: dict[str, str] = field(default_factory=dict)

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

    def put_commitment(self, c: CommitmentRow) -> None:
        self.commitments[c.assignment_id] = c
        self.by_member[c.member_id].add(c.assignment_id)
        self.settle(c.task_id, c.member_id)
        self._forget(c.member_id)

    def offer(self, task_id: str, member_id: str) -> None:
        """Count a proposal just sent as held until the task service answers for it."""
        t = self.tasks.get(task_id)
        if t is None or (task_id, member_id) in self.pending:
            return
        self._pending_of[member_id].add((task_id, member_id))
        self._pending_on[task_id].add(member_id)
        self.pending[(task_id, member_id)] = CommitmentRow(
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

    def eligible(self, m: MemberRow) -> bool:
        return m.active and m.reported_in and m.community_id is not None and on_earth(m.lat, m.lng)

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
        held = [self.commitments[aid] for aid in self.by_member.get(m.id, ())]
        held += [self.pending[k] for k in self._pending_of.get(m.id, ())]
        for c in held:
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
        )

    def solver_task(self, t: TaskRow, now: datetime) -> sm.Task:
        return sm.Task(
            id=t.id,
            lat=t.lat,
            lng=t.lng,
            community_id=t.community_id,
            street_id=t.street_id,
            street_wide=t.street_wide,
            skills=t.skills,
            places=self.open_places(t, now),
            start=t.start,
            end=t.end,
            flexible=t.flexible,
            effort_hours=t.effort_hours,
            beneficiary=t.beneficiary,
            posted_at=t.posted_at,
        )

    def excluded(self, task_ids: Iterable[str]) -> frozenset[tuple[str, str]]:
        wanted = set(task_ids)
        live = {
            (c.task_id, c.member_id)
            for c in self.commitments.values()
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
                if self.eligible(m) and (scope.holds_member(m) or m.street_id in streets)
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

    # -- suggestions ---------------------------------------------------------------------------

    def _pair(
        self,
        t: TaskRow,
        m: MemberRow,
        member: sm.Member,
        task: sm.Task,
        now: datetime,
        weights: sm.Weights,
        reach: float,
        distance: float,
        neutral: bool = False,
    ) -> tuple[float, str] | None:
        """(net score, reason without the distance) when the member could take the task at this
        distance, else None. The distance is the one the caller may know: everything shown
        (score, order, whether it is shown at all) follows from it and nothing finer. When
        `neutral`, the member's record (skill levels above the minimum, reliability, hours
        this month) is not the caller's to know: the score is that of any member who meets the
        task's minimums with an unknown record."""
        if (t.id, m.id) in self.refusals or (t.id, m.id) in self.pending:
            return None
        if any(
            self.commitments[a].task_id == t.id and self.commitments[a].state in LIVE
            for a in self.by_member.get(m.id, ())
        ):
            return None
        if distance > reach:
            return None
        fit = sm.skill_fit(member, task)
        if fit is None or not sm.available(member, task):
            return None
        if member.hours_left + 1e-9 < task.effort_hours:
            return None
        if not task.flexible and any(
            sm.overlaps(task.start, task.end, s, e) for s, e in member.busy
        ):
            return None
        scored = member
        if neutral:
            fit, scored = (
                NEUTRAL_FIT,
                replace(member, reliability=NEUTRAL_RELIABILITY, load_hours=0),
            )
        score = sm.pair_score(task, scored, distance, fit, weights, now, reach)
        net = (score - sm.fairness_cost(scored, 1, weights)) / sm.SCALE
        skills = ", ".join(f"{code} {member.skills.get(code, 0)}" for code, _ in task.skills)
        reason = (
            (f"skills {skills}; " if skills else "")
            + f"{member.load_hours:.1f} h this month, {member.hours_left:.1f} h left"
            + ("; serves a priority group" if task.beneficiary in PRIORITY_GROUPS else "")
        )
        return net, reason

    def suggest_members(
        self,
        task_id: str,
        limit: int,
        now: datetime,
        weights: sm.Weights,
        reach: float,
        exact: Callable[[MemberRow], bool] = lambda _m: True,
    ) -> list[tuple[str, float, float, str]]:
        """The best members for a task's free places: (member, score, distance, reason).

        For a member `exact` says no to (outside the caller's scope) the distance is measured
        from their home's public cell and shown as its band, and the score and order follow from
        that banded distance only: nobody's home is found by moving a task about. Their reason
        is that band alone, without their skills or hours."""
        t = self.tasks.get(task_id)
        if t is None or task_problem(t) is not None or self.open_places(t, now) == 0:
            return []
        task = self.solver_task(t, now)
        out = []
        for m in self.members.values():
            if not self.eligible(m):
                continue
            if not (
                m.community_id == t.community_id or (t.street_wide and m.street_id == t.street_id)
            ):
                continue
            assert m.lat is not None and m.lng is not None
            seen = exact(m)
            if seen:
                distance = distance_m(m.lat, m.lng, t.lat, t.lng)
                shown = f"{distance:.0f} m from home"
            else:
                distance = banded(distance_m(*public_place(m.lat, m.lng), t.lat, t.lng))
                shown = f"within {distance:.0f} m of home"
            member = self.solver_member(m, now)
            found = self._pair(t, m, member, task, now, weights, reach, distance, not seen)
            if found is not None:
                # Skill levels and hours are the member's record, for those who see the member.
                out.append((m.id, found[0], distance, f"{shown}; {found[1]}" if seen else shown))
        out.sort(key=lambda r: (-r[1], r[2], r[0]))
        return out[:limit]

    def suggest_tasks(
        self,
        member_id: str,
        limit: int,
        now: datetime,
        weights: sm.Weights,
        reach: float,
        visible: Callable[[TaskRow], bool] = lambda _t: True,
    ) -> list[tuple[str, float, float, str]]:
        """The best open tasks for a member: (task, score, distance, reason).

        A member is told the distance to the task's public place (rounded as the task service
        shows it), never to a resident's exact home; the score, the order and the reach are
        computed from that same public place, so moving one's own home about reveals nothing
        finer than the public cell."""
        m = self.members.get(member_id)
        if m is None or not self.eligible(m):
            return []
        assert m.lat is not None and m.lng is not None
        member = self.solver_member(m, now)
        out = []
        for t in self.tasks.values():
            if task_problem(t) is not None or self.open_places(t, now) == 0:
                continue
            if not (
                t.community_id == m.community_id or (t.street_wide and t.street_id == m.street_id)
            ) or not visible(t):
                continue
            lat, lng = public_place(t.lat, t.lng)
            task = replace(self.solver_task(t, now), lat=lat, lng=lng)
            distance = distance_m(m.lat, m.lng, lat, lng)
            found = self._pair(t, m, member, task, now, weights, reach, distance)
            if found is not None:
                out.append((t.id, found[0], distance, found[1]))
        out.sort(key=lambda r: (-r[1], r[2], r[0]))
        return out[:limit]
