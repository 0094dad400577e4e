"""Who and what the month's ledger is played with (dev/month_affairs.py): the concerns grids
and building groups bring, clearly synthetic residents, the calls staff and the street office
make, and the wishes members do for a concern."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from grpc import aio

from dev import gen_district
from dev.cast import Month, People
from linli.v1 import affairs_pb2 as pb
from linli.v1 import tasks_pb2
from services.client import Metadata, Stubs
from services.common.protoconv import BENEFICIARY_TO_PROTO, ts
from services.common.values import Beneficiary

# (summary, category, place, source): what grids and building groups bring.
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
    ("独居老人需要每周有人代购蔬菜", "为独居老人代购蔬菜", Beneficiary.ELDERLY),
    ("困难家庭孩子缺少学习用品", "为困难家庭孩子送学习用品", Beneficiary.POOR),
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


def where_of(district: gen_district.District) -> dict[str, tuple[str, list[str], list[str]]]:
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
    group: Beneficiary,
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
                    beneficiary_group=BENEFICIARY_TO_PROTO[group],
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
