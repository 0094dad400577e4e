"""Suggestions from the world in memory: the best members for a task's free places, and the
best open tasks for a member, each shown as the caller may see it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from services.common.values import PRIORITY_GROUPS, distance_m, public_place
from services.matching.domain.eligibility import eligible, task_problem
from services.matching.domain.privacy import NEUTRAL_FIT, NEUTRAL_RELIABILITY, banded
from services.matching.domain.rows import MemberRow, TaskRow
from services.matching.domain.world import World
from services.matching.solver import model as sm

# A suggestion: (member or task, score, distance, reason).
Suggestion = tuple[str, float, float, str]


def _pair(
    world: World,
    t: TaskRow,
    m: MemberRow,
    member: sm.Member,
    task: sm.Task,
    now: datetime,
    weights: sm.Weights,
    reach: float,
    distance: float,
    neutral: bool = False,
) -> tuple[float, str] | None:
    """(net score, reason without the distance) when the member could take the task at this
    distance, else None. The distance is the one the caller may know: everything shown
    (score, order, whether it is shown at all) follows from it and nothing finer. When
    `neutral`, the member's record (skill levels above the minimum, reliability, hours
    this month) is not the caller's to know: the score is that of any member who meets the
    task's minimums with an unknown record."""
    if (t.id, m.id) in world.refusals or (t.id, m.id) in world.pending:
        return None
    if world.holds_place(t.id, m.id):
        return None
    if distance > reach:
        return None
    fit = sm.skill_fit(member, task)
    if fit is None or not sm.available(member, task):
        return None
    if member.hours_left + 1e-9 < task.effort_hours:
        return None
    if not task.flexible and any(sm.overlaps(task.start, task.end, s, e) for s, e in member.busy):
        return None
    scored = member
    if neutral:
        fit, scored = (
            NEUTRAL_FIT,
            # Nor whether they work in the paired unit: their employer is theirs to tell.
            replace(member, reliability=NEUTRAL_RELIABILITY, load_hours=0, unit_id=""),
        )
    score = sm.pair_score(task, scored, distance, fit, weights, now, reach)
    net = (score - sm.fairness_cost(scored, 1, weights)) / sm.SCALE
    skills = ", ".join(f"{code} {member.skills.get(code, 0)}" for code, _ in task.skills)
    reason = (
        (f"skills {skills}; " if skills else "")
        + f"{member.load_hours:.1f} h this month, {member.hours_left:.1f} h left"
        + ("; serves a priority group" if task.beneficiary in PRIORITY_GROUPS else "")
    )
    return net, reason


def suggest_members(
    world: World,
    task_id: str,
    limit: int,
    now: datetime,
    weights: sm.Weights,
    reach: float,
    exact: Callable[[MemberRow], bool] = lambda _m: True,
) -> list[Suggestion]:
    """The best members for a task's free places: (member, score, distance, reason).

    For a member `exact` says no to (outside the caller's scope) the distance is measured
    from their home's public cell and shown as its band, and the score and order follow from
    that banded distance only: nobody's home is found by moving a task about. Their reason
    is that band alone, without their skills or hours."""
    t = world.tasks.get(task_id)
    if t is None or task_problem(t) is not None or world.open_places(t, now) == 0:
        return []
    task = world.solver_task(t, now)
    out = []
    for m in world.members.values():
        if not eligible(m):
            continue
        if not (m.community_id == t.community_id or (t.street_wide and m.street_id == t.street_id)):
            continue
        assert m.lat is not None and m.lng is not None
        seen = exact(m)
        if seen:
            distance = distance_m(m.lat, m.lng, t.lat, t.lng)
            shown = f"{distance:.0f} m from home"
        else:
            distance = banded(distance_m(*public_place(m.lat, m.lng), t.lat, t.lng))
            shown = f"within {distance:.0f} m of home"
        member = world.solver_member(m, now)
        found = _pair(world, t, m, member, task, now, weights, reach, distance, not seen)
        if found is not None:
            # Skill levels and hours are the member's record, for those who see the member.
            out.append((m.id, found[0], distance, f"{shown}; {found[1]}" if seen else shown))
    out.sort(key=lambda r: (-r[1], r[2], r[0]))
    return out[:limit]


def suggest_tasks(
    world: World,
    member_id: str,
    limit: int,
    now: datetime,
    weights: sm.Weights,
    reach: float,
    visible: Callable[[TaskRow], bool] = lambda _t: True,
) -> list[Suggestion]:
    """The best open tasks for a member: (task, score, distance, reason).

    A member is told the distance to the task's public place (rounded as the task service
    shows it), never to a resident's exact home; the score, the order and the reach are
    computed from that same public place, so moving one's own home about reveals nothing
    finer than the public cell."""
    m = world.members.get(member_id)
    if m is None or not eligible(m):
        return []
    assert m.lat is not None and m.lng is not None
    member = world.solver_member(m, now)
    out = []
    for t in world.tasks.values():
        if task_problem(t) is not None or world.open_places(t, now) == 0:
            continue
        if not (
            t.community_id == m.community_id or (t.street_wide and t.street_id == m.street_id)
        ) or not visible(t):
            continue
        lat, lng = public_place(t.lat, t.lng)
        task = replace(world.solver_task(t, now), lat=lat, lng=lng)
        distance = distance_m(m.lat, m.lng, lat, lng)
        found = _pair(world, t, m, member, task, now, weights, reach, distance)
        if found is not None:
            out.append((t.id, found[0], distance, found[1]))
    out.sort(key=lambda r: (-r[1], r[2], r[0]))
    return out[:limit]
