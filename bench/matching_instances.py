"""Matching instances built from the synthetic district, for benchmarks and the demo.

Members come from dev/gen_district.py (homes, skills, availability, hours); tasks are drawn
to resemble a month of a district's work: small wishes near residents' homes for the four
priority groups and others, and role occurrences (the 4:30 school, surveys, sanitation drives,
fire-safety duty) at community service stations. A role is a weekly slot (a community, a role,
a weekday) with an occurrence every week of the month, run by a unit paired with the community
where it has one; a few wishes ask two skills of a team of two; a few communities hold a
dedication day (a large one-off event that may be over-booked).
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from dev import gen_district
from services.cli.district import member_from_row
from services.common.protoconv import weekly_window_from_proto
from services.common.values import LOCAL_TZ, Beneficiary, WeeklyWindow
from services.matching.solver.model import Instance, Member, Params, Task

GROUPS = (
    (Beneficiary.ELDERLY, 0.34),
    (Beneficiary.CHILD, 0.22),
    (Beneficiary.DISABLED, 0.12),
    (Beneficiary.POOR, 0.12),
    (Beneficiary.OTHER, 0.20),
)
WISH_SKILLS = (
    ("errands", 1),
    ("elderly_care", 1),
    ("repair_general", 1),
    ("repair_plumbing", 2),
    ("repair_electrical", 2),
    ("it_help", 1),
    ("tutoring", 2),
    ("medical", 2),
    ("cooking", 1),
    ("disability_support", 1),
    ("counseling", 2),
    ("legal_advice", 2),
)
Placed = TypeVar("Placed", Member, Task)

# Roles that serve children (the 4:30 school, the reading room).
CHILD_SKILLS = ("tutoring", "reading_guide")
ROLES = (
    ("tutoring", 2, (1, 2, 3, 4, 5), 16 * 60 + 30, 18 * 60, 3),  # 4:30 school
    ("survey", 1, (6,), 9 * 60, 11 * 60 + 30, 4),  # resident information survey
    ("sanitation", 1, (6, 7), 8 * 60, 10 * 60, 5),  # sanitation and civilised-city drives
    ("fire_safety", 1, (3,), 19 * 60, 20 * 60 + 30, 2),  # micro fire station duty
    ("reading_guide", 1, (6,), 14 * 60, 16 * 60, 2),  # reading room
)


def _members(district: gen_district.District, rng: random.Random, scarce: float) -> list[Member]:
    streets = {c["id"]: s["id"] for s in district.org["streets"] for c in s["communities"]}
    out = []
    for row in district.members:
        # Read as the registry is given it: through the members file reader.
        read = member_from_row(row).member
        windows: tuple[WeeklyWindow, ...] = tuple(
            weekly_window_from_proto(w) for w in read.availability
        )
        load = rng.choice((0, 0, 0, 0, 2, 4, 6, 10))
        hours = max(0.0, row["hours_per_month"] * scarce - load)
        out.append(
            Member(
                id=row["request_id"],
                lat=row["lat"],
                lng=row["lng"],
                community_id=row["community_id"],
                street_id=streets[row["community_id"]],
                skills={s.skill: s.level for s in read.skills},
                availability=windows,
                hours_left=hours,
                load_hours=float(load),
                reliability=rng.uniform(0.6, 1.0),
                unit_id=row.get("unit_id") or "",
            )
        )
    return out


def _local(day: datetime, minute: int) -> datetime:
    return (day + timedelta(minutes=minute)).astimezone(UTC)


def instance(
    *,
    seed: int = 2018,
    tasks: int = 1500,
    scarce: float = 1.0,
    small: bool = False,
    now: datetime | None = None,
    params: Params | None = None,
) -> Instance:
    """A district's month: `tasks` tasks (wishes and role occurrences), places ~1.7 per task.

    `scarce` scales every member's hours (0.3 gives about 0.6 members per place once hours count).
    """
    rng = random.Random(seed)
    district = gen_district.generate(seed=seed, small=small)
    members = _members(district, rng, scarce)
    now = now or datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    midnight = datetime.combine(now.astimezone(LOCAL_TZ).date(), datetime.min.time(), LOCAL_TZ)
    communities = [(c, s["id"]) for s in district.org["streets"] for c in s["communities"]]
    homes = [(m.lat, m.lng, m.community_id, m.street_id) for m in members]
    out: list[Task] = []
    n_roles = int(tasks * 0.3)
    units: dict[str, str] = {}
    for u in district.org.get("units", []):
        units.setdefault(u["community"], u["id"])
    slots: set[str] = set()
    while len(out) < n_roles and len(slots) < len(communities) * len(ROLES) * 5:
        c, street = rng.choice(communities)
        skill, level, days, begin, finish, headcount = rng.choice(ROLES)
        weekday = rng.choice(days)
        slot = f"{c['id']}:{skill}:{weekday}"
        if slot in slots:
            continue
        slots.add(slot)
        street_wide = rng.random() < 0.1
        for offset in range(1, 28):
            day = midnight + timedelta(days=offset)
            if day.isoweekday() != weekday or len(out) >= n_roles:
                continue
            out.append(
                Task(
                    id=f"r{len(out):05d}",
                    lat=c["station"]["lat"],
                    lng=c["station"]["lng"],
                    community_id=c["id"],
                    street_id=street,
                    street_wide=street_wide,
                    skills=((skill, level),),
                    places=headcount,
                    start=_local(day, begin),
                    end=_local(day, finish),
                    flexible=False,
                    effort_hours=(finish - begin) / 60,
                    beneficiary=(
                        Beneficiary.CHILD
                        if skill in ("tutoring", "reading_guide")
                        else Beneficiary.OTHER
                    ),
                    posted_at=now - timedelta(hours=rng.uniform(0, 72)),
                    slot=slot,
                    unit_id=units.get(c["id"], "") if skill == "tutoring" else "",
                    headcount=headcount,
                )
            )
    for k, (c, street) in enumerate(communities[::4]):
        day = midnight + timedelta(days=11 + k % 2)  # a Saturday or Sunday mid-month
        out.append(
            Task(
                id=f"e{k:05d}",
                lat=c["station"]["lat"],
                lng=c["station"]["lng"],
                community_id=c["id"],
                street_id=street,
                street_wide=True,
                skills=(),
                places=30,
                start=_local(day, 9 * 60),
                end=_local(day, 12 * 60),
                flexible=False,
                effort_hours=3.0,
                beneficiary=Beneficiary.OTHER,
                posted_at=now - timedelta(hours=rng.uniform(0, 72)),
                overbook_cap=6,
                headcount=30,
            )
        )
    while len(out) < tasks:
        lat, lng, community, street = rng.choice(homes)
        group = rng.choices([g for g, _ in GROUPS], [w for _, w in GROUPS])[0]
        skill, level = rng.choice(WISH_SKILLS)
        day = midnight + timedelta(days=rng.randint(1, 27))
        flexible = rng.random() < 0.35
        # Staff set a time members can come: weekday evenings, weekend days.
        start_minute = (
            rng.choice((9 * 60, 10 * 60, 14 * 60, 15 * 60))
            if day.isoweekday() >= 6
            else rng.choice((18 * 60 + 30, 19 * 60))
        )
        effort = rng.choice((1.0, 1.0, 1.5, 2.0))
        start = _local(day, start_minute)
        end = start + timedelta(hours=effort + rng.choice((0, 0.5, 1)))
        if flexible:
            start, end = now, _local(day, 22 * 60)
        team = rng.random() < 0.04
        if team:  # a team of two: one drives, one gives first aid, say
            first, second = rng.sample(WISH_SKILLS, 2)
        out.append(
            Task(
                id=f"w{len(out):05d}",
                lat=lat + rng.uniform(-0.001, 0.001),
                lng=lng + rng.uniform(-0.001, 0.001),
                community_id=community,
                street_id=street,
                street_wide=False,
                skills=(
                    (first, second) if team else ((skill, level),) if rng.random() < 0.8 else ()
                ),
                places=2 if team else rng.choice((1, 1, 1, 2)),
                team=team,
                start=start,
                end=end,
                flexible=flexible,
                effort_hours=effort,
                beneficiary=group,
                posted_at=now - timedelta(hours=rng.uniform(0, 72)),
            )
        )
    return Instance(tuple(members), tuple(out), now, params=params or Params())


def _copy(thing: Placed, k: int) -> Placed:
    """A member or task of the k-th copy of the district, moved beside the others."""
    dlat, dlng = 0.06 * (k // 5), 0.08 * (k % 5)
    if isinstance(thing, Task) and thing.slot:
        thing = replace(thing, slot=f"{k}-{thing.slot}")
    return replace(
        thing,
        id=f"{k}-{thing.id}",
        lat=thing.lat + dlat,
        lng=thing.lng + dlng,
        community_id=f"{k}-{thing.community_id}",
        street_id=f"{k}-{thing.street_id}",
    )


def city(
    *, seed: int = 2018, copies: int = 22, tasks_per_copy: int = 1364, params: Params | None = None
) -> Instance:
    """About 100,000 members and 30,000 tasks: the district repeated side by side."""
    parts = [instance(seed=seed + k, tasks=tasks_per_copy, params=params) for k in range(copies)]
    members = [_copy(m, k) for k, part in enumerate(parts) for m in part.members]
    tasks = [_copy(t, k) for k, part in enumerate(parts) for t in part.tasks]
    return Instance(tuple(members), tuple(tasks), parts[0].now, params=parts[0].params)
