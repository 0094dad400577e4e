"""The affairs service over real gRPC, PostgreSQL and NATS, journey by journey: a concern solved
in the community through a wish members then do, one escalated to the street and solved with a
paired unit, one decided by a 1+X+1 consultation, one reopened by an unsatisfied resident, one
sent back with guidance, items gathered into one matter; every move in the history and on the
stream, with no contact in any event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2

from linli.v1 import affairs_pb2 as pb
from linli.v1 import events_pb2, tasks_pb2
from services.common.runtime import ServiceRuntime
from services.common.settings import AffairsSettings, RegistrySettings
from services.common.subjects import ITEM_EVENTS
from tests.integration.affairs_support import (
    Street,
    affairs,
    affairs_clock,
    affairs_rt,
    affairs_settings,
    concern,
    log,
    make_street,
)
from tests.integration.conftest import MovableClock
from tests.integration.events import read_events
from tests.integration.tasks_support import make_neighbourhood, post, soon, until, wish
from tests.support import request_id

__all__ = ["affairs", "affairs_clock", "affairs_rt", "affairs_settings"]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def street(stub, affairs_rt, affairs_settings: AffairsSettings) -> Street:  # type: ignore[no-untyped-def]
    return await make_street(stub, affairs_rt, affairs_settings)


def actions(item: pb.Item) -> list[str]:
    return [e.action for e in item.history]


async def answer(stub, md, item_id: str, satisfied: bool, note: str = "") -> pb.Item:  # type: ignore[no-untyped-def]
    reply = await stub.RecordResidentAnswer(
        pb.RecordResidentAnswerRequest(
            id=item_id,
            request_id=request_id(),
            answer=pb.RESIDENT_ANSWER_SATISFIED if satisfied else pb.RESIDENT_ANSWER_NOT_SATISFIED,
            note=note,
        ),
        metadata=md,
    )
    return reply.item


async def test_a_concern_solved_in_the_community_through_a_wish_members_then_do(
    affairs,
    street: Street,
    task_stub,
    tasks_rt: ServiceRuntime,
    clock: MovableClock,
    stub,  # type: ignore[no-untyped-def]
    settings: RegistrySettings,
    affairs_rt,  # type: ignore[no-untyped-def]
) -> None:
    hood = await make_neighbourhood(stub, tasks_rt, settings, members=1, outsiders=0)

    async def known() -> bool:  # the affairs service has the registry's community
        return await affairs_rt.affairs.store.street_of(hood.home) is not None

    await until(known)
    item = await log(
        affairs, hood.staff, concern(hood.home, hood.home_grid, summary="独居老人买菜难")
    )
    assert item.stage == pb.ITEM_STAGE_OPEN and item.street_id == hood.street
    await affairs.AssignItem(
        pb.AssignItemRequest(id=item.id, request_id=request_id(), assignee="staff-home"),
        metadata=hood.staff,
    )
    start = soon(1)
    task = await post(task_stub, hood.staff, wish(hood.home, start=start))
    linked = await affairs.LinkTask(
        pb.LinkTaskRequest(id=item.id, request_id=request_id(), task_id=task.id),
        metadata=hood.staff,
    )
    assert list(linked.item.task_ids) == [task.id]
    member = hood.members[0]
    await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(member)
    )
    clock.offset = start - datetime.now(UTC) + timedelta(hours=3)
    try:
        await task_stub.CompleteTask(
            tasks_pb2.CompleteTaskRequest(
                id=task.id,
                feedback=tasks_pb2.Feedback(score=5, comment="菜很新鲜"),
                outcomes=[tasks_pb2.AssignmentOutcome(member_id=member, hours=2)],
            ),
            metadata=hood.staff,
        )
    finally:
        clock.offset = timedelta()

    async def evidence() -> bool:
        got = await affairs.GetItem(pb.GetItemRequest(id=item.id), metadata=hood.staff)
        return "task_completed" in actions(got.item)

    await until(evidence)
    await affairs.ResolveItem(
        pb.ResolveItemRequest(id=item.id, request_id=request_id(), outcome="党员每周代购"),
        metadata=hood.staff,
    )
    closed = await answer(affairs, hood.staff, item.id, True, "很满意")
    assert closed.stage == pb.ITEM_STAGE_CLOSED and closed.HasField("close_time")
    assert actions(closed) == [
        "created",
        "assigned",
        "linked",
        "task_completed",
        "resolved",
        "closed",
    ]


async def test_a_big_matter_goes_to_the_street_and_is_solved_with_a_paired_unit(
    affairs, street: Street
) -> None:  # type: ignore[no-untyped-def]
    item = await log(affairs, street.staff, concern(street.home, street.home_grid))
    await affairs.EscalateItem(
        pb.EscalateItemRequest(id=item.id, request_id=request_id(), reason="需要维修基金"),
        metadata=street.staff,
    )
    due = datetime.now(UTC) + timedelta(days=20)
    routed = await affairs.RouteItem(
        pb.RouteItemRequest(
            id=item.id,
            request_id=request_id(),
            handler=pb.Handler(
                kind=pb.HANDLER_KIND_PAIRED_UNIT,
                name="区住建局",
                unit_id=street.unit,
                subject=street.handler_subject,
            ),
            due_time=timestamp_pb2.Timestamp(seconds=int(due.timestamp())),
            note="月底前修复",
        ),
        metadata=street.street_admin,
    )
    assert routed.item.stage == pb.ITEM_STAGE_ROUTED
    assert routed.item.due_time.seconds == int(due.timestamp())
    # The unit's account sees the resident to call them back; the street sees the ledger only.
    seen = await affairs.GetItem(pb.GetItemRequest(id=item.id), metadata=street.handler)
    assert seen.item.contact.phone == "19900004444" and not seen.item.contact.masked
    resolved = await affairs.ResolveItem(
        pb.ResolveItemRequest(id=item.id, request_id=request_id(), outcome="更换了楼道线路"),
        metadata=street.handler,
    )
    assert resolved.item.stage == pb.ITEM_STAGE_RESOLVED
    closed = await answer(affairs, street.staff, item.id, True)
    assert closed.stage == pb.ITEM_STAGE_CLOSED and closed.escalated


async def test_qinghuayuans_heating_pipes_are_decided_by_a_consultation(
    affairs, street: Street
) -> None:  # type: ignore[no-untyped-def]
    item = await log(
        affairs, street.staff, concern(street.home, street.home_grid, summary="清华园供暖管道老化")
    )
    held = timestamp_pb2.Timestamp(seconds=int(datetime.now(UTC).timestamp()) - 3600)
    meeting = pb.Consultation(
        parties=[
            pb.ConsultationParty(kind="party_committee", name="城里社区党委"),
            pb.ConsultationParty(kind="owners_committee", name="清华园业主委员会"),
            pb.ConsultationParty(kind="residents", name="居民代表"),
            pb.ConsultationParty(kind="property_company", name="清华园物业"),
            pb.ConsultationParty(kind="third_party", name="区供热办"),
        ],
        held_time=held,
        minutes="各方同意更换主管道，费用按比例分担",
        decision="分两期更换供暖主管道",
        carried_by="清华园物业",
        review="方案可行，费用分担合理",
    )
    r = await affairs.RecordConsultation(
        pb.RecordConsultationRequest(id=item.id, request_id=request_id(), consultation=meeting),
        metadata=street.staff,
    )
    assert r.item.consultations[0].decision == "分两期更换供暖主管道"
    await affairs.ResolveItem(
        pb.ResolveItemRequest(id=item.id, request_id=request_id(), outcome="主管道已更换"),
        metadata=street.staff,
    )
    closed = await answer(affairs, street.staff, item.id, True)
    assert actions(closed) == ["created", "consulted", "resolved", "closed"]


async def test_an_unsatisfied_resident_reopens_the_item_until_it_is_done_right(
    affairs, street: Street
) -> None:  # type: ignore[no-untyped-def]
    item = await log(affairs, street.staff, concern(street.home, street.home_grid))
    await affairs.ResolveItem(
        pb.ResolveItemRequest(id=item.id, request_id=request_id(), outcome="清理了楼道"),
        metadata=street.staff,
    )
    reopened = await answer(affairs, street.staff, item.id, False, "第二天又堆满了")
    assert reopened.stage == pb.ITEM_STAGE_IN_COMMUNITY and reopened.reopened == 1
    await affairs.ResolveItem(
        pb.ResolveItemRequest(id=item.id, request_id=request_id(), outcome="约谈了住户并立了公约"),
        metadata=street.staff,
    )
    closed = await answer(affairs, street.staff, item.id, True)
    assert closed.stage == pb.ITEM_STAGE_CLOSED
    assert actions(closed) == ["created", "resolved", "reopened", "resolved", "closed"]


async def test_the_street_sends_back_with_guidance_and_gathers_items_into_one_matter(
    affairs, street: Street
) -> None:  # type: ignore[no-untyped-def]
    back = await log(affairs, street.staff, concern(street.home, street.home_grid))
    await affairs.EscalateItem(
        pb.EscalateItemRequest(id=back.id, request_id=request_id(), reason="邻里纠纷调解不成"),
        metadata=street.staff,
    )
    returned = await affairs.ReturnItem(
        pb.ReturnItemRequest(id=back.id, request_id=request_id(), guidance="请调解中心介入"),
        metadata=street.street_admin,
    )
    assert returned.item.stage == pb.ITEM_STAGE_IN_COMMUNITY

    parking = pb.ITEM_CATEGORY_PARKING
    matter = await log(
        affairs, street.staff, concern(street.home, street.home_grid, category=parking)
    )
    other = await log(
        affairs, street.neighbour_staff, concern(street.neighbour, "g", category=parking)
    )
    await affairs.EscalateItem(
        pb.EscalateItemRequest(id=matter.id, request_id=request_id(), reason="停车位不足"),
        metadata=street.staff,
    )
    merge = pb.MergeItemsRequest(
        request_id=request_id(), into_id=matter.id, item_ids=[other.id], note="同一片区停车"
    )
    merged = await affairs.MergeItems(merge, metadata=street.street_admin)
    again = await affairs.MergeItems(merge, metadata=street.street_admin)
    assert actions(merged.item)[-1] == "merged_in" and again.item == merged.item
    gathered = await affairs.GetItem(
        pb.GetItemRequest(id=other.id), metadata=street.neighbour_staff
    )
    assert gathered.item.stage == pb.ITEM_STAGE_MERGED and gathered.item.merged_into == matter.id


async def test_a_correction_is_an_entry_and_a_retried_move_is_not_a_second_one(
    affairs, street: Street
) -> None:  # type: ignore[no-untyped-def]
    item = await log(affairs, street.staff, concern(street.home, street.home_grid))
    edited = pb.Item(id=item.id, summary="3号楼和4号楼楼道灯坏了", urgency=pb.ITEM_URGENCY_HIGH)
    r = await affairs.UpdateItem(
        pb.UpdateItemRequest(
            item=edited,
            update_mask=field_mask_pb2.FieldMask(paths=["summary", "urgency"]),
            request_id=request_id(),
        ),
        metadata=street.staff,
    )
    assert r.item.summary == edited.summary and r.item.urgency == pb.ITEM_URGENCY_HIGH
    assert r.item.due_time.seconds < item.due_time.seconds  # a higher urgency, a nearer limit
    move = pb.EscalateItemRequest(id=item.id, request_id=request_id(), reason="需要街道协调")
    first = await affairs.EscalateItem(move, metadata=street.staff)
    second = await affairs.EscalateItem(move, metadata=street.staff)
    assert first.item == second.item
    assert actions(second.item) == ["created", "edited", "escalated"]


async def test_every_move_is_announced_and_no_event_carries_the_residents_contact(
    affairs,
    street: Street,
    affairs_rt,  # type: ignore[no-untyped-def]
) -> None:
    phone = "19900005555"
    item = await log(affairs, street.staff, concern(street.home, street.home_grid, phone=phone))
    await affairs.ResolveItem(
        pb.ResolveItemRequest(id=item.id, request_id=request_id(), outcome="已处理"),
        metadata=street.staff,
    )
    await answer(affairs, street.staff, item.id, True)

    async def announced() -> list[events_pb2.EventEnvelope]:
        found = []
        for env in await read_events(affairs_rt.js, ITEM_EVENTS):
            for kind in (events_pb2.ItemRaised, events_pb2.ItemMoved):
                payload = kind()
                unpacked = env.payload.Is(kind.DESCRIPTOR) and env.payload.Unpack(payload)
                if unpacked and payload.item.id == item.id:
                    found.append(env)
        return found

    async def all_three() -> bool:
        return len(await announced()) == 3

    await until(all_three)
    for env in await announced():
        raw = env.SerializeToString()
        assert phone.encode() not in raw and "孙丽".encode() not in raw
    assert [e.subject for e in await announced()] == [
        "linli.affairs.item.raised",
        "linli.affairs.item.moved",
        "linli.affairs.item.closed",
    ]
