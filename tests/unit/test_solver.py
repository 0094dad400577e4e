"""The matching solver on random instances: never a broken constraint, the optimum on small
ones (checked by exhaustive search), never worse than greedy, and the same answer twice."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.matching.solver import candidates as cand
from services.matching.solver import solve as slv
from services.matching.solver.model import Instance, Member, Params, Task, WeeklyWindow
from services.matching.solver.result import run

NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
# Tuesday 2026-12-01 in Shanghai; slots on that evening overlap in chains.
SLOTS = [(10, 12), (11, 13), (12, 14), (10, 11)]  # UTC hours: 18:00-20:00 local and so on
SKILLS = ("errands", "tutoring", "repair_general")
ALWAYS = tuple(WeeklyWindow(d, 0, 1440) for d in range(1, 8))


@st.composite
def instances(draw: st.DrawFn, max_members: int = 4, max_tasks: int = 4) -> Instance:
    n_members = draw(st.integers(1, max_members))
    n_tasks = draw(st.integers(1, max_tasks))
    members = tuple(
        Member(
            id=f"m{i}",
            lat=36.98 + draw(st.floats(0, 0.01)),
            lng=117.17 + draw(st.floats(0, 0.01)),
            community_id="c",
            street_id="s",
            skills={s: draw(st.integers(1, 3)) for s in draw(st.sets(st.sampled_from(SKILLS)))},
            availability=ALWAYS if draw(st.booleans()) else (WeeklyWindow(2, 0, 1440),),
            hours_left=draw(st.sampled_from([0.0, 1.0, 2.0, 3.0, 4.5])),
            load_hours=draw(st.sampled_from([0.0, 5.0, 20.0])),
            reliability=draw(st.floats(0, 1)),
        )
        for i in range(n_members)
    )
    tasks = []
    for j in range(n_tasks):
        a, b = draw(st.sampled_from(SLOTS))
        flexible = draw(st.booleans())
        tasks.append(
            Task(
                id=f"t{j}",
                lat=36.98 + draw(st.floats(0, 0.01)),
                lng=117.17 + draw(st.floats(0, 0.01)),
                community_id="c",
                street_id="s",
                street_wide=False,
                skills=tuple(
                    (s, draw(st.integers(1, 2)))
                    for s in draw(st.sets(st.sampled_from(SKILLS), max_size=1))
                ),
                places=draw(st.integers(1, 2)),
                start=NOW + timedelta(hours=a),
                end=NOW + timedelta(hours=b if not flexible else 200),
                flexible=flexible,
                effort_hours=draw(st.sampled_from([1.0, 1.5, 2.0])),
                beneficiary=draw(st.sampled_from(["elderly", "child", "other"])),
                posted_at=NOW - timedelta(hours=j),
            )
        )
    return Instance(members, tuple(tasks), NOW)


def brute_force(instance: Instance, cands: cand.Candidates) -> int:
    best = 0
    pairs = range(len(cands))
    for r in range(1, len(cands) + 1):
        for subset in itertools.combinations(pairs, r):
            chosen = list(subset)
            if not slv.violations(instance, cands, chosen):
                best = max(best, slv.objective(instance, cands, chosen))
    return best


METHODS = ("fcfs", "greedy", "flow", "mip", "cpsat")


@settings(max_examples=60, deadline=None)
@given(instances(max_members=6, max_tasks=6))
def test_no_method_ever_breaks_a_constraint(instance: Instance) -> None:
    cands = cand.build(instance)
    for method in METHODS:
        plan = slv.solve(replace(instance, params=Params(method=method, time_limit_s=2)), cands)
        assert slv.violations(instance, cands, plan.pairs) == [], method
        assert plan.objective == slv.objective(instance, cands, plan.pairs)


@settings(max_examples=60, deadline=None)
@given(instances(max_members=3, max_tasks=3))
def test_on_small_instances_the_exact_solvers_find_the_optimum(instance: Instance) -> None:
    cands = cand.build(instance)
    if len(cands) > 12:
        return  # exhaustive search would take too long; other examples cover the property
    optimum = brute_force(instance, cands)
    for method in ("mip", "cpsat", "auto"):
        plan = slv.solve(replace(instance, params=Params(method=method, gap_target=0)), cands)
        assert plan.objective == optimum, method
        assert plan.bound is None or plan.bound >= optimum


@settings(max_examples=60, deadline=None)
@given(instances(max_members=6, max_tasks=6))
def test_the_solver_is_never_worse_than_greedy_and_its_bound_holds(instance: Instance) -> None:
    cands = cand.build(instance)
    for method in ("auto", "flow", "mip", "cpsat"):
        best = slv.solve(replace(instance, params=Params(method=method)), cands)
        for yardstick in ("greedy", "fcfs"):
            other = slv.solve(replace(instance, params=Params(method=yardstick)), cands)
            assert best.objective >= other.objective, (method, yardstick)
        assert best.bound is not None and best.bound >= best.objective


@settings(max_examples=60, deadline=None)
@given(instances(max_members=6, max_tasks=6), st.sampled_from([0.0, 0.0001, 0.05, 0.1]))
def test_a_plan_is_called_optimal_only_when_it_meets_its_proven_bound(
    instance: Instance, gap_target: float
) -> None:
    """A loose gap target lets the exact engine stop early: that plan is WITHIN_GAP, never
    OPTIMAL, unless its value meets the bound."""
    cands = cand.build(instance)
    for method in ("auto", "flow", "mip", "cpsat"):
        plan = slv.solve(
            replace(instance, params=Params(method=method, gap_target=gap_target)), cands
        )
        assert plan.bound is not None
        assert plan.status in (slv.OPTIMAL, slv.WITHIN_GAP, slv.FEASIBLE)
        if plan.status == slv.OPTIMAL:
            assert plan.objective >= plan.bound, method
        if plan.status == slv.WITHIN_GAP:
            assert 0 < (slv.gap(plan) or 0.0) <= gap_target, method


def test_the_same_instance_gives_the_same_plan_twice() -> None:
    from bench.matching_instances import instance as district

    inst = district(small=True, tasks=150)
    first, second = run(inst), run(inst)
    assert [(a.task_id, a.member_id) for a in first.assignments] == [
        (a.task_id, a.member_id) for a in second.assignments
    ]
    assert first.objective == second.objective


def test_candidates_come_only_from_the_task_community_within_reach() -> None:
    from bench.matching_instances import instance as district

    inst = district(small=True, tasks=120)
    cands = cand.build(inst)
    assert len(cands) > 0
    for p in range(len(cands)):
        task, member = inst.tasks[cands.task[p]], inst.members[cands.member[p]]
        if task.street_wide:
            assert member.street_id == task.street_id
        else:
            assert member.community_id == task.community_id
        assert cands.distance_m[p] <= inst.params.max_distance_m
        assert member.hours_left >= task.effort_hours


def test_an_empty_place_says_why() -> None:
    member = Member("m", 36.98, 117.17, "c", "s", {"errands": 1}, ALWAYS, 10, 0)
    far = Task(
        "far",
        37.05,
        117.28,
        "c",
        "s",
        False,
        (),
        1,
        NOW + timedelta(hours=10),
        NOW + timedelta(hours=12),
        False,
        1,
        "elderly",
        NOW,
    )
    skill = replace(far, id="skill", lat=36.98, lng=117.17, skills=(("medical", 1),))
    busy = replace(far, id="busy", lat=36.98, lng=117.17)
    result = run(
        Instance((replace(member, busy=((busy.start, busy.end),)),), (far, skill, busy), NOW)
    )
    reasons = {u.task_id: u.reason for u in result.unfilled}
    assert reasons == {"far": "no_member_in_reach", "skill": "no_skill", "busy": "time_clash"}
