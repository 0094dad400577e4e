"""Re-offers: who takes a freed place at once, and what a proposal tells the member and staff."""

from __future__ import annotations

from datetime import datetime

from services.matching.domain import suggestions
from services.matching.domain.privacy import banded
from services.matching.domain.runs import PlannedAssignment
from services.matching.domain.world import World
from services.matching.solver.model import Weights
from services.matching.solver.result import Assignment

# How far from home a re-offer reaches: the default of a run.
REOFFER_REACH_M = 3000.0


def choose(
    world: World,
    task_id: str,
    now: datetime,
    weights: Weights | None = None,
    reach_m: float = REOFFER_REACH_M,
) -> list[str]:
    """The next best eligible members for a task's free places, best first (scored with the
    weights and reach of the run that proposed the place); none when it has no free place."""
    t = world.tasks.get(task_id)
    if t is None:
        return []
    free = world.open_places(t, now)
    if free == 0:
        return []
    best = suggestions.suggest_members(world, task_id, free, now, weights or Weights(), reach_m)
    return [member_id for member_id, *_ in best]


def reoffer_reason(world: World, task_id: str, member_id: str) -> str:
    """As for a run's proposals: a band, since the task service shows it."""
    return f"re-offered: within {banded(world.public_distance(task_id, member_id)):.0f} m of home"


def planned_reason(world: World, a: PlannedAssignment) -> str:
    """A draft's pair's reason, when it is published: as a run's proposal says it."""
    band = banded(world.public_distance(a.task_id, a.member_id))
    f = a.facts
    return (
        f"within {band:.0f} m of home, skill fit {f.get('skill_fit', 0.5):.2f}, "
        f"{f.get('load_hours', 0.0):.1f} h already this month; rank {f.get('rank', 1)}"
    )


def proposal_reason(world: World, a: Assignment) -> str:
    """A proposal's reason, as the task service shows it to the member and to staff: the
    distance as a band from the member's public cell, no other members named."""
    band = banded(world.public_distance(a.task_id, a.member_id))
    return (
        f"within {band:.0f} m of home, skill fit {a.skill_fit:.2f}, "
        f"{a.member_load_hours:.1f} h already this month; rank {a.rank}"
    )
