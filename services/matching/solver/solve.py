"""Solving the matching problem: greedy yardsticks, a min-cost flow plan, and CP-SAT.

- `greedy` takes pairs by score (and `fcfs` places in the order tasks were posted, each to the
  nearest member who can take it: first come, first served, as volunteer platforms do today).
- The min-cost flow routes places to members with the fairness cost on parallel member arcs. It
  drops two constraints (hours are capped as a count, overlaps are ignored), so its optimum is a
  proven upper bound; repaired for hours and overlaps and topped up greedily it is a feasible plan.
- The exact model is solved per independent component (members serve only their community, so a
  district splits into small problems), seeded with the flow plan as a complete hint, and reports
  its proven bound. Components where the flow plan already meets the flow bound are proven optimal
  without it. The default engine is SCIP (OR-Tools' MIP interface): this model's LP relaxation is
  nearly integral (a few dozen fractional values in ten thousand), so branch-and-bound proves a
  district's optimum in a couple of seconds, where CP-SAT, given the same model and hint, spends
  its time in presolve and stays ~0.2 % short (bench/matching.py measures both). CP-SAT
  stays available as `method="cpsat"`.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from ortools.graph.python import min_cost_flow
from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from services.matching.solver import candidates as cand
from services.matching.solver.model import SCALE, Instance, fairness_cost


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


class _Ledger:
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
        if self.filled[j] >= task.places:
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
    ledger = _Ledger(instance, cands)
    seen = set()
    for p in sorted(pairs):
        key = (cands.task[p], cands.member[p])
        if key in seen:
            problems.append(f"pair {key} twice")
        seen.add(key)
        if not ledger.can_take(p):
            problems.append(f"pair {key} breaks headcount, hours or overlap")
        ledger.take(p)
    return problems


def greedy(instance: Instance, cands: cand.Candidates, order: str = "score") -> Plan:
    started = time.perf_counter()
    ledger = _Ledger(instance, cands)
    chosen: list[int] = []
    if order == "fcfs":
        tasks = sorted(
            range(len(instance.tasks)),
            key=lambda j: (instance.tasks[j].posted_at, instance.tasks[j].id),
        )
        for j in tasks:
            for p in sorted(cands.by_task.get(j, []), key=lambda p: (cands.distance_m[p], p)):
                if ledger.can_take(p):
                    ledger.take(p)
                    chosen.append(p)
    else:
        for p in sorted(range(len(cands)), key=lambda p: (-cands.score[p], p)):
            if ledger.can_take(p) and ledger.marginal(p) > 0:
                ledger.take(p)
                chosen.append(p)
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


def _unit_cap(instance: Instance, cands: cand.Candidates, i: int) -> int:
    """How many tasks a member could take at most, counting hours by the shortest candidate."""
    pairs = cands.by_member.get(i, [])
    if not pairs:
        return 0
    shortest = min(instance.tasks[cands.task[p]].effort_hours for p in pairs)
    return min(len(pairs), math.floor(instance.members[i].hours_left / shortest + 1e-9))


def flow_bound(instance: Instance, cands: cand.Candidates) -> list[int]:
    """Solve the flow relaxation; return the pairs it routes (their objective bounds the
    optimum, component by component)."""
    n_t, n_m = len(instance.tasks), len(instance.members)
    source, sink = n_t + n_m, n_t + n_m + 1
    arcs: list[tuple[int, int, int, int]] = []  # (tail, head, capacity, unit cost)
    total_places = sum(t.places for t in instance.tasks)
    arcs += [(source, j, t.places, 0) for j, t in enumerate(instance.tasks)]
    first_pair_arc = len(arcs)
    arcs += [(cands.task[p], n_t + cands.member[p], 1, -cands.score[p]) for p in range(len(cands))]
    for i in range(n_m):
        # Parallel arcs with rising cost: the k-th task of a member costs its fairness step.
        arcs += [
            (n_t + i, sink, 1, fairness_cost(instance.members[i], k, instance.weights))
            for k in range(1, _unit_cap(instance, cands, i) + 1)
        ]
    arcs.append((source, sink, total_places, 0))  # places may stay empty
    table = np.array(arcs, dtype=np.int64)
    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(
        table[:, 0].astype(np.int32), table[:, 1].astype(np.int32), table[:, 2], table[:, 3]
    )
    supplies = np.zeros(n_t + n_m + 2, dtype=np.int64)
    supplies[source], supplies[sink] = total_places, -total_places
    smcf.set_nodes_supplies(np.arange(len(supplies), dtype=np.int32), supplies)
    status = smcf.solve()
    if status != smcf.OPTIMAL:
        raise RuntimeError(f"min-cost flow did not solve: status {status}")
    flows = smcf.flows(np.arange(smcf.num_arcs(), dtype=np.int32))
    return [p for p in range(len(cands)) if flows[first_pair_arc + p] > 0]


def repair(instance: Instance, cands: cand.Candidates, relaxed: list[int]) -> list[int]:
    """Make the flow's pairs feasible (drop the weakest breaking hours or overlaps), then top up
    the places left with the best pairs that still fit."""
    ledger = _Ledger(instance, cands)
    chosen = []
    for p in sorted(relaxed, key=lambda p: (-cands.score[p], p)):
        if ledger.can_take(p):
            ledger.take(p)
            chosen.append(p)
    taken = set(chosen)
    for p in sorted(range(len(cands)), key=lambda p: (-cands.score[p], p)):
        if p not in taken and ledger.can_take(p) and ledger.marginal(p) > 0:
            ledger.take(p)
            chosen.append(p)
    return sorted(chosen)


def _cliques(instance: Instance, pairs: list[int], cands: cand.Candidates) -> list[list[int]]:
    """Maximal sets of one member's candidate pairs whose fixed windows all overlap."""
    events = []
    for p in pairs:
        t = instance.tasks[cands.task[p]]
        if not t.flexible:
            events.append((t.start, 1, p))
            events.append((t.end, 0, p))
    events.sort(key=lambda e: (e[0], e[1], e[2]))  # ends before starts at the same instant
    active: set[int] = set()
    out = []
    grew = False
    for _when, kind, p in events:
        if kind == 1:
            active.add(p)
            grew = True
        else:
            if grew and len(active) > 1:
                out.append(sorted(active))
            grew = False
            active.discard(p)
    return out


