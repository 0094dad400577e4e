"""The district's places: communities laid out over the built-up area, their grids, and the
building groups in each grid with their names."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from dev.district.names import (
    COMMUNITIES,
    ESTATE_PREFIXES,
    ESTATE_SUFFIXES,
    FAMILY_YARDS,
    LAYOUT_COLS,
    LAYOUT_ROWS,
    QINGHUAYUAN,
    VILLAGES,
    CommunitySpec,
)
from dev.district.shape import (
    BUILDING_SPREAD,
    M_PER_DEG_LAT,
    MAX_RADIUS_M,
    MIN_RADIUS_M,
    URBAN,
    Box,
    Sizes,
    allocate,
    in_disc,
    offset,
    r6,
)
from services.common.values import distance_m


@dataclass
class BuildingGroup:
    id: str
    name: str
    lat: float
    lng: float


@dataclass
class Grid:
    id: str
    name: str
    lat: float
    lng: float
    radius_m: int
    building_groups: list[BuildingGroup] = field(default_factory=list)


@dataclass
class Community:
    spec: CommunitySpec
    station: tuple[float, float]
    grids: list[Grid]


def _layout(sizes: Sizes, grid_counts: dict[str, int]) -> dict[str, Box]:
    """Give each community a box (south, north, west, east) with area in proportion to its grids.

    Rows share latitude bands; within a row, cells share the band's width, so the boxes tile the
    urban area like bricks. Cells of communities left out (the small district) keep an average
    size so the geography matches the full district's.
    """
    weights = {c: grid_counts[c] + 6.0 for c in sizes.communities}
    mean = sum(weights.values()) / len(weights)
    cell = {(s.row, s.col): weights.get(s.id, mean) for s in COMMUNITIES}
    south, north, west, east = URBAN
    total = sum(cell.values())
    boxes: dict[str, Box] = {}
    top = north
    for row in range(LAYOUT_ROWS):
        row_weights = [cell[(row, col)] for col in range(LAYOUT_COLS)]
        bottom = top - (north - south) * sum(row_weights) / total
        left = west
        for col, w in enumerate(row_weights):
            right = left + (east - west) * w / sum(row_weights)
            spec = next(s for s in COMMUNITIES if (s.row, s.col) == (row, col))
            if spec.id in weights:
                boxes[spec.id] = (bottom, top, left, right)
            left = right
        top = bottom
    return boxes


def _place_grids(rng: random.Random, spec: CommunitySpec, box: Box, n: int) -> list[Grid]:
    south, north, west, east = box
    mid_lat = (south + north) / 2
    height_m = (north - south) * M_PER_DEG_LAT
    width_m = (east - west) * M_PER_DEG_LAT * math.cos(math.radians(mid_lat))
    cols = max(1, round(math.sqrt(n * width_m / height_m)))
    rows = math.ceil(n / cols)
    # Leftover lattice cells become gaps (a park, a school, a market), chosen at random.
    cells = sorted(rng.sample([(r, c) for r in range(rows) for c in range(cols)], n))
    cell_h, cell_w = height_m / rows, width_m / cols
    short = spec.name.removesuffix("社区")
    grids = []
    for k, (r, c) in enumerate(cells, start=1):
        north_m = -(r + 0.5) * cell_h + rng.uniform(-0.12, 0.12) * cell_h
        east_m = (c + 0.5) * cell_w + rng.uniform(-0.12, 0.12) * cell_w
        lat, lng = offset(north, west, north_m, east_m)
        radius = 0.5 * min(cell_h, cell_w) * rng.uniform(0.9, 1.15)
        radius_m = int(round(min(max(radius, MIN_RADIUS_M), MAX_RADIUS_M), -1))
        grids.append(Grid(f"{spec.id}-g{k:02d}", f"{short}第{k}网格", r6(lat), r6(lng), radius_m))
    return grids


def _estate_pool(rng: random.Random) -> list[tuple[str, str]]:
    """Compound names with their numbering style ("号楼" for buildings, "号院" for yards)."""
    estates = [p + s for p in ESTATE_PREFIXES for s in ESTATE_SUFFIXES]
    rng.shuffle(estates)
    pool = [(name, "号院" if rng.random() < 0.25 else "号楼") for name in estates[:90]]
    pool += [(name, "号楼") for name in FAMILY_YARDS]
    pool += [(name, "号院") for name in VILLAGES]
    rng.shuffle(pool)
    return pool


def _name_building_groups(
    rng: random.Random,
    community: Community,
    counts: list[int],
    pool: list[tuple[str, str]],
) -> None:
    """Name and place each grid's building groups.

    A compound often spans neighbouring grids, so its numbering carries on; buildings outside any
    named compound are numbered across the community. In Chengli the first two grids are the
    清华园 compound the case mentions.
    """
    plain_next = 1
    compound: tuple[str, str] | None = None  # (name, "号楼" or "号院")
    number = 1  # the compound's next building number
    for k, (grid, n) in enumerate(zip(community.grids, counts, strict=True)):
        if community.spec.id == "chengli" and k < 2:
            if compound is None or compound[0] != QINGHUAYUAN:
                compound, number = (QINGHUAYUAN, "号院"), 1
        elif compound is not None and compound[0] != QINGHUAYUAN and rng.random() < 0.3:
            pass  # the compound carries on into this grid
        elif rng.random() < 0.25 or not pool:
            compound = None
        else:
            compound, number = pool.pop(), 1
        for b in range(1, n + 1):
            if compound is None:
                label = f"{plain_next}号楼"
                plain_next += 1
            else:
                label = f"{compound[0]}{number}{compound[1]}"
                number += 1
            north_m, east_m = in_disc(rng, BUILDING_SPREAD * grid.radius_m)
            lat, lng = offset(grid.lat, grid.lng, north_m, east_m)
            grid.building_groups.append(
                BuildingGroup(f"{grid.id}-b{b:02d}", label, r6(lat), r6(lng))
            )


def build_communities(rng: random.Random, sizes: Sizes) -> list[Community]:
    specs = [s for s in COMMUNITIES if s.id in sizes.communities]
    grid_counts = allocate(sizes.grids, [rng.uniform(0.6, 1.6) for _ in specs], minimum=4)
    boxes = _layout(sizes, {s.id: n for s, n in zip(specs, grid_counts, strict=True)})
    communities = []
    for spec, n in zip(specs, grid_counts, strict=True):
        box = boxes[spec.id]
        grids = _place_grids(rng, spec, box, n)
        centre = ((box[0] + box[1]) / 2, (box[2] + box[3]) / 2)
        # The station stands beside the grid nearest the middle of the community.
        hub = min(grids, key=lambda g: distance_m(g.lat, g.lng, *centre))
        north_m, east_m = in_disc(rng, 80.0)
        station = offset(hub.lat, hub.lng, north_m, east_m)
        communities.append(Community(spec, (r6(station[0]), r6(station[1])), grids))
    all_grids = [g for c in communities for g in c.grids]
    bg_counts = allocate(
        sizes.building_groups, [rng.uniform(0.3, 1.7) for _ in all_grids], minimum=1
    )
    pool = _estate_pool(rng)
    start = 0
    for community in communities:
        n = len(community.grids)
        _name_building_groups(rng, community, bg_counts[start : start + n], pool)
        start += n
    return communities
