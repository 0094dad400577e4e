"""What a caller may see of a recorded run: its figures, and each planned assignment with its
explanation and alternatives, computed from what the caller may know of the members in it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from services.common.auth import Principal
from services.matching.domain.access import sees_every_member
from services.matching.domain.privacy import NEUTRAL_FIT, NEUTRAL_RELIABILITY, banded
from services.matching.domain.runs import PlannedAssignment, RunRecord

# A run's figures that mix in every planned member's exact distance, hours or reliability.
OUTSIDE_MEMBER_FIGURES = (
    "objective",
    "bound",
    "fcfs_objective",
    "hours_stdev",
    "base_objective",
    "expected_attendance",
)


def shown_run(run: RunRecord, principal: Principal) -> RunRecord:
    """The run with the figures this caller may see."""
    f = dict(run.figures)
    if not sees_every_member(principal, run):
        # Distance figures from members' public cells: a mean over exact distances would give
        # away one member's, given the others'.
        for name in ("mean_distance_m", "p95_distance_m"):
            f[name] = f.get(f"public_{name}", f.get(name))
        if f.get("outside_members", 1):
            # Sums over every planned pair (scores from exact distances, less fairness costs from
            # members' hours) and the spread of members' hours give away an outside member's
            # distance and record, given those of the caller's own members: withheld (a run
            # recorded before this was counted is treated as holding such members).
            for name in OUTSIDE_MEMBER_FIGURES:
                f[name] = 0.0
    return replace(run, figures=f)


@dataclass(frozen=True)
class ShownAlternative:
    member_id: str
    score: float
    distance_m: float
    status: str


@dataclass(frozen=True)
class ShownAssignment:
    run_id: str
    task_id: str
    member_id: str
    score: float
    distance_m: float
    explanation: str
    alternatives: list[ShownAlternative]
    covers: tuple[str, ...] = ()
    pinned: bool = False


def shown_assignment(
    run: RunRecord, row: PlannedAssignment, sees_exactly: Callable[[str], bool]
) -> ShownAssignment:
    """A planned assignment as this caller may see it: members outside their scope (those
    `sees_exactly` says no to) by the band of the distance from their public cell, with the
    score that distance would give."""
    figures = run.figures
    reach = float(figures.get("max_distance_m") or 3000.0)
    weight = float(figures.get("weight_distance", 20.0))
    w_skill = float(figures.get("weight_skill", 15.0))
    w_reliability = float(figures.get("weight_reliability", 10.0))

    def shown(
        member_id: str, score: float, exact: float, public: float | None, record: list[Any]
    ) -> tuple[float, float, str]:
        if sees_exactly(member_id):
            return score, exact, f"{exact:.0f} m"
        band = banded(exact if public is None else public)
        moved = weight * (max(0.0, 1 - band / reach) - max(0.0, 1 - exact / reach))
        if record:
            # Nor the member's record: scored as any member meeting the task's minimums.
            fit, reliability = record[:2]
            moved += w_skill * (NEUTRAL_FIT - fit)
            moved += w_reliability * (NEUTRAL_RELIABILITY - reliability)
            # Nor whether they work in the role's paired unit.
            moved -= float(record[2]) if len(record) > 2 else 0.0
        return round(score + moved, 1), band, f"within {band:.0f} m"

    facts = row.facts
    score, distance, said = shown(
        row.member_id,
        row.score,
        row.distance_m,
        row.public_distance_m,
        [facts["skill_fit"], facts["reliability"], facts.get("unit_points", 0.0)] if facts else [],
    )
    alternatives = []
    for alt in row.alternatives:
        a_score, a_distance, _ = shown(
            alt[0], alt[1], alt[2], alt[4] if len(alt) > 4 else None, alt[5:8]
        )
        alternatives.append(ShownAlternative(alt[0], a_score, a_distance, alt[3]))
    alts = (
        "; ".join(
            f"{a.member_id} ({a.score:.1f}, {a.distance_m:.0f} m, {a.status})" for a in alternatives
        )
        or "none"
    )
    exact = sees_exactly(row.member_id)
    # Who covers which skill of a team is what staff need to see the team is whole.
    team = f"covers {', '.join(facts['covers'])} for the team; " if facts.get("covers") else ""
    if facts and not exact:
        # Skill fit, load and reliability are the member's record: not for this caller.
        explanation = (
            f"{team}{said} from home; score {score:.1f} (rank {facts['rank']}); next best: {alts}"
        )
    elif facts:
        explanation = (
            f"{team}{said} from home, skill fit {facts['skill_fit']:.2f}, "
            f"{facts['load_hours']:.1f} h already this month, reliability "
            f"{facts['reliability']:.2f}; score {score:.1f} (rank {facts['rank']}); "
            f"next best: {alts}"
        )
    elif exact and all(sees_exactly(a.member_id) for a in alternatives):
        explanation = row.explanation
    else:
        explanation = f"{said} from home"
    return ShownAssignment(
        run_id=run.id,
        task_id=row.task_id,
        member_id=row.member_id,
        score=score,
        distance_m=distance,
        explanation=explanation,
        alternatives=alternatives,
        covers=tuple(facts.get("covers", ())) if facts else (),
        pinned=bool(facts.get("pinned")) if facts else False,
    )