@dataclass
class _Exact:
    """One component's exact model, independent of the engine that solves it."""

    pairs: list[int]
    places: dict[int, list[int]]  # task -> pairs, where more pairs than places
    hours: dict[int, tuple[dict[int, int], int]]  # member -> (pair -> hundredths, capacity)
    cliques: list[list[int]]  # pairs of one member whose windows all overlap
    chains: dict[int, list[int]]  # member -> fairness cost of its k-th task, k = 1..
    member_pairs: dict[int, list[int]]


def _exact_model(instance: Instance, cands: cand.Candidates, pairs: list[int]) -> _Exact:
    by_task: dict[int, list[int]] = defaultdict(list)
    by_member: dict[int, list[int]] = defaultdict(list)
    for p in pairs:
        by_task[cands.task[p]].append(p)
        by_member[cands.member[p]].append(p)
    places = {j: ps for j, ps in by_task.items() if len(ps) > instance.tasks[j].places}
    hours: dict[int, tuple[dict[int, int], int]] = {}
    cliques: list[list[int]] = []
    chains: dict[int, list[int]] = {}
    for i, ps in by_member.items():
        member = instance.members[i]
        efforts = {p: math.ceil(instance.tasks[cands.task[p]].effort_hours * 100) for p in ps}
        capacity = math.floor(member.hours_left * 100 + 1e-6)
        if sum(efforts.values()) > capacity:
            hours[i] = (efforts, capacity)
        cliques += _cliques(instance, ps, cands)
        chains[i] = [fairness_cost(member, k, instance.weights) for k in range(1, len(ps) + 1)]
    return _Exact(pairs, places, hours, cliques, chains, by_member)


