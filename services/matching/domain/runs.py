"""A matching run as values: what a caller may ask of it, what it records (its planned
assignments, its empty places, its figures), and which runs a listing covers."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.common.errors import FieldViolation, InvalidArgument
from services.common.values import OVERBOOK_MIN_HEADCOUNT
from services.matching.domain.scope import Scope
from services.matching.solver.heuristics import Plan
from services.matching.solver.model import Instance, Params, Weights
from services.matching.solver.result import REASONS, Result


@dataclass(frozen=True)
class RunRecord:
    id: str
    scope_kind: str
    scope_id: str
    street_id: str
    state: str  # "running", "succeeded" or "failed"
    dry_run: bool
    method: str
    requested_by: str
    created_at: datetime
    figures: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    finished_at: datetime | None = None
    published_at: datetime | None = None


@dataclass(frozen=True)
class PlannedAssignment:
    """One assignment of a run's plan as recorded: exact figures and the facts its explanation
    is written from, so that it can be shown to each caller as they may see it."""

    position: int
    task_id: str
    member_id: str
    score: float
    distance_m: float
    explanation: str
    # [member, score, distance, status, public distance, skill fit, reliability] per next best.
    alternatives: list[list[Any]]
    public_distance_m: float | None
    facts: dict[str, Any]


@dataclass(frozen=True)
class UnfilledPlace:
    position: int
    task_id: str
    places: int
    reason: str
    candidates: int

    @property
    def explanation(self) -> str:
        return REASONS.get(self.reason, self.reason)


@dataclass(frozen=True)
class RunFilter:
    """Which runs a listing covers: of one scope (kind and id), or of any of these communities
    and streets (a street's runs include its communities'), or all of them."""

    kind: str | None = None
    scope_id: str = ""
    communities: tuple[str, ...] | None = None
    streets: tuple[str, ...] | None = None


def overlaps(scope: Scope, street_id: str, run: RunRecord) -> bool:
    """Whether a run of `scope` (in `street_id`, '' for the district) would plan places the
    running `run` plans: the district overlaps everything, a street its communities."""
    return (
        scope.kind == "district"
        or run.scope_kind == "district"
        or (
            run.street_id == street_id
            and (scope.kind == "street" or run.scope_kind == "street" or run.scope_id == scope.id)
        )
    )


def first_overlapping(
    scope: Scope, street_id: str, running: Sequence[RunRecord]
) -> RunRecord | None:
    """The earliest of the running runs that a run of `scope` may not run beside."""
    clashes = [r for r in running if r.state == "running" and overlaps(scope, street_id, r)]
    return min(clashes, key=lambda r: r.created_at, default=None)


def run_params(
    method: str,
    time_limit_s: float,
    gap_target: float,
    weights: Weights,
    max_distance_m: float,
    overbook_min_headcount: int = OVERBOOK_MIN_HEADCOUNT,
) -> Params:
    """A run's parameters, every field out of range named; zero stands for the default."""
    v: list[FieldViolation] = [
        FieldViolation(f"weights.{e.split()[0]}", e) for e in weights.validate()
    ]
    if not 0 <= time_limit_s <= 120:
        v.append(FieldViolation("time_limit_s", "must be 0 to 120 seconds"))
    if not 0 <= gap_target <= 0.1:
        v.append(FieldViolation("gap_target", "must be 0 to 0.1"))
    if not 0 <= max_distance_m <= 20_000:
        v.append(FieldViolation("max_distance_m", "must be 0 to 20000 metres"))
    if v:
        raise InvalidArgument(v)
    return Params(
        max_distance_m=max_distance_m or 3000.0,
        time_limit_s=time_limit_s or 10.0,
        gap_target=gap_target or 0.0001,
        method=method,
        overbook_min_headcount=overbook_min_headcount,
    )


def planned(
    result: Result,
    public_distance: Callable[[str, str], float],
    weights: Weights,
    pinned: frozenset[tuple[str, str]] = frozenset(),
) -> list[PlannedAssignment]:
    """The plan's assignments as recorded, with each member's distance from their public cell
    (and what the paired unit added to a score, which callers outside the member's scope are
    not told)."""
    return [
        PlannedAssignment(
            position=n,
            task_id=a.task_id,
            member_id=a.member_id,
            score=a.score,
            distance_m=a.distance_m,
            explanation=a.explanation(),
            alternatives=[
                [
                    x.member_id,
                    x.score,
                    x.distance_m,
                    x.status,
                    public_distance(a.task_id, x.member_id),
                    x.skill_fit,
                    x.reliability,
                    weights.unit * x.unit,
                ]
                for x in a.alternatives
            ],
            public_distance_m=public_distance(a.task_id, a.member_id),
            facts={
                "skill_fit": a.skill_fit,
                "load_hours": a.member_load_hours,
                "reliability": a.reliability,
                "rank": a.rank,
                "unit_points": weights.unit * a.unit,
                "covers": list(a.covers),
                "pinned": (a.task_id, a.member_id) in pinned,
            },
        )
        for n, a in enumerate(result.assignments)
    ]


