"""A solved plan, explained: who goes where and why, why a place stays empty, and the figures
a run is judged by (filled places by group, distances, load spread, bound and gap)."""

from __future__ import annotations

import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from services.matching.solver import candidates as cand
from services.matching.solver import solve as slv
from services.matching.solver import terms
from services.matching.solver.model import (
    PRIORITY_GROUPS,
    SCALE,
    Instance,
    Member,
    Task,
    fairness_cost,
)

REASONS = {
    "no_member_in_reach": "no member of the community lives within reach",
    "no_skill": "nobody within reach has the skills asked for",
    "no_time": "nobody with the skills is available at that time",
    "out_of_hours": "everyone with the skills and the time has used their hours this month",
    "time_clash": "everyone suitable already has an accepted task at that time",
    "too_few_candidates": "fewer suitable members than places",
    "outscored": "its candidates were given places that weigh more",
    "invalid_task": "its window, hours, headcount or place cannot be planned (left out)",
}


@dataclass(frozen=True)
class Alternative:
    member_id: str
    score: float
    distance_m: float
    status: str  # "assigned elsewhere", "free", ...
    # What the score took from the member's record (shown only to those who see the member).
    skill_fit: float = 0.5
    reliability: float = 0.5
    unit: bool = False  # a member of the role's paired unit (their score holds its points)


@dataclass(frozen=True)
class Assignment:
    task_id: str
    member_id: str
    score: float  # points of the pair, before fairness
    fairness_cost: float  # what this task added in fairness cost for the member
    distance_m: float
    skill_fit: float
    member_load_hours: float
    reliability: float
    rank: int  # the member's rank among the task's candidates by score (1 is best)
    alternatives: tuple[Alternative, ...]
    # On a team task: the skills this member covers for the team.
    covers: tuple[str, ...] = ()
    unit: bool = False  # a member of the role's paired unit (their score holds its points)

    def explanation(self) -> str:
        alt = (
            "; ".join(
                f"{a.member_id} ({a.score:.1f}, {a.distance_m:.0f} m, {a.status})"
                for a in self.alternatives
            )
            or "none"
        )
        team = f"covers {', '.join(self.covers)} for the team; " if self.covers else ""
        return (
            f"{team}{self.distance_m:.0f} m from home, skill fit {self.skill_fit:.2f}, "
            f"{self.member_load_hours:.1f} h already this month, reliability "
            f"{self.reliability:.2f}; score {self.score:.1f} (rank {self.rank}); "
            f"next best: {alt}"
        )


@dataclass(frozen=True)
class Unfilled:
    task_id: str
    places: int
    reason: str  # a key of REASONS
    candidates: int

    @property
    def explanation(self) -> str:
        return REASONS[self.reason]


@dataclass
class Result:
    method: str
    status: str
    objective: float  # points
    bound: float | None
    gap: float | None
    assignments: list[Assignment]
    unfilled: list[Unfilled]
    members: int
    tasks: int
    places: int
    pairs: int
    timings: dict[str, float] = field(default_factory=dict)
    filled_by_group: dict[str, tuple[int, int]] = field(default_factory=dict)  # (filled, places)
    mean_distance_m: float = 0.0
    p95_distance_m: float = 0.0
    load_spread: dict[str, float] = field(default_factory=dict)
    components: int = 0
    # Slot-weeks served by the slot's usual members, of slot-weeks served.
    rota: tuple[int, int] = (0, 0)
    # Team tasks staffed with every skill covered, team tasks staffed, team tasks.
    teams: tuple[int, int, int] = (0, 0, 0)
    # Events over-booked: members expected to come, headcount, members planned.
    attendance: tuple[float, int, int] = (0.0, 0, 0)
    # The objective without the terms of rotas and re-plans (what they cost the rest).
    base_objective: float = 0.0

    @property
    def rota_stability(self) -> float | None:
        return self.rota[0] / self.rota[1] if self.rota[1] else None

    @property
    def filled(self) -> int:
        return len(self.assignments)

    @property
    def priority_filled(self) -> tuple[int, int]:
        f = sum(v[0] for g, v in self.filled_by_group.items() if g in PRIORITY_GROUPS)
        p = sum(v[1] for g, v in self.filled_by_group.items() if g in PRIORITY_GROUPS)
        return f, p