def _mip(
    instance: Instance,
    cands: cand.Candidates,
    m: _Exact,
    hint: set[int],
    time_limit_s: float,
    _upper_bound: int,
) -> tuple[list[int], int, int, str]:
    """SCIP branch-and-bound: the LP relaxation here is nearly integral, so it proves fast."""
    solver = pywraplp.Solver.CreateSolver("SCIP")
    if solver is None:
        raise RuntimeError("OR-Tools was built without SCIP")
    inf = solver.infinity()
    # Rows and coefficients through the low-level API: building expressions in Python would
    # cost as much time as solving.
    x = {p: solver.BoolVar(f"x{p}") for p in m.pairs}
    objective_row = solver.Objective()
    for p in m.pairs:
        objective_row.SetCoefficient(x[p], cands.score[p])
    for j, ps in m.places.items():
        row = solver.Constraint(-inf, instance.tasks[j].places)
        for p in ps:
            row.SetCoefficient(x[p], 1)
    for efforts, capacity in m.hours.values():
        row = solver.Constraint(-inf, capacity)
        for p, effort in efforts.items():
            row.SetCoefficient(x[p], effort)
    for clique in m.cliques:
        row = solver.Constraint(-inf, 1)
        for p in clique:
            row.SetCoefficient(x[p], 1)
    for i, costs in m.chains.items():
        # Convex costs: the relaxation fills the cheapest steps first, so y may stay continuous.
        row = solver.Constraint(0, 0)  # sum of y == number of tasks taken
        for k, cost in enumerate(costs):
            y = solver.NumVar(0, 1, f"y{i}_{k}")
            objective_row.SetCoefficient(y, -cost)
            row.SetCoefficient(y, 1)
        for p in m.member_pairs[i]:
            row.SetCoefficient(x[p], -1)
    objective_row.SetMaximization()
    solver.SetHint(list(x.values()), [1.0 if p in hint else 0.0 for p in m.pairs])
    solver.SetTimeLimit(max(50, int(time_limit_s * 1000)))
    solver.SetSolverSpecificParametersAsString(
        f"limits/gap = {instance.params.gap_target}\n"
        f"randomization/randomseedshift = {instance.params.seed}\n"
    )
    status = solver.Solve()
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return sorted(hint), objective(instance, cands, sorted(hint)), _upper_bound, "UNKNOWN"
    chosen = [p for p in m.pairs if x[p].solution_value() > 0.5]
    bound = math.floor(solver.Objective().BestBound() + 1e-6)
    return (
        chosen,
        objective(instance, cands, chosen),
        bound,
        "OPTIMAL" if status == pywraplp.Solver.OPTIMAL else "FEASIBLE",
    )


def _cpsat(
    instance: Instance,
    cands: cand.Candidates,
    m: _Exact,
    hint: set[int],
    time_limit_s: float,
    upper_bound: int,
) -> tuple[list[int], int, int, str]:
    """CP-SAT on the same model, seeded with a complete hint (fairness helpers included)."""
    model = cp_model.CpModel()
    x = {p: model.new_bool_var(f"x{p}") for p in m.pairs}
    for j, ps in m.places.items():
        model.add(sum(x[p] for p in ps) <= instance.tasks[j].places)
    for efforts, capacity in m.hours.values():
        model.add(sum(efforts[p] * x[p] for p in efforts) <= capacity)
    for clique in m.cliques:
        model.add_at_most_one(x[p] for p in clique)
    terms = [(cands.score[p], x[p]) for p in m.pairs]
    hinted: dict[int, int] = defaultdict(int)
    for p in hint:
        hinted[cands.member[p]] += 1
    for i, costs in m.chains.items():
        # y[k] is "the member takes at least k tasks"; its cost rises with k.
        ys = [model.new_bool_var(f"y{i}_{k}") for k in range(1, len(costs) + 1)]
        model.add(sum(ys) == sum(x[p] for p in m.member_pairs[i]))
        for a, b in itertools.pairwise(ys):
            model.add_implication(b, a)
        for k, (c, y) in enumerate(zip(costs, ys, strict=True), start=1):
            terms.append((-c, y))
            model.add_hint(y, k <= hinted[i])
    for p in m.pairs:
        model.add_hint(x[p], p in hint)
    objective_expr = sum(c * v for c, v in terms)
    model.add(objective_expr <= upper_bound)
    model.maximize(objective_expr)
    solver = cp_model.CpSolver()
    prm = instance.params
    solver.parameters.max_time_in_seconds = max(0.05, time_limit_s)
    solver.parameters.relative_gap_limit = prm.gap_target
    solver.parameters.num_workers = max(1, prm.workers)
    solver.parameters.random_seed = prm.seed
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return sorted(hint), objective(instance, cands, sorted(hint)), upper_bound, "UNKNOWN"
    chosen = [p for p in m.pairs if solver.boolean_value(x[p])]
    return (
        chosen,
        objective(instance, cands, chosen),
        math.floor(solver.best_objective_bound + 1e-6),
        solver.status_name(status),
    )


ENGINES = {"mip": _mip, "cpsat": _cpsat}


