"""What those outside a member's scope may know of them: distances from their home's public
cell, in bands, and scores computed as for any member with an unknown record.

The task service shows a resident's place rounded to the public grid (common.values), and the
registry shows nobody's home to those outside its scope: what such callers see (scores,
distances, order) is computed from places rounded to it.
"""

from __future__ import annotations

import math

from services.common.values import distance_m, public_place
from services.matching.domain.rows import MemberRow, TaskRow

# Distances to members outside the caller's scope are shown in bands this wide (their upper end).
DISTANCE_BAND_M = 500.0

# The skill fit of a task that asks no skills, and the reliability of a member without a
# record: what a member's score is computed with for callers who may not see their record.
NEUTRAL_FIT = 0.5
NEUTRAL_RELIABILITY = 0.5


def banded(distance: float) -> float:
    """A distance as the upper end of its band."""
    return max(1, math.ceil(distance / DISTANCE_BAND_M)) * DISTANCE_BAND_M


def public_distance(m: MemberRow | None, t: TaskRow | None) -> float:
    """From the member's public cell to the task: what those outside their scope may know."""
    if m is None or t is None or m.lat is None or m.lng is None:
        return 0.0
    return distance_m(*public_place(m.lat, m.lng), t.lat, t.lng)
