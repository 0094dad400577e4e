"""The standby list's turn: a freed place goes first to the members waiting on the task's list,
best score first (the scoring of a run with default weights), then joining order."""

from __future__ import annotations

from datetime import datetime

from services.common.values import distance_m
from services.matching.domain.eligibility import eligible, task_problem
from services.matching.domain.world import World
from services.matching.solver import model as sm

# Standby members chose the task themselves: distance only ranks them, over the district's width.
STANDBY_REACH_M = 20_000.0


def standby_score(world: World, task_id: str, member_id: str, now: datetime) -> float | None:
    """The member's score for the task, or None when they cannot take it now: not eligible,
    outside its scope, refused, already offered or holding it, or busy at that time. The
    member's weekly availability and hours are not asked: they asked for this task."""
    t, m = world.tasks.get(task_id), world.members.get(member_id)
    if t is None or m is None or not eligible(m):
        return None
    if not (m.community_id == t.community_id or (t.street_wide and m.street_id == t.street_id)):
        return None
    key = (task_id, member_id)
    if key in world.refusals or key in world.pending or world.holds_place(task_id, member_id):
        return None
    task, member = world.solver_task(t, now), world.solver_member(m, now)
    if not task.flexible and any(sm.overlaps(task.start, task.end, s, e) for s, e in member.busy):
        return None
    assert m.lat is not None and m.lng is not None
    fit = sm.skill_fit(member, task) or 0.0
    weights = sm.Weights()
    score = sm.pair_score(
        task, member, distance_m(m.lat, m.lng, t.lat, t.lng), fit, weights, now, STANDBY_REACH_M
    )
    return (score - sm.fairness_cost(member, 1, weights)) / sm.SCALE


def choose_standby(world: World, task_id: str, now: datetime) -> list[str]:
    """The standby members to offer the task's free places to, in order; none when the task
    has no free place or nobody waiting can take one."""
    t = world.tasks.get(task_id)
    waiting = world.standby.get(task_id, {})
    if t is None or not waiting or task_problem(t) is not None:
        return []
    free = world.open_places(t, now)
    if free == 0:
        return []
    ranked = []
    for member_id, joined in waiting.items():
        score = standby_score(world, task_id, member_id, now)
        if score is not None:
            ranked.append((-score, joined, member_id))
    ranked.sort()
    return [member_id for *_, member_id in ranked[:free]]


def standby_reason() -> str:
    """What the member and staff read: no distance or score of anyone."""
    return "offered from the standby list: a place was freed"
