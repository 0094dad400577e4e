"""The district's members: where each lives, where each works, the skills, weekly availability
and hours each offers, written as members.csv rows."""

from __future__ import annotations

import random
from typing import TypedDict

from dev.district.names import GIVEN_CHARS, SKILL_WEIGHTS, SURNAMES
from dev.district.places import BuildingGroup, Community, Grid
from dev.district.shape import (
    HOME_JITTER_M,
    NAME_MARK,
    PHONE_PREFIX,
    SCHOOL_ID,
    SCHOOL_TEACHERS,
    allocate,
    hhmm,
    in_disc,
    offset,
    r6,
)
from dev.district.units import Unit
from services.cli.district import DAYS
from services.common.skills import SKILLS
from services.common.values import distance_m

# The days in the spelling of members.csv, Monday first.
DAY_NAMES: tuple[str, ...] = tuple(DAYS)


class MemberRow(TypedDict):
    """One member as written to members.csv (skills and availability in their CSV spelling)."""

    request_id: str
    name: str
    phone: str
    lat: float
    lng: float
    community_id: str
    grid_id: str
    building_group_id: str
    unit_id: str
    skills: str
    availability: str
    hours_per_month: int


def _person_name(rng: random.Random) -> str:
    given_len = 1 if rng.random() < 0.4 else 2
    return NAME_MARK + rng.choice(SURNAMES) + "".join(rng.choices(GIVEN_CHARS, k=given_len))


def _skills(rng: random.Random, unit: Unit, teacher: bool) -> str:
    chosen: dict[str, int] = {}
    if teacher:
        chosen["tutoring"] = 3
        count = rng.choices((1, 2, 3, 4), weights=(30, 40, 20, 10))[0]
    else:
        count = rng.choices((0, 1, 2, 3, 4), weights=(8, 27, 32, 22, 11))[0]
    codes, weights = list(SKILL_WEIGHTS), list(SKILL_WEIGHTS.values())
    while len(chosen) < count:
        fresh = [a for a in unit.affinity if a not in chosen]
        if fresh and rng.random() < 0.5:
            # Skills from one's job tend to be practised ones.
            chosen[rng.choice(fresh)] = rng.choices((1, 2, 3), weights=(2, 4, 4))[0]
        else:
            code = rng.choices(codes, weights=weights)[0]
            if code not in chosen:
                chosen[code] = rng.choices((1, 2, 3), weights=(5, 3, 1))[0]
    return ";".join(f"{code}:{chosen[code]}" for code in (s.code for s in SKILLS) if code in chosen)


def _availability(rng: random.Random, teacher: bool) -> str:
    """Weekly windows of an employed person: evenings, weekends, now and then a lunch break."""
    if not teacher and rng.random() < 0.05:
        return ""
    windows: list[tuple[int, int, int]] = []
    if teacher:
        # School ends before the 4:30 school starts, so teachers can tutor straight after class.
        for day in rng.sample(range(5), rng.choice((2, 3, 3, 4))):
            windows.append((day, 16 * 60 + 30, 18 * 60 + 30))
    elif rng.random() < 0.75:
        start = rng.choice((18 * 60, 18 * 60 + 30, 19 * 60, 19 * 60 + 30))
        end = min(start + rng.choice((90, 120, 150, 180)), 22 * 60)
        for day in rng.sample(range(5), rng.choice((1, 2, 2, 3, 3, 4))):
            windows.append((day, start, end))
    # Without weekday evenings a member who wants to serve has the weekend.
    if rng.random() < (0.4 if teacher else 0.6) or not windows:
        days = rng.choices(((5,), (6,), (5, 6)), weights=(4, 3, 3))[0]
        start, end = rng.choice(
            ((480, 720), (510, 690), (540, 720), (840, 1020), (870, 1080), (540, 1020))
        )
        windows += [(day, start, end) for day in days]
    if not teacher and rng.random() < 0.15:
        span = rng.choice(((720, 780), (720, 810)))
        windows += [(day, *span) for day in rng.sample(range(5), rng.choice((1, 2)))]
    if not teacher and rng.random() < 0.03:
        windows.append((rng.choice((4, 5)), 20 * 60, 24 * 60))
    return ";".join(f"{DAY_NAMES[d]} {hhmm(s)}-{hhmm(e)}" for d, s, e in _merge(windows))


