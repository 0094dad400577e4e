"""The min-cost flow relaxation (a proven upper bound: it drops hours as hours and overlaps) and
its repair into a feasible plan."""

from __future__ import annotations

import math

import numpy as np
from ortools.graph.python import min_cost_flow

from services.matching.solver import candidates as cand
from services.matching.solver import terms
from services.matching.solver.heuristics import with_pins
from services.matching.solver.model import Instance, fairness_cost


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
    total_places = sum(cands.places)
    arcs += [(source, j, n, 0) for j, n in enumerate(cands.places)]
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
    the places left with the best pairs that still fit; teams made whole."""
    ledger, chosen = with_pins(instance, cands)
    pinned = set(chosen)
    for p in sorted(relaxed, key=lambda p: (-cands.score[p], p)):
        if p not in pinned and ledger.can_take(p):
            ledger.take(p)
            chosen.append(p)
    taken = set(chosen)
    for p in sorted(range(len(cands)), key=lambda p: (-cands.score[p], p)):
        if p not in taken and ledger.can_take(p) and ledger.marginal(p) > 0:
            ledger.take(p)
            chosen.append(p)
    return terms.mend_teams(instance, cands, chosen)
