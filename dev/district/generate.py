"""A whole synthetic district from a seed: places, units and members, each from its own random
stream, and the organisation as district.yaml holds it."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from dev.district.members import MemberRow, build_members
from dev.district.names import DISTRICT_NAME, STREETS
from dev.district.places import Community, build_communities
from dev.district.shape import DEFAULT_SEED, FULL, SMALL
from dev.district.units import Unit, build_units
from services.common.settings import Bounds

# The bounds the registry checks by default.
BOUNDS: dict[str, float] = Bounds().model_dump()


@dataclass
class District:
    """A generated district: the organisation as in district.yaml and the members.csv rows."""

    seed: int
    small: bool
    org: dict[str, Any]
    members: list[MemberRow]


def org_dict(communities: list[Community], units: list[Unit]) -> dict[str, Any]:
    streets = []
    for street_id, street_name in STREETS:
        members = [c for c in communities if c.spec.street == street_id]
        if not members:
            continue
        streets.append(
            {
                "id": street_id,
                "name": street_name,
                "communities": [community_dict(c) for c in members],
            }
        )
    return {
        "district": {"name": DISTRICT_NAME, "bounds": dict(BOUNDS)},
        "streets": streets,
        "units": [
            {"id": u.id, "name": u.name, "kind": u.kind, "community": u.community} for u in units
        ],
    }


def community_dict(c: Community) -> dict[str, Any]:
    return {
        "id": c.spec.id,
        "name": c.spec.name,
        "station": {"lat": c.station[0], "lng": c.station[1]},
        "grids": [
            {
                "id": g.id,
                "name": g.name,
                "center": {"lat": g.lat, "lng": g.lng},
                "radius_m": g.radius_m,
                "building_groups": [
                    {"id": b.id, "name": b.name, "location": {"lat": b.lat, "lng": b.lng}}
                    for b in g.building_groups
                ],
            }
            for g in c.grids
        ],
    }


def generate(seed: int = DEFAULT_SEED, members: int | None = None, small: bool = False) -> District:
    """Generate a district: the same arguments always give the same data.

    members defaults to the case's 4,628, or 300 when small.
    """
    sizes = SMALL if small else FULL
    count = sizes.members if members is None else members
    if count < 0:
        raise ValueError("members must not be negative")
    # Separate streams, so changing the member count leaves the organisation as it was.
    kind = "small" if small else "full"
    communities = build_communities(random.Random(f"{seed}/{kind}/places"), sizes)
    units = build_units(random.Random(f"{seed}/{kind}/units"), sizes, communities)
    rows = build_members(random.Random(f"{seed}/{kind}/members"), seed, count, communities, units)
    return District(seed=seed, small=small, org=org_dict(communities, units), members=rows)


def counts(district: District) -> dict[str, int]:
    """How many of each kind of entry the district holds."""
    communities = [c for s in district.org["streets"] for c in s["communities"]]
    grids = [g for c in communities for g in c["grids"]]
    return {
        "streets": len(district.org["streets"]),
        "communities": len(communities),
        "grids": len(grids),
        "building_groups": sum(len(g["building_groups"]) for g in grids),
        "units": len(district.org["units"]),
        "members": len(district.members),
    }
