"""The district's units (government offices, institutions, enterprises), each paired with a
community, with the Chengli primary school among them."""

from __future__ import annotations

import random
from dataclasses import dataclass

from dev.district.names import (
    AFFINITIES,
    BRAND_FIRST,
    BRAND_SECOND,
    GOVERNMENT_UNITS,
    INDUSTRIES,
    INSTITUTION_UNITS,
    SCHOOL_NAME,
)
from dev.district.places import Community
from dev.district.shape import SCHOOL_ID, Sizes, allocate


@dataclass
class Unit:
    id: str
    name: str
    kind: str
    community: str
    affinity: tuple[str, ...]


def _affinity(name: str) -> tuple[str, ...]:
    skills: list[str] = []
    for keywords, codes in AFFINITIES:
        if any(k in name for k in keywords):
            skills += [c for c in codes if c not in skills]
    return tuple(skills)


def build_units(rng: random.Random, sizes: Sizes, communities: list[Community]) -> list[Unit]:
    government = rng.sample(GOVERNMENT_UNITS, sizes.units["government"])
    institution = rng.sample(INSTITUTION_UNITS, sizes.units["institution"] - 1)
    enterprise: list[str] = []
    while len(enterprise) < sizes.units["enterprise"]:
        brand = rng.choice(BRAND_FIRST) + rng.choice(BRAND_SECOND)
        name = brand + rng.choice(INDUSTRIES)
        if brand[0] != brand[1] and name not in enterprise:
            enterprise.append(name)
    numbered = (
        [(n, "government") for n in government]
        + [(n, "institution") for n in institution]
        + [(n, "enterprise") for n in enterprise]
    )
    total = len(numbered) + 1
    # Each community pairs with several units, more for larger communities.
    per_community = allocate(total, [len(c.grids) + 4.0 for c in communities], minimum=1)
    slots = [
        c.spec.id
        for c, n in zip(communities, per_community, strict=True)
        for _ in range(n - (c.spec.id == "chengli"))
    ]
    rng.shuffle(slots)
    units = [Unit(SCHOOL_ID, SCHOOL_NAME, "institution", "chengli", _affinity(SCHOOL_NAME))]
    for i, ((name, kind), community) in enumerate(zip(numbered, slots, strict=True), start=1):
        units.append(Unit(f"u{i:03d}", name, kind, community, _affinity(name)))
    return units
