"""The district's figures and measures: how big the full and small districts are, where the
built-up area lies, and the arithmetic that places things in it."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from dev.district.names import COMMUNITIES
from services.common.values import EARTH_RADIUS_M

DEFAULT_SEED = 2018
FULL_MEMBERS = 4628
SMALL_MEMBERS = 300
NAME_MARK = "测试·"  # every synthetic person's name starts with this
PHONE_PREFIX = "17000"  # virtual-operator block; the member's index fills the last six digits
SCHOOL_ID = "u-chengli-primary"
SCHOOL_TEACHERS = 35
# The built-up area the communities tile: south, north, west, east.
URBAN: tuple[float, float, float, float] = (36.955, 37.005, 117.135, 117.205)

# The sphere of services.common.values.distance_m, so that "inside the circle" means the same to
# the generator as to the services and tests that measure it.
M_PER_DEG_LAT = EARTH_RADIUS_M * math.pi / 180
BUILDING_SPREAD = 0.8  # building groups stand within this fraction of the grid radius
HOME_JITTER_M = 25.0  # homes stand this close to their building; 0.8 r + 25 <= r for r >= 150
MIN_RADIUS_M, MAX_RADIUS_M = 150, 300

Box = tuple[float, float, float, float]  # south, north, west, east


@dataclass(frozen=True)
class Sizes:
    communities: tuple[str, ...]
    grids: int
    building_groups: int
    units: dict[str, int]  # per kind; institutions include the Chengli primary school
    members: int


FULL = Sizes(
    communities=tuple(c.id for c in COMMUNITIES),
    grids=123,
    building_groups=510,
    units={"government": 60, "institution": 54, "enterprise": 34},
    members=FULL_MEMBERS,
)
SMALL = Sizes(
    communities=("binhu", "yinshan", "huayang", "chengli", "kaiyuan"),
    grids=25,
    building_groups=100,
    units={"government": 12, "institution": 11, "enterprise": 7},
    members=SMALL_MEMBERS,
)


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def allocate(total: int, weights: Sequence[float], minimum: int = 0) -> list[int]:
    """Split total into len(weights) whole parts of at least minimum, by largest remainder."""
    rest = total - minimum * len(weights)
    if rest < 0:
        raise ValueError(f"cannot give {len(weights)} parts {minimum} each out of {total}")
    whole = sum(weights)
    quotas = [rest * w / whole for w in weights]
    parts = [int(q) for q in quotas]
    by_remainder = sorted(range(len(weights)), key=lambda i: (parts[i] - quotas[i], i))
    for i in by_remainder[: rest - sum(parts)]:
        parts[i] += 1
    return [minimum + p for p in parts]


def offset(lat: float, lng: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (
        lat + north_m / M_PER_DEG_LAT,
        lng + east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat))),
    )


def in_disc(rng: random.Random, radius_m: float) -> tuple[float, float]:
    # sqrt keeps points evenly spread over the disc instead of bunched at the centre.
    r = radius_m * math.sqrt(rng.random())
    theta = rng.uniform(0, 2 * math.pi)
    return r * math.cos(theta), r * math.sin(theta)


def r6(x: float) -> float:
    return round(x, 6)