def solve(instance: Instance, cands: cand.Candidates) -> Plan:
    method = instance.params.method
    if method in ("greedy", "fcfs"):
        return greedy(instance, cands, "fcfs" if method == "fcfs" else "score")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    relaxed = flow_bound(instance, cands)
    timings["flow"] = time.perf_counter() - started
    t = time.perf_counter()
    repaired = repair(instance, cands, relaxed)
    timings["repair"] = time.perf_counter() - t

    comps = components(instance, cands)
    relaxed_set = set(relaxed)
    # The heuristics' plans, component by component: a component's part of any feasible plan is
    # feasible on its own (hours, overlaps and places never cross components), so the best part
    # of each is kept and handed to the exact model as its hint. The plan returned is never worse
    # than any heuristic computed here, whatever the exact engine does within its gap target.
    heuristics = [
        set(repaired),
        set(greedy(instance, cands, "score").pairs),
        set(greedy(instance, cands, "fcfs").pairs),
    ]
    comp_bound, comp_value, comp_best = [], [], []
    for ps in comps:
        comp_bound.append(objective(instance, cands, [p for p in ps if p in relaxed_set]))
        parts = [[p for p in ps if p in h] for h in heuristics]
        values = [objective(instance, cands, part) for part in parts]
        k = max(range(len(parts)), key=lambda n: (values[n], -n))
        comp_best.append(parts[k])
        comp_value.append(values[k])
    proven = sum(v >= b for v, b in zip(comp_value, comp_bound, strict=True))
    best = sorted(p for part in comp_best for p in part)
    plan = Plan(
        best,
        sum(comp_value),
        sum(comp_bound),
        "flow",
        _status(sum(comp_value), sum(comp_bound), instance.params.gap_target),
        timings,
        len(comps),
        proven,
    )
    if method == "flow" or plan.status == OPTIMAL:
        return plan

    engine_name = "cpsat" if method == "cpsat" else "mip"
    engine = ENGINES[engine_name]
    t = time.perf_counter()
    open_comps = {c for c, (v, b) in enumerate(zip(comp_value, comp_bound, strict=True)) if v < b}
    budget = max(0.0, instance.params.time_limit_s - (t - started))
    weight = sum(len(comps[c]) for c in open_comps) or 1
    chosen: list[int] = []
    total, bound = 0, 0

    def exact(c: int) -> tuple[list[int], int, int]:
        ps = comps[c]
        hint = set(comp_best[c])
        got, value, exact_bound, _status = engine(
            instance,
            cands,
            _exact_model(instance, cands, ps),
            hint,
            budget * len(ps) / weight,
            comp_bound[c],
        )
        if value < comp_value[c]:  # never worse than the plan it was given
            got, value = sorted(hint), comp_value[c]
        return got, value, max(value, min(exact_bound, comp_bound[c]))

    # The solvers release the GIL while they search: independent components go side by side.
    with ThreadPoolExecutor(max_workers=min(len(open_comps), os.cpu_count() or 1) or 1) as pool:
        solved = dict(zip(sorted(open_comps), pool.map(exact, sorted(open_comps)), strict=True))
    for c in range(len(comps)):
        if c in solved:
            got, value, best_bound = solved[c]
            chosen += got
            total += value
            bound += best_bound
        else:
            chosen += comp_best[c]
            total += comp_value[c]
            bound += comp_value[c]
    timings[engine_name] = time.perf_counter() - t
    return Plan(
        sorted(chosen),
        total,
        bound,
        engine_name,
        _status(total, bound, instance.params.gap_target),
        timings,
        len(comps),
        proven,
    )


# What a plan's status says: OPTIMAL only when its value meets the proven bound; WITHIN_GAP when
# the bound proves it within the gap target asked for (the engines may stop there); else FEASIBLE.
OPTIMAL, WITHIN_GAP, FEASIBLE = "OPTIMAL", "WITHIN_GAP", "FEASIBLE"


def _status(value: int, bound: int, gap_target: float) -> str:
    if value >= bound:
        return OPTIMAL
    if (bound - value) / max(1, abs(bound)) <= gap_target:
        return WITHIN_GAP
    return FEASIBLE


def gap(plan: Plan) -> float | None:
    if plan.bound is None:
        return None
    return max(0.0, (plan.bound - plan.objective) / max(1, abs(plan.bound)))


__all__ = [
    "FEASIBLE",
    "OPTIMAL",
    "SCALE",
    "WITHIN_GAP",
    "Plan",
    "gap",
    "greedy",
    "objective",
    "solve",
    "violations",
]
