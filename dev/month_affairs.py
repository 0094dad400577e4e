"""The month's concerns in the affairs ledger, played through the APIs as the district would at
the month's end: grid branches and building groups bring residents' concerns; most are solved in
the community (some through wishes that members then do), a few go to the street and are solved
with a paired unit (two of one kind gathered into one matter), Qinghuayuan's heating pipes are
decided by a 1+X+1 consultation, one resident is not satisfied and the item is reopened, and one
urgent matter left untouched is flagged overdue. Seeded and repeatable."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from dev import gen_district
from dev.affairs_cast import (
    CARE,
    CONCERNS,
    HEATING,
    OUTCOMES,
    Ledger,
    complete,
    concern,
    has_evidence,
    is_overdue,
    resident,
    where_of,
    wish_for,
)
from dev.cast import Month, People
from linli.v1 import affairs_pb2 as pb
from services.client import Metadata, Stubs
from services.common.clock import FileClock
from services.common.protoconv import ts


async def at(clock: FileClock, when: datetime) -> None:
    """Let time pass to `when`; the services read the clock file at most once a second."""
    clock.set(when - datetime.now(UTC))
    await asyncio.sleep(2.0)


async def until(check: Any, timeout: float = 120.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the affairs service did not catch up in time")
        await asyncio.sleep(0.5)


async def play(
    stubs: Stubs,
    actors: People,
    district: gen_district.District,
    month: Month,
    clock: FileClock,
    seed: int = 2018,
) -> None:
    """The concerns of the month, from their logging to their close-out over a few days."""
    rng = random.Random(seed)
    ledger = Ledger(stubs, actors)
    office = actors.admin  # the street's working committee acts with the district's office
    where = where_of(district)
    communities = sorted(where)
    start = datetime.now(UTC) + clock_offset(clock)
    solved: list[tuple[Metadata, pb.Item]] = []  # resolved, waiting for the resident's answer

    # Day 0: the grids and building groups bring their concerns; staff take them in hand.
    logged: list[tuple[str, pb.Item]] = []
    for n, community in enumerate(communities):
        _street, grids, _units = where[community]
        for k in range(3 + n % 3):
            summary, category, place, source = CONCERNS[(n + k) % len(CONCERNS)]
            item = await ledger.log(
                actors.staff(community),
                pb.Item(
                    community_id=community,
                    grid_id=grids[k % len(grids)],
                    summary=summary,
                    category=category,
                    urgency=pb.ITEM_URGENCY_NORMAL,
                    place=place,
                    source=source,
                    contact=resident(rng, n * 7 + k),
                ),
            )
            logged.append((community, item))
    for community, item in logged:
        await ledger.move("AssignItem", actors.staff(community), id=item.id, assignee="网格员")

    # Concerns that become wishes, done by members of the community.
    wishes: list[tuple[str, pb.Item, str]] = []
    for community in communities[:2]:
        for summary, title, group in CARE[: 1 if community != communities[0] else 2]:
            item, task = await wish_for(
                stubs, actors, ledger, month, where, community, summary, title, group, start
            )
            if task:
                wishes.append((community, item, task))

    # What the community cannot solve goes to the street: one per street routed to a paired
    # unit, and in the first street two parking matters gathered into one.
    by_street: dict[str, list[str]] = {}
    for c in communities:
        by_street.setdefault(where[c][0], []).append(c)
    routed: list[pb.Item] = []
    for street, members in sorted(by_street.items()):
        home = members[0]
        units = where[home][2] or ["区住建局"]
        matter = await ledger.log(
            actors.staff(home),
            concern(home, where, "老旧小区雨水管网堵塞，雨后积水", pb.ITEM_CATEGORY_HOUSING, rng),
        )
        await ledger.move(
            "EscalateItem", actors.staff(home), id=matter.id, reason="需要市政维修资金"
        )
        routed.append(
            await ledger.move(
                "RouteItem",
                office,
                id=matter.id,
                handler=pb.Handler(kind=pb.HANDLER_KIND_PAIRED_UNIT, name=units[0]),
                due_time=ts(start + timedelta(days=10)),
                note="共驻共建单位牵头，十日内完成",
            )
        )
        if street == sorted(by_street)[0] and len(members) > 1:
            parking = [
                await ledger.log(
                    actors.staff(c),
                    concern(
                        c, where, "夜间停车难，车辆占用消防通道", pb.ITEM_CATEGORY_PARKING, rng
                    ),
                )
                for c in members[:2]
            ]
            await ledger.move(
                "EscalateItem", actors.staff(members[0]), id=parking[0].id, reason="片区车位不足"
            )
            await ledger.move(
                "MergeItems",
                office,
                into_id=parking[0].id,
                item_ids=[parking[1].id],
                note="同一片区停车问题并案办理",
            )
            routed.append(
                await ledger.move(
                    "RouteItem",
                    office,
                    id=parking[0].id,
                    handler=pb.Handler(kind=pb.HANDLER_KIND_DEPARTMENT, name="区交警大队"),
                    note="规划夜间共享车位",
                )
            )

    # Qinghuayuan's heating pipes: decided by a 1+X+1 consultation.
    chengli = "chengli" if "chengli" in where else communities[0]
    heating = await ledger.log(
        actors.staff(chengli), concern(chengli, where, HEATING, pb.ITEM_CATEGORY_HOUSING, rng)
    )
    # An urgent matter nobody has taken in hand yet: it will be flagged overdue.
    urgent = await ledger.log(
        actors.staff(communities[-1]),
        concern(
            communities[-1],
            where,
            "井盖缺失，行人有坠落危险",
            pb.ITEM_CATEGORY_SAFETY,
            rng,
            urgency=pb.ITEM_URGENCY_URGENT,
        ),
    )

    # Day 2: the wishes are done; the community resolves what it took in hand.
    await at(clock, start + timedelta(days=2))
    for community, item, task in wishes:
        await complete(stubs, actors, community, task)
        await until(lambda i=item, c=community: has_evidence(stubs, actors.staff(c), i.id))
        solved.append(
            (
                actors.staff(community),
                await ledger.move(
                    "ResolveItem",
                    actors.staff(community),
                    id=item.id,
                    outcome="党员认领微心愿，已按时完成",
                ),
            )
        )
    for n, (community, item) in enumerate(logged):
        if n % 4 == 3:
            continue  # still in hand at the month's end
        md = actors.staff(community)
        solved.append(
            (md, await ledger.move("ResolveItem", md, id=item.id, outcome=OUTCOMES[n % 6]))
        )
    await ledger.move(
        "RecordConsultation",
        actors.staff(chengli),
        id=heating.id,
        consultation=pb.Consultation(
            parties=[
                pb.ConsultationParty(kind="party_committee", name="城里社区党委"),
                pb.ConsultationParty(kind="owners_committee", name="清华园业主委员会"),
                pb.ConsultationParty(kind="residents", name="清华园居民代表"),
                pb.ConsultationParty(kind="property_company", name="清华园物业公司"),
                pb.ConsultationParty(kind="unit", name="热力公司"),
                pb.ConsultationParty(kind="third_party", name="区住建局供热办"),
            ],
            held_time=ts(start + timedelta(days=1)),
            minutes="议定更换主管道，维修基金与热力公司按比例分担，分两期施工",
            decision="分两期更换供暖主管道，供暖季前完成第一期",
            carried_by="清华园物业公司",
            review="方案可行，费用分担公开透明",
        ),
    )

    # Day 4: the units report back; the heating pipes' first phase is done.
    await at(clock, start + timedelta(days=4))
    for item in routed:
        solved.append(
            (
                office,
                await ledger.move("ResolveItem", office, id=item.id, outcome="牵头单位已完成整改"),
            )
        )
    solved.append(
        (
            actors.staff(chengli),
            await ledger.move(
                "ResolveItem",
                actors.staff(chengli),
                id=heating.id,
                outcome="第一期主管道已更换，室温达标",
            ),
        )
    )

    # Day 5: staff ask the residents; one is not satisfied and the item is reopened.
    await at(clock, start + timedelta(days=5))
    unhappy = solved[1] if len(solved) > 1 else solved[0]
    for md, item in solved:
        await ledger.answer(
            md, item.id, item is not unhappy[1], "" if item is not unhappy[1] else "问题反复出现"
        )
    md, item = unhappy
    await ledger.move("ResolveItem", md, id=item.id, outcome="二次整改，建立长效机制")

    # Day 7: the reopened item is done right; the untouched urgent one is flagged overdue.
    await at(clock, start + timedelta(days=7))
    await ledger.answer(md, item.id, True, "这次满意")
    await until(lambda: is_overdue(stubs, actors.staff(communities[-1]), urgent.id))


def clock_offset(clock: FileClock) -> timedelta:
    """How far the file clock is moved now."""
    return clock() - datetime.now(UTC)
