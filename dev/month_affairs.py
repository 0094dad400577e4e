"""The month's concerns in the affairs ledger, played through the APIs as the district would at
the month's end: grid branches and building groups bring residents' concerns; most are solved in
the community (some through wishes that members then do), a few go to the street and are solved
with a paired unit (two of one kind gathered into one matter), Qinghuayuan's heating pipes are
decided by a 1+X+1 consultation, one resident is not satisfied and the item is reopened, and one
urgent matter left untouched is flagged overdue. Seeded and repeatable."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from grpc import aio

from dev import gen_district
from dev.cast import Month, People
from linli.v1 import affairs_pb2 as pb
from linli.v1 import common_pb2, tasks_pb2
from services.client import Metadata, Stubs
from services.common.clock import FileClock
from services.common.protoconv import ts

# (summary, category, place, source, urgency): what grids and building groups bring.
CONCERNS = (
    ("楼道灯不亮，老人夜里上下楼不便", pb.ITEM_CATEGORY_HOUSING, "3号楼楼道", "grid"),
    (
        "垃圾清运不及时，单元门口有异味",
        pb.ITEM_CATEGORY_ENVIRONMENT,
        "东区垃圾站",
        "building_group",
    ),
    ("两户因楼上漏水发生纠纷", pb.ITEM_CATEGORY_NEIGHBOURS, "5号楼", "building_group"),
    ("健身器材松动，孩子玩耍有危险", pb.ITEM_CATEGORY_SAFETY, "中心广场", "grid"),
    ("绿化带被占种菜", pb.ITEM_CATEGORY_ENVIRONMENT, "南区绿化带", "visit"),
    ("单元门禁损坏", pb.ITEM_CATEGORY_HOUSING, "7号楼单元门", "phone"),
)
OUTCOMES = (
    "已协调物业更换灯具并检修线路",
    "已与环卫所协调，增加清运频次",
    "经社区调解，双方达成维修协议",
    "已加固器材并张贴安全提示",
    "已劝导恢复绿化，列入网格巡查",
    "已联系物业维修门禁",
)
# Wishes posted from concerns: services for the elderly and the poor, done by members.
CARE = (
    ("独居老人需要每周有人代购蔬菜", "为独居老人代购蔬菜", common_pb2.BENEFICIARY_GROUP_ELDERLY),
    ("困难家庭孩子缺少学习用品", "为困难家庭孩子送学习用品", common_pb2.BENEFICIARY_GROUP_POOR),
)
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
HEATING = "清华园小区供暖管道老化，冬季多户室温不达标"


def resident(rng: random.Random, n: int) -> pb.Contact:
    """A clearly synthetic resident: a surname and 某, a phone in a block no one holds."""
    if n % 5 == 4:
        # A resident without a phone, brought by their grid member.
        return pb.Contact(name=f"{rng.choice(SURNAMES)}某某", on_behalf_by="网格员")
    return pb.Contact(name=f"{rng.choice(SURNAMES)}某", phone=f"17099{rng.randrange(10**6):06d}")


class Ledger:
    """The month's ledger as the district's people keep it: staff per community, the office for
    the street's working committee."""

    def __init__(self, stubs: Stubs, actors: People) -> None:
        self.stubs, self.actors = stubs, actors

    def rid(self) -> str:
        return f"ledger-{uuid.uuid4().hex}"

    async def log(self, md: Metadata, item: pb.Item) -> pb.Item:
        r = await self.stubs.affairs.CreateItem(
            pb.CreateItemRequest(request_id=self.rid(), item=item), metadata=md
        )
        return r.item

    async def move(self, name: str, md: Metadata, **fields: Any) -> pb.Item:
        request = getattr(pb, f"{name}Request")(request_id=self.rid(), **fields)
        reply = await getattr(self.stubs.affairs, name)(request, metadata=md)
        return reply.item  # type: ignore[no-any-return]

    async def answer(self, md: Metadata, item_id: str, satisfied: bool, note: str = "") -> pb.Item:
        given = pb.RESIDENT_ANSWER_SATISFIED if satisfied else pb.RESIDENT_ANSWER_NOT_SATISFIED
        return await self.move("RecordResidentAnswer", md, id=item_id, answer=given, note=note)