def unfilled(result: Result) -> list[UnfilledPlace]:
    return [
        UnfilledPlace(n, u.task_id, u.places, u.reason, u.candidates)
        for n, u in enumerate(result.unfilled)
    ]


@dataclass(frozen=True)
class Timings:
    load_s: float
    candidates_s: float
    solve_s: float


def figures(
    result: Result,
    fcfs: Plan,
    timings: Timings,
    weights: Weights,
    params: Params,
    *,
    invalid_tasks: int,
    outside_members: int,
    public_distances: list[float],
) -> dict[str, Any]:
    """What a run is judged by, as recorded with it."""
    public = sorted(public_distances)
    return {
        "solver_status": result.status,
        "members": result.members,
        "tasks": result.tasks,
        "places": result.places,
        "candidate_pairs": result.pairs,
        "components": result.components,
        "load_s": timings.load_s,
        "candidates_s": timings.candidates_s,
        "solve_s": timings.solve_s,
        "objective": result.objective,
        "bound": result.bound,
        "gap": result.gap,
        "places_filled": result.filled,
        "filled_by_group": {g: list(v) for g, v in result.filled_by_group.items()},
        "mean_distance_m": result.mean_distance_m,
        "p95_distance_m": result.p95_distance_m,
        "members_used": int(result.load_spread.get("members_used", 0)),
        "hours_stdev": result.load_spread.get("stdev_hours", 0.0),
        "most_places": int(result.load_spread.get("most_tasks", 0)),
        "fcfs_objective": fcfs.objective / 100,
        "fcfs_places_filled": len(fcfs.pairs),
        "weight_distance": weights.distance,
        "weight_skill": weights.skill,
        "weight_reliability": weights.reliability,
        "max_distance_m": params.max_distance_m,
        "invalid_tasks": invalid_tasks,
        # Members of other communities planned on a community's street-wide places: the
        # figures that add up their exact distances, hours or reliability are not for the
        # community's staff (see views.shown_run).
        "outside_members": outside_members,
        "public_mean_distance_m": statistics.fmean(public) if public else 0.0,
        "public_p95_distance_m": public[int(0.95 * (len(public) - 1))] if public else 0.0,
        # What the run was asked for, so that its re-offers and re-plans plan as it did.
        "weights": dict(weights.__dict__),
        "time_limit_s": params.time_limit_s,
        "gap_target": params.gap_target,
        "slot_weeks": result.rota[1],
        "slot_weeks_usual": result.rota[0],
        "rota_stability": result.rota_stability or 0.0,
        "team_tasks_covered": result.teams[0],
        "team_tasks_staffed": result.teams[1],
        "team_tasks": result.teams[2],
        "expected_attendance": result.attendance[0],
        "event_headcount": result.attendance[1],
        "event_planned": result.attendance[2],
        "base_objective": result.base_objective,
    }


def asked(run: RunRecord, overbook_min_headcount: int) -> tuple[Weights, Params]:
    """The weights and parameters a run was planned with (a run recorded before they were
    kept: its distance weight and reach, and the defaults)."""
    f = run.figures
    base = Weights()
    kept = f.get("weights") or {
        "distance": f.get("weight_distance", base.distance),
        "skill": f.get("weight_skill", base.skill),
        "reliability": f.get("weight_reliability", base.reliability),
    }
    weights = Weights(
        **{name: float(kept.get(name, value)) for name, value in base.__dict__.items()}
    )
    params = Params(
        max_distance_m=float(f.get("max_distance_m") or 3000.0),
        time_limit_s=float(f.get("time_limit_s") or 10.0),
        gap_target=float(f.get("gap_target") or 0.0001),
        method=run.method,
        overbook_min_headcount=overbook_min_headcount,
    )
    return weights, params


def outside_members(scope: Scope, instance: Instance) -> int:
    """Members of other communities a community's run could plan (on street-wide places)."""
    if scope.kind != "community":
        return 0
    return sum(1 for m in instance.members if m.community_id != scope.id)
