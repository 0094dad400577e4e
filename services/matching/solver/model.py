"""The matching problem as values: members, tasks, weights, parameters, and how a pair scores.

Scores are integers (hundredths of a point) so that the flow and CP-SAT models, and greedy,
optimise exactly the same objective:

    maximise  sum over assigned pairs of score(task, member)
              - sum over members of fairness(load, number of new tasks)

score = fill + priority*[elderly, child, disabled or poor] + urgency*closeness of the deadline
        + skill*fit above the minimum + distance*(1 - d/reach) + reliability*record
fairness: the k-th new task of a member carrying L hours this month costs
        fairness * (L / FAIRNESS_HOURS + k - 1), rising with every task (convex), so the load
        spreads instead of falling on the same willing few.

Terms of a plan over a term (`terms.py`): a weekly slot's occurrences earn `continuity` when
taken by one of the slot's standing members (a rota keeps its members); a member of a role's
paired unit earns `unit`; a pair of the plan being re-planned earns `stability`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.common.values import (
    LOCAL_TZ,
    OVERBOOK_MIN_HEADCOUNT,
    PRIORITY_GROUPS,
    WeeklyWindow,
    claim_deadline,
)

SCALE = 100  # points are scored in hundredths
FAIRNESS_HOURS = 10.0  # a month's load is counted in steps of this many hours
URGENCY_HORIZON = timedelta(days=7)
# Weights beyond this would only overflow the integer scores, never change a plan's meaning.
MAX_WEIGHT = 1000.0


@dataclass(frozen=True)
class Weights:
    """How much each consideration is worth, in points. Filling a place always comes first."""

    fill: float = 100.0  # any filled place beats any empty one
    priority: float = 40.0  # the elderly, children, the disabled and the poor first
    urgency: float = 15.0  # a deadline within the week, more the nearer
    skill: float = 15.0  # skills above the minimum asked
    distance: float = 20.0  # close to home
    reliability: float = 10.0  # a record of turning up
    fairness: float = 8.0  # the cost of each further task for an already busy member
    continuity: float = 15.0  # a weekly slot's occurrence taken by one of its standing members
    unit: float = 10.0  # a member of the paired unit that runs the role
    stability: float = 30.0  # keeping a pair of the plan being re-planned

    def validate(self) -> list[str]:
        return [
            f"{name} must be a number from 0 to {MAX_WEIGHT:.0f}"
            for name, value in self.__dict__.items()
            if not (math.isfinite(value) and 0 <= value <= MAX_WEIGHT)
        ]


@dataclass(frozen=True)
class Params:
    max_distance_m: float = 3000.0  # how far from home a member is asked to go
    max_candidates: int = 50  # the nearest qualified members considered per task
    time_limit_s: float = 10.0  # for the exact solver, over the whole run
    gap_target: float = 0.0001  # stop when proven within this fraction of the optimum
    seed: int = 0
    method: str = "auto"  # "auto" (flow plan, then CP-SAT), "flow", "cpsat", "greedy", "fcfs"
    workers: int = 1  # CP-SAT search workers; 1 is deterministic
    # Over-booking is for large one-off events only: at least this many people asked for.
    overbook_min_headcount: int = OVERBOOK_MIN_HEADCOUNT


@dataclass(frozen=True)
class Member:
    id: str
    lat: float
    lng: float
    community_id: str
    street_id: str
    skills: Mapping[str, int]
    availability: tuple[WeeklyWindow, ...]
    hours_left: float  # this month, after what is done and accepted
    load_hours: float  # done and accepted this month
    reliability: float = 0.5  # 0 to 1
    busy: tuple[tuple[datetime, datetime], ...] = ()  # accepted fixed windows
    unit_id: str = ""  # the paired unit they work in, if any
    # Weekly slots they already serve (a standing slot: no cost to keep it).
    slots: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Task:
    id: str
    lat: float
    lng: float
    community_id: str
    street_id: str
    street_wide: bool
    skills: tuple[tuple[str, int], ...]
    places: int  # still open
    start: datetime
    end: datetime
    flexible: bool
    effort_hours: float
    beneficiary: str
    posted_at: datetime
    # The weekly slot of a recurring role this occurrence belongs to (role, weekday, time); "".
    slot: str = ""
    # The skills are to be covered by the team together, each member bringing at least one.
    team: bool = False
    unit_id: str = ""  # the role's paired unit: its members are preferred
    # A large one-off event may be over-booked by its expected no-shows, up to this many.
    overbook_cap: int = 0
    headcount: int = 0  # people asked for in all (0: as many as places)

    @property
    def deadline(self) -> datetime:
        return claim_deadline(self.start, self.end, self.flexible)


@dataclass(frozen=True)
class Instance:
    members: tuple[Member, ...]
    tasks: tuple[Task, ...]
    now: datetime
    weights: Weights = field(default_factory=Weights)
    params: Params = field(default_factory=Params)
    # (task id, member id) pairs never to plan: declined, expired or already holding the place.
    excluded: frozenset[tuple[str, str]] = frozenset()
    # (task id, member id) pairs staff pinned: planned whatever else changes, where they fit.
    pinned: frozenset[tuple[str, str]] = frozenset()
    # The pairs of the plan being re-planned: kept where the objective allows (`stability`).
    kept: frozenset[tuple[str, str]] = frozenset()


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


def local_span(task: Task) -> tuple[tuple[int, int, int], ...]:
    """The task's fixed window as (ISO weekday, start minute, end minute) per local day."""
    start, end = task.start.astimezone(LOCAL_TZ), task.end.astimezone(LOCAL_TZ)
    out = []
    day = start.date()
    while day <= end.date():
        midnight = datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)
        lo = max(0, int((start - midnight).total_seconds() // 60))
        hi = min(1440, math.ceil((end - midnight).total_seconds() / 60))
        if hi > lo:
            out.append((day.isoweekday(), lo, hi))
        day += timedelta(days=1)
    return tuple(out)


def available(
    member: Member, task: Task, span: tuple[tuple[int, int, int], ...] | None = None
) -> bool:
    """Whether the member's weekly availability leaves room for the task: some window of theirs
    shares at least the task's effort (or the whole window, if shorter) with it."""
    if not member.availability:
        return False
    if task.flexible:
        return True  # any window before the deadline will do
    need = min(task.effort_hours * 60, (task.end - task.start).total_seconds() / 60) - 1e-9
    for day, lo, hi in span if span is not None else local_span(task):
        for w in member.availability:
            if w.day == day and min(hi, w.end) - max(lo, w.start) >= need:
                return True
    return False


def skill_fit(member: Member, task: Task) -> float | None:
    """0..1 for how far above the minimum the member's skills are; None when one is missing
    (for a team task: when they bring none of them, and the fit is over those they bring)."""
    if not task.skills:
        return 0.5
    total, brought = 0.0, 0
    for code, minimum in task.skills:
        level = member.skills.get(code, 0)
        if level < minimum:
            if task.team:
                continue
            return None
        total += (level - minimum + 1) / (4 - minimum)
        brought += 1
    return total / brought if brought else None


def covers(member: Member, task: Task) -> tuple[str, ...]:
    """The task's skills the member brings at the level asked."""
    return tuple(code for code, minimum in task.skills if member.skills.get(code, 0) >= minimum)


def pair_score(
    task: Task,
    member: Member,
    distance_m: float,
    fit: float,
    w: Weights,
    now: datetime,
    reach_m: float,
) -> int:
    to_deadline = (task.deadline - now) / URGENCY_HORIZON
    urgency = min(1.0, max(0.0, 1.0 - to_deadline))
    points = (
        w.fill
        + w.priority * (task.beneficiary in PRIORITY_GROUPS)
        + w.urgency * urgency
        + w.skill * fit
        + w.distance * max(0.0, 1.0 - distance_m / reach_m)
        + w.reliability * member.reliability
        + w.unit * bool(task.unit_id and member.unit_id == task.unit_id)
    )
    return round(points * SCALE)


def fairness_cost(member: Member, k: int, w: Weights) -> int:
    """The cost of the member's k-th new task (k from 1)."""
    return round(w.fairness * (member.load_hours / FAIRNESS_HOURS + k - 1) * SCALE)
