"""Planning an instance in a worker thread: candidates, the plan, its explanation, and first
come first served on the same input (the yardstick every run reports)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from services.matching.solver import candidates as cand
from services.matching.solver import solve as slv
from services.matching.solver.heuristics import Plan
from services.matching.solver.model import Instance
from services.matching.solver.result import Result, explain


@dataclass
class Planned:
    result: Result
    fcfs: Plan
    candidates_s: float
    solve_s: float
    # The (task, member) pairs staff pinned that could be planned (candidates that fit).
    pinned: frozenset[tuple[str, str]]


def plan(instance: Instance) -> Planned:
    started = time.perf_counter()
    cands = cand.build(instance)
    built = time.perf_counter() - started
    chosen = slv.solve(instance, cands)
    result = explain(instance, cands, chosen)
    fcfs = slv.greedy(instance, cands, "fcfs")
    pinned = frozenset(
        (instance.tasks[cands.task[p]].id, instance.members[cands.member[p]].id)
        for p in cands.pinned
    )
    return Planned(result, fcfs, built, time.perf_counter() - started - built, pinned)
