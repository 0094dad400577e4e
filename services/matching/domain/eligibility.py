"""Which tasks the planner can take as they are, and which members it may plan at all."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from services.matching.domain.rows import MemberRow, TaskRow

# What a task's data must lie within to be planned; outside it the task is reported unmatched
# (invalid_task) instead of failing the run it is in.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
LONGEST_WINDOW = timedelta(days=400)
MOST_EFFORT_HOURS = 1000.0
MOST_HEADCOUNT = 10_000
# Skill levels run 1 to 3 (the registry's scale); a member's levels are read within 0 to 3.
MOST_LEVEL = 3
MOST_HOURS_PER_MONTH = 31 * 24


def on_earth(lat: float | None, lng: float | None) -> bool:
    return (
        lat is not None
        and lng is not None
        and math.isfinite(lat)
        and math.isfinite(lng)
        and -90 <= lat <= 90
        and -180 <= lng <= 180
    )


def task_problem(t: TaskRow) -> str | None:
    """Why the planner cannot take this task as it is, or None when it can."""
    if not on_earth(t.lat, t.lng):
        return "its place is not on earth"
    if not (EARLIEST <= t.start <= LATEST and EARLIEST <= t.end <= LATEST):
        return "its window lies outside the years 2000 to 2100"
    if t.end < t.start or t.end - t.start > LONGEST_WINDOW:
        return "its window ends before it starts or lasts more than 400 days"
    if not (math.isfinite(t.effort_hours) and 0 <= t.effort_hours <= MOST_EFFORT_HOURS):
        return "its effort hours are out of range"
    if not (t.places_taken >= 0 and 0 < t.headcount <= MOST_HEADCOUNT):
        return "its headcount is out of range"
    if not all(1 <= level <= MOST_LEVEL for _code, level in t.skills):
        return "a skill level asked for is out of range"
    return None


def eligible(m: MemberRow) -> bool:
    """Whether a member may be planned at all: active, reported in, with a home on earth."""
    return m.active and m.reported_in and m.community_id is not None and on_earth(m.lat, m.lng)