def _where(district: gen_district.District) -> dict[str, tuple[str, list[str], list[str]]]:
    """community -> (street, grid ids, paired unit names)."""
    units: dict[str, list[str]] = {}
    for u in district.org.get("units", []):
        units.setdefault(u["community"], []).append(u["name"])
    return {
        c["id"]: (s["id"], [g["id"] for g in c.get("grids", [])], units.get(c["id"], []))
        for s in district.org["streets"]
        for c in s["communities"]
        if c.get("grids")
    }


async def idle_members(stubs: Stubs, actors: People, month: Month, community: str) -> list[str]:
    """Up to five members of the community with no hours yet (ones the month asked nothing of,
    so that the month's own tally of hours stays as it was)."""
    found: list[str] = []
    for m in sorted(month.members.values(), key=lambda m: m.id, reverse=True):
        if m.community_id != community or len(found) >= 5:
            continue
        record = await stubs.tasks.GetMemberRecord(
            tasks_pb2.GetMemberRecordRequest(member_id=m.id), metadata=actors.admin
        )
        if record.record.hours_total == 0:
            found.append(m.id)
    return found


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
    where = _where(district)
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


def concern(
    community: str,
    where: dict[str, tuple[str, list[str], list[str]]],
    summary: str,
    category: int,
    rng: random.Random,
    urgency: int = pb.ITEM_URGENCY_HIGH,
) -> pb.Item:
    return pb.Item(
        community_id=community,
        grid_id=where[community][1][0],
        summary=summary,
        category=category,  # type: ignore[arg-type]
        urgency=urgency,  # type: ignore[arg-type]
        place="小区内公共区域",
        source="grid",
        contact=resident(rng, 1),
    )


async def wish_for(
    stubs: Stubs,
    actors: People,
    ledger: Ledger,
    month: Month,
    where: dict[str, tuple[str, list[str], list[str]]],
    community: str,
    summary: str,
    title: str,
    group: int,
    start: datetime,
) -> tuple[pb.Item, str]:
    """A concern turned into a wish: posted through the task service, linked to the item, and
    claimed by a member of the community with time to spare."""
    md = actors.staff(community)
    item = await ledger.log(
        md, concern(community, where, summary, pb.ITEM_CATEGORY_CARE, random.Random(title))
    )
    candidates = await idle_members(stubs, actors, month, community)
    if not candidates:
        return item, ""
    home = month.members[candidates[0]].home
    window = tasks_pb2.TimeWindow(
        start=ts(start + timedelta(days=1)), end=ts(start + timedelta(days=1, hours=2))
    )
    task = (
        await stubs.tasks.PostWish(
            tasks_pb2.PostWishRequest(
                request_id=ledger.rid(),
                wish=tasks_pb2.Wish(
                    community_id=community,
                    title=title,
                    description=summary,
                    beneficiary_group=group,  # type: ignore[arg-type]
                    location=home,
                    address="居民家中",
                    headcount=1,
                    window=window,
                    effort_hours=1.5,
                ),
            ),
            metadata=md,
        )
    ).task
    await ledger.move("LinkTask", md, id=item.id, task_id=task.id)
    for member in candidates:
        try:
            await stubs.tasks.ClaimTask(
                tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=actors.member(member)
            )
        except aio.AioRpcError:
            continue  # a clash with something they hold: the next one
        return item, task.id
    return item, ""


async def complete(stubs: Stubs, actors: People, community: str, task_id: str) -> None:
    accepted = await stubs.tasks.ListAssignments(
        tasks_pb2.ListAssignmentsRequest(
            task_id=task_id, states=[tasks_pb2.ASSIGNMENT_STATE_ACCEPTED]
        ),
        metadata=actors.admin,
    )
    await stubs.tasks.CompleteTask(
        tasks_pb2.CompleteTaskRequest(
            id=task_id,
            outcomes=[
                tasks_pb2.AssignmentOutcome(member_id=a.member_id, hours=1.5)
                for a in accepted.assignments
            ],
            feedback=tasks_pb2.Feedback(score=5, comment="党员同志很贴心"),
        ),
        metadata=actors.staff(community),
    )


async def has_evidence(stubs: Stubs, md: Metadata, item_id: str) -> bool:
    got = await stubs.affairs.GetItem(pb.GetItemRequest(id=item_id), metadata=md)
    return any(e.action == "task_completed" for e in got.item.history)


async def is_overdue(stubs: Stubs, md: Metadata, item_id: str) -> bool:
    got = await stubs.affairs.GetItem(pb.GetItemRequest(id=item_id), metadata=md)
    return got.item.overdue