def explain(instance: Instance, cands: cand.Candidates, plan: slv.Plan) -> Result:
    started = time.perf_counter()
    chosen = set(plan.pairs)
    assigned_to: dict[int, list[int]] = defaultdict(list)  # member -> tasks
    for p in plan.pairs:
        assigned_to[cands.member[p]].append(cands.task[p])
    count: dict[int, int] = defaultdict(int)
    assignments = []
    filled: Counter[int] = Counter()
    for p in sorted(plan.pairs, key=lambda p: (-cands.score[p], p)):
        j, i = cands.task[p], cands.member[p]
        task, member = instance.tasks[j], instance.members[i]
        count[i] += 1
        filled[j] += 1
        ranked = sorted(cands.by_task.get(j, []), key=lambda q: (-cands.score[q], q))
        others = [q for q in ranked if q != p and q not in chosen][:3]
        assignments.append(
            Assignment(
                task_id=task.id,
                member_id=member.id,
                score=cands.score[p] / SCALE,
                fairness_cost=fairness_cost(member, count[i], instance.weights) / SCALE,
                distance_m=cands.distance_m[p],
                skill_fit=cands.fit[p],
                member_load_hours=member.load_hours,
                reliability=member.reliability,
                rank=ranked.index(p) + 1,
                alternatives=tuple(
                    Alternative(
                        instance.members[cands.member[q]].id,
                        cands.score[q] / SCALE,
                        cands.distance_m[q],
                        "assigned elsewhere" if assigned_to.get(cands.member[q]) else "free",
                        cands.fit[q],
                        instance.members[cands.member[q]].reliability,
                        _in_unit(task, instance.members[cands.member[q]]),
                    )
                    for q in others
                ),
                covers=cands.covers[p] if task.team and len(task.skills) > 1 else (),
                unit=_in_unit(task, member),
            )
        )
    unfilled = []
    for j, task in enumerate(instance.tasks):
        empty = task.places - filled[j]
        if empty <= 0:
            continue
        f = cands.funnels[j]
        n = len(cands.by_task.get(j, []))
        if f.in_reach == 0:
            reason = "no_member_in_reach"
        elif f.skilled == 0:
            reason = "no_skill"
        elif f.available == 0:
            reason = "no_time"
        elif f.with_hours == 0:
            reason = "out_of_hours"
        elif f.free == 0:
            reason = "time_clash"
        elif (
            all(q in chosen or assigned_to.get(cands.member[q]) for q in cands.by_task.get(j, []))
            and n < task.places
        ):
            reason = "too_few_candidates"
        else:
            reason = "outscored"
        unfilled.append(Unfilled(task.id, empty, reason, n))

    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for j, task in enumerate(instance.tasks):
        groups[task.beneficiary][0] += min(filled[j], task.places)  # over-booked places apart
        groups[task.beneficiary][1] += task.places
    distances = sorted(a.distance_m for a in assignments)
    hours: dict[int, float] = defaultdict(float)
    for p in plan.pairs:
        hours[cands.member[p]] += instance.tasks[cands.task[p]].effort_hours
    totals = [instance.members[i].load_hours + h for i, h in hours.items()]
    spread = {}
    if totals:
        spread = {
            "members_used": float(len(totals)),
            "mean_hours": statistics.fmean(totals),
            "max_hours": max(totals),
            "stdev_hours": statistics.pstdev(totals) if len(totals) > 1 else 0.0,
            "most_tasks": float(max(count.values())),
        }
    result = Result(
        method=plan.method,
        status=plan.status,
        objective=plan.objective / SCALE,
        bound=None if plan.bound is None else plan.bound / SCALE,
        gap=slv.gap(plan),
        assignments=assignments,
        unfilled=unfilled,
        members=len(instance.members),
        tasks=len(instance.tasks),
        places=sum(t.places for t in instance.tasks),
        pairs=len(cands),
        timings=dict(plan.timings),
        filled_by_group={g: (v[0], v[1]) for g, v in sorted(groups.items())},
        mean_distance_m=statistics.fmean(distances) if distances else 0.0,
        p95_distance_m=distances[int(0.95 * (len(distances) - 1))] if distances else 0.0,
        load_spread=spread,
        components=plan.components,
        rota=terms.rota_stability(instance, cands, plan.pairs),
        teams=terms.team_cover(instance, cands, plan.pairs),
        attendance=terms.attendance(instance, cands, plan.pairs),
        base_objective=base_objective(instance, cands, plan.pairs) / SCALE,
    )
    result.timings["explain"] = time.perf_counter() - started
    return result


def _in_unit(task: Task, member: Member) -> bool:
    return bool(task.unit_id) and member.unit_id == task.unit_id


def base_objective(instance: Instance, cands: cand.Candidates, pairs: list[int]) -> int:
    """The plan's value without the terms that keep rotas and re-planned pairs: what those
    terms cost the rest of the objective is this against a plan made without them."""
    w = instance.weights
    continuity, stability = round(w.continuity * SCALE), round(w.stability * SCALE)
    value = slv.objective(instance, cands, pairs)
    for p in pairs:
        task, member = instance.tasks[cands.task[p]], instance.members[cands.member[p]]
        value -= continuity * (cands.member[p] in cands.adopted.get(task.slot, ()))
        value -= stability * ((task.id, member.id) in instance.kept)
    return value


def run(instance: Instance) -> Result:
    """Candidates, plan and explanations for one instance."""
    started = time.perf_counter()
    cands = cand.build(instance)
    built = time.perf_counter() - started
    plan = slv.solve(instance, cands)
    result = explain(instance, cands, plan)
    result.timings["candidates"] = built
    return result
