"""Values every service speaks of the same way: places and distances, the district's time zone,
time windows, the claim deadline, beneficiary groups, and the rounding that keeps a resident's
place private. One definition each, so that a rule changed here changes everywhere at once.

Pure: no I/O, no gRPC, no database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

# Weekly availability, schedules and "this month" are in the district's local time.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")

EARTH_RADIUS_M = 6_371_000.0
# A one-off event is over-booked (within its role's cap) only when it asks at least this many
# people: the task service refuses a cap below it, matching plans none (the default of the
# shared setting LINLI_OVERBOOK_MIN_HEADCOUNT).
OVERBOOK_MIN_HEADCOUNT = 20
# A resident's exact place is rounded to this many degrees (about 300 m) for callers not entitled
# to it; whatever such callers are shown (a place, a score, a distance, an order) is computed from
# the rounded place, or a few of them would give the home away.
PUBLIC_DEGREES = 0.003


@dataclass(frozen=True)
class LatLng:
    lat: float
    lng: float


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Metres between two places on a plane tangent near them: exact enough over a district
    (and the same measure the matching index uses)."""
    k = math.pi / 180 * EARTH_RADIUS_M
    dx = (lng1 - lng2) * k * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, (lat1 - lat2) * k)


def public_place(lat: float, lng: float) -> tuple[float, float]:
    """A place rounded to the public grid."""
    return (
        round(round(lat / PUBLIC_DEGREES) * PUBLIC_DEGREES, 6),
        round(round(lng / PUBLIC_DEGREES) * PUBLIC_DEGREES, 6),
    )


def approximate(loc: LatLng) -> LatLng:
    """A location rounded to the public grid."""
    return LatLng(*public_place(loc.lat, loc.lng))


def month_start(now: datetime) -> datetime:
    """The start of the district's local month that `now` falls in."""
    local = now.astimezone(LOCAL_TZ)
    return datetime(local.year, local.month, 1, tzinfo=LOCAL_TZ)


def year_start(now: datetime) -> datetime:
    return datetime(now.astimezone(LOCAL_TZ).year, 1, 1, tzinfo=LOCAL_TZ)


def claim_deadline(start: datetime, end: datetime, flexible: bool) -> datetime:
    """Until when places can be taken: the start of a fixed window, the end of a flexible one."""
    return end if flexible else start


@dataclass(frozen=True)
class TimeWindow:
    """When a task happens: a fixed window, or a flexible one inside which the member picks."""

    start: datetime
    end: datetime
    flexible: bool = False

    @property
    def claim_deadline(self) -> datetime:
        return claim_deadline(self.start, self.end, self.flexible)

    def overlaps(self, other: TimeWindow) -> bool:
        """Flexible windows never clash: the member picks the time."""
        if self.flexible or other.flexible:
            return False
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class WeeklyWindow:
    """A weekly availability window in local time."""

    day: int  # ISO weekday, 1 = Monday
    start: int  # minutes after midnight
    end: int


class Beneficiary(StrEnum):
    ELDERLY = "elderly"
    CHILD = "child"
    DISABLED = "disabled"
    POOR = "poor"
    OTHER = "other"

    @property
    def is_priority(self) -> bool:
        """老、少、残、贫: the four groups served first."""
        return self is not Beneficiary.OTHER


PRIORITY_GROUPS = frozenset(b.value for b in Beneficiary if b.is_priority)
