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

The pieces live beside this module: `heuristics` (plans, greedy, first come first served),
`flow` (the relaxation and its repair), `exact` (the model and its two engines).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

from services.matching.solver import candidates as cand
from services.matching.solver.exact import ENGINES, exact_model
from services.matching.solver.flow import flow_bound, repair
from services.matching.solver.heuristics import (
    Plan,
    components,
    greedy,
    objective,
    violations,
)
from services.matching.solver.model import SCALE, Instance


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
        # The flow drops hours (as hours), overlaps, teams and pins: the value of its pairs
        # bounds the component's optimum.
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
            exact_model(instance, cands, ps),
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
