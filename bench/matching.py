"""Matching benchmark: every method on instances from the synthetic district, four sizes.

    make bench            (or: .venv/bin/python -m bench.matching [--quick])

Instances (bench/matching_instances.py): one community; the district (4,628 members, 1,500
tasks, ~2,800 places, one-off and recurring mixed); the district with scarce supply (members'
hours cut to 30 %); and a city (the district 22 times side by side: ~100,000 members, 30,000
tasks). Methods: first come first served (what platforms do now), greedy by score, the flow plan
(min-cost flow repaired for hours and overlaps), the exact model per component (SCIP, the
default; and CP-SAT with the same model and the flow plan as hint), and one CP-SAT model over
all eligible pairs with default parameters and no hint (what one would write first).

Columns: candidate build time, solve time, objective (points), the proven upper bound and the
gap to it, places filled, priority places (elderly, children, disabled, poor) filled, mean and
95th-percentile distance from home, the spread of members' hours this month (stdev), rota
stability (slot-weeks served by the slot's usual members), team cover (team tasks staffed with
every skill covered / team tasks) and the events' expected attendance against their headcount.
The exact model is also run without the continuity term: what stable rotas cost the rest of
the objective is printed under the table.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from rich.console import Console
from rich.table import Table

from bench.matching_instances import city, instance
from services.matching.solver import candidates as cand
from services.matching.solver import exact
from services.matching.solver import solve as slv
from services.matching.solver.model import SCALE, Instance, Params
from services.matching.solver.result import explain

console = Console(width=None if sys.stdout.isatty() else 150)


def one_community(inst: Instance, community: str = "chengli") -> Instance:
    return replace(
        inst,
        members=tuple(m for m in inst.members if m.community_id == community),
        tasks=tuple(t for t in inst.tasks if t.community_id == community and not t.street_wide),
    )


def naive_cpsat(inst: Instance, cands: cand.Candidates, limit: float) -> slv.Plan:
    """One CP-SAT model over every pair, default parameters, no hint, no decomposition."""
    started = time.perf_counter()
    pairs = list(range(len(cands)))
    model = exact.exact_model(inst, cands, pairs)
    naive = replace(inst, params=Params(workers=0, gap_target=inst.params.gap_target))
    chosen, value, bound, status = exact.cpsat(naive, cands, model, set(), limit, 10**15)
    return slv.Plan(
        chosen, value, bound, "cpsat-naive", status, {"solve": time.perf_counter() - started}
    )


def row(
    table: Table,
    size: str,
    name: str,
    inst: Instance,
    cands: cand.Candidates,
    plan: slv.Plan,
    build_s: float,
    solve_s: float,
    bound: int | None,
) -> None:
    result = explain(inst, cands, plan)
    f, p = result.priority_filled
    best_bound = (
        min(b for b in (bound, plan.bound) if b is not None)
        if (bound is not None or plan.bound is not None)
        else None
    )
    gap = None if best_bound is None else max(0.0, (best_bound - plan.objective) / best_bound)
    table.add_row(
        size,
        name,
        f"{build_s:.2f}",
        f"{solve_s:.2f}",
        f"{plan.objective / SCALE:,.0f}",
        "-" if best_bound is None else f"{best_bound / SCALE:,.0f}",
        "-" if gap is None else f"{gap * 100:.3f} %",
        f"{result.filled:,}/{result.places:,}",
        f"{f:,}/{p:,}",
        f"{result.mean_distance_m:.0f}",
        f"{result.p95_distance_m:.0f}",
        f"{result.load_spread.get('stdev_hours', 0):.2f}",
        "-" if result.rota_stability is None else f"{result.rota_stability * 100:.1f} %",
        f"{result.teams[0]}/{result.teams[2]}",
        f"{result.attendance[0]:.1f}/{result.attendance[1]}",
    )


def rota_cost(size: str, inst: Instance, cands: cand.Candidates, exact_plan: slv.Plan) -> str:
    """What the continuity term costs the rest of the objective: the exact plan's value without
    the term, against the exact plan of the same instance made without it."""
    flat = replace(
        inst,
        weights=replace(inst.weights, continuity=0.0),
        params=replace(inst.params, method="mip"),
    )
    flat_cands = cand.build(flat)
    t = time.perf_counter()
    flat_plan = slv.solve(flat, flat_cands)
    flat_s = time.perf_counter() - t
    with_term = explain(inst, cands, exact_plan)
    without = explain(flat, flat_cands, flat_plan)
    cost = (without.base_objective - with_term.base_objective) / max(1.0, without.base_objective)
    stable = with_term.rota_stability or 0.0
    was = without.rota_stability or 0.0
    return (
        f"{size}: rota stability {stable * 100:.1f} % with the continuity term, "
        f"{was * 100:.1f} % without (exact, {flat_s:.2f}s); it costs the rest of the objective "
        f"{cost * 100:.3f} %"
    )


def bench(quick: bool) -> None:
    district = instance(params=Params(time_limit_s=30))
    sizes = [
        ("community", one_community(district)),
        ("district", district),
        ("district, scarce", instance(scarce=0.3, params=Params(time_limit_s=30))),
    ]
    if not quick:
        sizes.append(("city", city(params=Params(time_limit_s=60))))
    table = Table(title="Matching: methods by instance (2 cores; times in seconds)")
    costs: list[str] = []
    for col in (
        "instance",
        "method",
        "build",
        "solve",
        "objective",
        "bound",
        "gap",
        "filled",
        "priority",
        "mean m",
        "p95 m",
        "hours sd",
        "rota",
        "teams",
        "attend.",
    ):
        table.add_column(col, justify="left" if col in ("instance", "method") else "right")
    for size, inst in sizes:
        started = time.perf_counter()
        cands = cand.build(inst)
        build_s = time.perf_counter() - started
        console.print(
            f"{size}: {len(inst.members):,} members, {len(inst.tasks):,} tasks, "
            f"{sum(t.places for t in inst.tasks):,} places, {len(cands):,} candidate "
            f"pairs in {build_s:.2f}s"
        )
        plans: list[tuple[str, slv.Plan, float]] = []
        for method in ("fcfs", "greedy", "flow", "mip", "cpsat"):
            t = time.perf_counter()
            plan = slv.solve(replace(inst, params=replace(inst.params, method=method)), cands)
            plans.append((method, plan, time.perf_counter() - t))
        if size != "city":  # one model over a city's 1M+ pairs does not fit this machine's time
            t = time.perf_counter()
            plans.append(("cpsat-naive", naive_cpsat(inst, cands, 10.0), time.perf_counter() - t))
            costs.append(rota_cost(size, inst, cands, plans[3][1]))
        bound = min(p.bound for _, p, _ in plans if p.bound is not None)
        names = {
            "fcfs": "first come first served",
            "greedy": "greedy by score",
            "flow": "flow plan",
            "mip": "exact (SCIP, hinted)",
            "cpsat": "exact (CP-SAT, hinted)",
            "cpsat-naive": "CP-SAT, all pairs, no hint",
        }
        for method, plan, solve_s in plans:
            row(table, size, names[method], inst, cands, plan, build_s, solve_s, bound)
        table.add_section()
    console.print(table)
    for line in costs:
        console.print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="leave out the city")
    args = parser.parse_args(argv)
    bench(args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