def _merge(windows: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    merged: list[tuple[int, int, int]] = []
    for day, start, end in sorted(windows):
        if merged and merged[-1][0] == day and start <= merged[-1][2]:
            merged[-1] = (day, merged[-1][1], max(merged[-1][2], end))
        else:
            merged.append((day, start, end))
    return merged


def _hours(rng: random.Random, availability: str, teacher: bool) -> int:
    if not availability:
        return 0
    if teacher:
        return rng.randint(8, 20)
    r = rng.random()
    if r < 0.05:
        return rng.randint(1, 3)
    if r < 0.85:
        return rng.randint(4, 20)
    if r < 0.97:
        return rng.randint(21, 40)
    return min(200, 41 + int(rng.expovariate(1 / 30)))


def build_members(
    rng: random.Random,
    seed: int,
    count: int,
    communities: list[Community],
    units: list[Unit],
) -> list[MemberRow]:
    if count > 999_999:
        raise ValueError("at most 999,999 members: the phone scheme has six digits for them")
    per_community = allocate(count, [len(c.grids) * rng.uniform(0.85, 1.15) for c in communities])
    # A slot is (community, grid, building group), sorted so the file reads place by place.
    slots: list[tuple[Community, Grid, BuildingGroup]] = []
    for community, n in zip(communities, per_community, strict=True):
        grids = community.grids
        picks = rng.choices(range(len(grids)), [len(g.building_groups) for g in grids], k=n)
        for gi, bi in sorted((g, rng.randrange(len(grids[g].building_groups))) for g in picks):
            slots.append((community, grids[gi], grids[gi].building_groups[bi]))
    teachers = _pick_teachers(rng, slots, communities, min(SCHOOL_TEACHERS, count))

    school = next(u for u in units if u.id == SCHOOL_ID)
    others = [u for u in units if u.id != SCHOOL_ID]
    # Government offices and institutions employ more party members than small firms.
    kind_weight = {"government": 1.0, "institution": 1.2, "enterprise": 0.7}
    own: dict[str, list[Unit]] = {c.spec.id: [] for c in communities}
    for u in others:
        own[u.community].append(u)
    elsewhere = {cid: [u for u in others if u.community != cid] for cid in own}
    elsewhere_weights = {cid: [kind_weight[u.kind] for u in us] for cid, us in elsewhere.items()}

    rows: list[MemberRow] = []
    for index, (community, grid, bg) in enumerate(slots, start=1):
        cid = community.spec.id
        teacher = index - 1 in teachers
        if teacher:
            unit = school
        elif own[cid] and rng.random() < 0.5:
            unit = rng.choice(own[cid])
        else:
            unit = rng.choices(elsewhere[cid], elsewhere_weights[cid])[0]
        north_m, east_m = in_disc(rng, HOME_JITTER_M)
        lat, lng = offset(bg.lat, bg.lng, north_m, east_m)
        availability = _availability(rng, teacher)
        rows.append(
            MemberRow(
                request_id=f"seed-{seed}-m{index:05d}",
                name=_person_name(rng),
                phone=f"{PHONE_PREFIX}{index:06d}",
                lat=r6(lat),
                lng=r6(lng),
                community_id=cid,
                grid_id=grid.id,
                building_group_id=bg.id,
                unit_id=unit.id,
                skills=_skills(rng, unit, teacher),
                availability=availability,
                hours_per_month=_hours(rng, availability, teacher),
            )
        )
    return rows


def _pick_teachers(
    rng: random.Random,
    slots: list[tuple[Community, Grid, BuildingGroup]],
    communities: list[Community],
    n: int,
) -> set[int]:
    """Slot indexes of the school's teachers: most live in Chengli, the rest next door."""
    chengli = next(c for c in communities if c.spec.id == "chengli")
    here = chengli.station
    neighbours = sorted(
        (c for c in communities if c is not chengli),
        key=lambda c: distance_m(c.station[0], c.station[1], here[0], here[1]),
    )[:2]
    near_ids = {c.spec.id for c in neighbours}
    in_chengli = [i for i, s in enumerate(slots) if s[0] is chengli]
    nearby = [i for i, s in enumerate(slots) if s[0].spec.id in near_ids]
    rng.shuffle(in_chengli)
    rng.shuffle(nearby)
    want_near = round(n * 0.2)
    chosen = in_chengli[: n - want_near]
    chosen += nearby[: n - len(chosen)]
    # Only a tiny district runs out of both; then anyone will do.
    taken = set(chosen)
    chosen += [i for i in range(len(slots)) if i not in taken][: n - len(chosen)]
    return set(chosen)
