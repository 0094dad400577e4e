"""The exact model of one independent component, and the two engines that solve it: SCIP
(OR-Tools' MIP interface, the default) and CP-SAT, both seeded with a complete hint."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass

from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from services.matching.solver import candidates as cand
from services.matching.solver import terms
from services.matching.solver.heuristics import objective
from services.matching.solver.model import Instance, fairness_cost


def window_cliques(instance: Instance, pairs: list[int], cands: cand.Candidates) -> list[list[int]]:
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
class ExactModel:
    """One component's exact model, independent of the engine that solves it."""

    pairs: list[int]
    places: dict[int, list[int]]  # task -> pairs, where more pairs than places
    hours: dict[int, tuple[dict[int, int], int]]  # member -> (pair -> hundredths, capacity)
    cliques: list[list[int]]  # pairs of one member whose windows all overlap
    chains: dict[int, list[int]]  # member -> fairness cost of its k-th task, k = 1..
    member_pairs: dict[int, list[int]]
    # task -> (its pairs, per skill the pairs bringing it): a team covers every skill or none.
    teams: dict[int, tuple[list[int], list[list[int]]]]
    pins: list[int]


def exact_model(instance: Instance, cands: cand.Candidates, pairs: list[int]) -> ExactModel:
    by_task: dict[int, list[int]] = defaultdict(list)
    by_member: dict[int, list[int]] = defaultdict(list)
    for p in pairs:
        by_task[cands.task[p]].append(p)
        by_member[cands.member[p]].append(p)
    places = {j: ps for j, ps in by_task.items() if len(ps) > cands.places[j]}
    hours: dict[int, tuple[dict[int, int], int]] = {}
    cliques: list[list[int]] = []
    chains: dict[int, list[int]] = {}
    for i, ps in by_member.items():
        member = instance.members[i]
        efforts = {p: math.ceil(instance.tasks[cands.task[p]].effort_hours * 100) for p in ps}
        capacity = math.floor(member.hours_left * 100 + 1e-6)
        if sum(efforts.values()) > capacity:
            hours[i] = (efforts, capacity)
        cliques += window_cliques(instance, ps, cands)
        chains[i] = [fairness_cost(member, k, instance.weights) for k in range(1, len(ps) + 1)]
    teams = {}
    pinned = set(cands.pinned)
    for j in terms.team_tasks(instance):
        if j in by_task:
            ps = [p for p in by_task[j] if p not in pinned]  # pins bind no team (violations)
            # Pins count towards the cover: a team the plan completes may include them.
            bring = [
                [p for p in by_task[j] if code in cands.covers[p]]
                for code, _ in instance.tasks[j].skills
            ]
            teams[j] = (ps, bring)
    wanted = set(pairs)
    pins = [p for p in cands.pinned if p in wanted]
    return ExactModel(pairs, places, hours, cliques, chains, by_member, teams, pins)


def mip(
    instance: Instance,
    cands: cand.Candidates,
    m: ExactModel,
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
        row = solver.Constraint(-inf, cands.places[j])
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
    for j, (ps, bring) in m.teams.items():
        staffed = solver.BoolVar(f"team{j}")
        row = solver.Constraint(-inf, 0)  # no member without the team
        row.SetCoefficient(staffed, -cands.places[j])
        for p in ps:
            row.SetCoefficient(x[p], 1)
        for covering in bring:  # every skill brought by someone, once staffed
            row = solver.Constraint(0, inf)
            row.SetCoefficient(staffed, -1)
            for p in covering:
                row.SetCoefficient(x[p], 1)
    for p in m.pins:
        x[p].SetLb(1)
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


def cpsat(
    instance: Instance,
    cands: cand.Candidates,
    m: ExactModel,
    hint: set[int],
    time_limit_s: float,
    upper_bound: int,
) -> tuple[list[int], int, int, str]:
    """CP-SAT on the same model, seeded with a complete hint (fairness helpers included)."""
    model = cp_model.CpModel()
    x = {p: model.new_bool_var(f"x{p}") for p in m.pairs}
    for j, ps in m.places.items():
        model.add(sum(x[p] for p in ps) <= cands.places[j])
    for efforts, capacity in m.hours.values():
        model.add(sum(efforts[p] * x[p] for p in efforts) <= capacity)
    for clique in m.cliques:
        model.add_at_most_one(x[p] for p in clique)
    parts = [(cands.score[p], x[p]) for p in m.pairs]
    for j, (ps, bring) in m.teams.items():
        staffed = model.new_bool_var(f"team{j}")
        model.add(sum(x[p] for p in ps) <= cands.places[j] * staffed)
        for covering in bring:
            model.add(sum(x[p] for p in covering) >= staffed)
        model.add_hint(staffed, any(p in hint for p in ps))
    for p in m.pins:
        model.add(x[p] == 1)
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
            parts.append((-c, y))
            model.add_hint(y, k <= hinted[i])
    for p in m.pairs:
        model.add_hint(x[p], p in hint)
    objective_expr = sum(c * v for c, v in parts)
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


ENGINES = {"mip": mip, "cpsat": cpsat}
