"""A plan as pairs of candidates, its objective and feasibility, and the greedy yardsticks:
greedy by score, and first come first served (tasks in the order posted, each to the nearest
member who can take it, as volunteer platforms do today)."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from services.matching.solver import candidates as cand
from services.matching.solver import terms
from services.matching.solver.model import Instance, fairness_cost


@dataclass
class Plan:
    pairs: list[int]
    objective: int  # in hundredths of a point
    bound: int | None
    method: str
    status: str
    timings: dict[str, float] = field(default_factory=dict)
    components: int = 0
    components_proven_by_flow: int = 0


class Ledger:
    """What each member and task has taken so far, for feasibility checks."""

    def __init__(self, instance: Instance, cands: cand.Candidates) -> None:
        self.instance = instance
        self.cands = cands
        self.hours: dict[int, float] = defaultdict(float)
        self.count: dict[int, int] = defaultdict(int)
        self.windows: dict[int, list[int]] = defaultdict(list)  # member -> task indices (fixed)
        self.filled: dict[int, int] = defaultdict(int)

    def marginal(self, pair: int) -> int:
        """What taking this pair adds to the objective now."""
        i = self.cands.member[pair]
        m = self.instance.members[i]
        return self.cands.score[pair] - fairness_cost(m, self.count[i] + 1, self.instance.weights)

    def can_take(self, pair: int) -> bool:
        j, i = self.cands.task[pair], self.cands.member[pair]
        task, member = self.instance.tasks[j], self.instance.members[i]
        if self.filled[j] >= self.cands.places[j]:
            return False
        if self.hours[i] + task.effort_hours > member.hours_left + 1e-9:
            return False
        if not task.flexible:
            for k in self.windows[i]:
                other = self.instance.tasks[k]
                if task.start < other.end and other.start < task.end:
                    return False
        return True

    def take(self, pair: int) -> None:
        j, i = self.cands.task[pair], self.cands.member[pair]
        task = self.instance.tasks[j]
        self.hours[i] += task.effort_hours
        self.count[i] += 1
        self.filled[j] += 1
        if not task.flexible:
            self.windows[i].append(j)


def objective(instance: Instance, cands: cand.Candidates, pairs: list[int]) -> int:
    counts: dict[int, int] = defaultdict(int)
    total = 0
    for p in pairs:
        total += cands.score[p]
        counts[cands.member[p]] += 1
    for i, n in counts.items():
        m = instance.members[i]
        total -= sum(fairness_cost(m, k, instance.weights) for k in range(1, n + 1))
    return total


def violations(instance: Instance, cands: cand.Candidates, pairs: list[int]) -> list[str]:
    """Every hard constraint a plan breaks (empty for a valid plan)."""
    problems = []
    ledger = Ledger(instance, cands)
    seen = set()
    for p in sorted(pairs):
        key = (cands.task[p], cands.member[p])
        if key in seen:
            problems.append(f"pair {key} twice")
        seen.add(key)
        if not ledger.can_take(p):
            problems.append(f"pair {key} breaks headcount, hours or overlap")
        ledger.take(p)
    chosen = set(pairs)
    pinned = set(cands.pinned)
    for j in terms.team_tasks(instance):
        mine = [p for p in cands.by_task.get(j, []) if p in chosen]
        # Staff who pin members on a team task make that team themselves: the rule binds the
        # members the plan adds.
        if set(mine) - pinned and terms.uncovered(instance, cands, j, mine):
            missing = sorted(terms.uncovered(instance, cands, j, mine))
            problems.append(f"team of task {j} misses {missing}")
    problems += [f"pinned pair {p} left out" for p in cands.pinned if p not in chosen]
    return problems


def with_pins(instance: Instance, cands: cand.Candidates) -> tuple[Ledger, list[int]]:
    """A ledger holding the pinned pairs, and those pairs: every plan starts from them."""
    ledger = Ledger(instance, cands)
    for p in cands.pinned:
        ledger.take(p)
    return ledger, list(cands.pinned)


def greedy(instance: Instance, cands: cand.Candidates, order: str = "score") -> Plan:
    started = time.perf_counter()
    ledger, chosen = with_pins(instance, cands)
    pinned = set(chosen)
    if order == "fcfs":
        tasks = sorted(
            range(len(instance.tasks)),
            key=lambda j: (instance.tasks[j].posted_at, instance.tasks[j].id),
        )
        for j in tasks:
            for p in sorted(cands.by_task.get(j, []), key=lambda p: (cands.distance_m[p], p)):
                if p not in pinned and ledger.can_take(p):
                    ledger.take(p)
                    chosen.append(p)
    else:
        for p in sorted(range(len(cands)), key=lambda p: (-cands.score[p], p)):
            if p not in pinned and ledger.can_take(p) and ledger.marginal(p) > 0:
                ledger.take(p)
                chosen.append(p)
    chosen = terms.mend_teams(instance, cands, chosen)
    return Plan(
        chosen,
        objective(instance, cands, chosen),
        None,
        order,
        "FEASIBLE",
        {"solve": time.perf_counter() - started},
    )


def components(instance: Instance, cands: cand.Candidates) -> list[list[int]]:
    """Pairs grouped by independent component (tasks and members linked by candidate pairs)."""
    parent = list(range(len(instance.tasks) + len(instance.members)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    n_tasks = len(instance.tasks)
    for p in range(len(cands)):
        a, b = find(cands.task[p]), find(n_tasks + cands.member[p])
        if a != b:
            parent[a] = b
    groups: dict[int, list[int]] = defaultdict(list)
    for p in range(len(cands)):
        groups[find(cands.task[p])].append(p)
    return [groups[k] for k in sorted(groups, key=lambda k: min(groups[k]))]
