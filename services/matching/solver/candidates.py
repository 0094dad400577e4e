"""Candidate pairs: who could take which place. Built from a spatial index (a k-d tree per
community, or per street for street-wide tasks), then the skill, hours, time and clash filters;
never an all-pairs loop. Also counts, per task, how many members each filter left, which is what
explains an empty place.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from services.common.values import EARTH_RADIUS_M
from services.matching.solver.model import (
    SCALE,
    Instance,
    Member,
    Task,
    available,
    covers,
    local_span,
    overlaps,
    pair_score,
    skill_fit,
)
from services.matching.solver.terms import adopt_slots, fitting_pins, overbooked_places


@dataclass
class Funnel:
    """How many members of the task's community passed each filter, in order."""

    in_reach: int = 0
    skilled: int = 0
    available: int = 0
    with_hours: int = 0
    free: int = 0


@dataclass
class Candidates:
    task: list[int] = field(default_factory=list)  # pair -> task index
    member: list[int] = field(default_factory=list)  # pair -> member index
    score: list[int] = field(default_factory=list)
    distance_m: list[float] = field(default_factory=list)
    fit: list[float] = field(default_factory=list)
    by_task: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    by_member: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    funnels: list[Funnel] = field(default_factory=list)
    # Per pair: the task's skills the member brings (what a team member covers).
    covers: list[tuple[str, ...]] = field(default_factory=list)
    # Per task: the places the plan may fill (the open places, and an event's over-booking).
    places: list[int] = field(default_factory=list)
    pinned: list[int] = field(default_factory=list)  # pairs staff pinned, that fit together
    adopted: dict[str, list[int]] = field(default_factory=dict)  # slot -> its standing members

    def __len__(self) -> int:
        return len(self.task)


def project(lat: np.ndarray, lng: np.ndarray, lat0: float) -> np.ndarray:
    """Metres on a plane tangent near the district: exact enough over a few kilometres."""
    k = math.pi / 180 * EARTH_RADIUS_M
    return np.column_stack((lng * k * math.cos(math.radians(lat0)), lat * k))


def clashes(member: Member, task: Task) -> bool:
    if task.flexible:
        return False
    return any(overlaps(task.start, task.end, s, e) for s, e in member.busy)


def build(instance: Instance) -> Candidates:
    members, tasks, p = instance.members, instance.tasks, instance.params
    out = Candidates(funnels=[Funnel() for _ in tasks], places=[t.places for t in tasks])
    if not members or not tasks:
        return out
    stability = round(instance.weights.stability * SCALE)
    lat0 = float(np.mean([m.lat for m in members]))
    xy = project(np.array([m.lat for m in members]), np.array([m.lng for m in members]), lat0)

    # Skill levels as a matrix, so that a task's skill filter is one vectorised comparison.
    codes = sorted({code for t in tasks for code, _ in t.skills})
    column = {code: k for k, code in enumerate(codes)}
    levels = np.zeros((len(members), max(1, len(codes))), dtype=np.int8)
    for i, m in enumerate(members):
        for code, level in m.skills.items():
            if code in column:
                levels[i, column[code]] = level

    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, m in enumerate(members):
        groups[("community", m.community_id)].append(i)
        groups[("street", m.street_id)].append(i)
    trees: dict[tuple[str, str], tuple[cKDTree, np.ndarray]] = {}

    for j, task in enumerate(tasks):
        key = ("street", task.street_id) if task.street_wide else ("community", task.community_id)
        if key not in groups:
            continue
        if key not in trees:
            index = np.array(groups[key])
            trees[key] = (cKDTree(xy[index]), index)
        tree, index = trees[key]
        here = project(np.array([task.lat]), np.array([task.lng]), lat0)[0]
        near = index[np.asarray(tree.query_ball_point(here, p.max_distance_m), dtype=np.int64)]
        if instance.excluded:
            near = np.array(
                [i for i in near if (task.id, members[i].id) not in instance.excluded],
                dtype=np.int64,
            )
        funnel = out.funnels[j]
        funnel.in_reach = len(near)
        skilled = near
        if task.team and task.skills:
            # A team member brings at least one of the skills; the team covers them all.
            brings = np.zeros(len(skilled), dtype=bool)
            for code, minimum in task.skills:
                brings |= levels[skilled, column[code]] >= minimum
            skilled = skilled[brings]
        for code, minimum in () if task.team else task.skills:
            skilled = skilled[levels[skilled, column[code]] >= minimum]
        funnel.skilled = len(skilled)
        span = local_span(task)
        found: list[tuple[int, float, float]] = []  # (member index, distance, fit)
        for i in skilled.tolist():
            m = members[i]
            fit = skill_fit(m, task)
            assert fit is not None
            if not available(m, task, span):
                continue
            funnel.available += 1
            if m.hours_left + 1e-9 < task.effort_hours:
                continue
            funnel.with_hours += 1
            if clashes(m, task):
                continue
            funnel.free += 1
            found.append((i, float(np.hypot(*(xy[i] - here))), fit))
        found.sort(key=lambda c: (c[1], members[c[0]].id))
        # A pinned member stays a candidate even beyond the nearest kept.
        kept = found[: p.max_candidates] + [
            c for c in found[p.max_candidates :] if (task.id, members[c[0]].id) in instance.pinned
        ]
        for i, distance, fit in kept:
            pair = len(out.task)
            out.task.append(j)
            out.member.append(i)
            out.distance_m.append(distance)
            out.fit.append(fit)
            out.score.append(
                pair_score(
                    task,
                    members[i],
                    distance,
                    fit,
                    instance.weights,
                    instance.now,
                    p.max_distance_m,
                )
                + stability * ((task.id, members[i].id) in instance.kept)
            )
            out.covers.append(covers(members[i], task))
            out.by_task[j].append(pair)
            out.by_member[i].append(pair)
    out.places = overbooked_places(instance, out)
    out.adopted = adopt_slots(instance, out)
    out.pinned = fitting_pins(instance, out)
    return out
