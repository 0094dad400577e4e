"""The affairs service's use cases on the in-memory store: who may log, see and move an item,
what the caller sees of the resident, retries, the overdue sweep, evidence from completed tasks,
and the figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.affairs.domain.deadlines import DEFAULT_DEADLINES
from services.affairs.domain.errors import CommunityUnknown, NotYours, RequestIdReused
from services.affairs.domain.items import (
    Answer,
    Category,
    Contact,
    Draft,
    Handler,
    HandlerKind,
    Source,
    Stage,
    Urgency,
)
from services.affairs.service import Affairs
from services.affairs.store.memory import MemoryStore
from services.common.auth import Principal, Role
from services.common.errors import InvalidArgument, NotFound
from services.common.subjects import ITEM_CLOSED, ITEM_MOVED, ITEM_OVERDUE, ITEM_RAISED

STAFF = Principal("staff-1", Role.COMMUNITY_STAFF, frozenset({"c-1"}))
NEIGHBOUR = Principal("staff-2", Role.COMMUNITY_STAFF, frozenset({"c-2"}))
STREET = Principal("street-1", Role.STREET_ADMIN, street_ids=frozenset({"s-1"}))
OTHER_STREET = Principal("street-2", Role.STREET_ADMIN, street_ids=frozenset({"s-2"}))
DISTRICT = Principal("district", Role.DISTRICT_ADMIN)
UNIT = Handler(HandlerKind.PAIRED_UNIT, "区住建局", "u-1", "unit-1")
HANDLER = Principal("unit-1", Role.COMMUNITY_STAFF, frozenset({"c-9"}))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def world() -> tuple[Affairs, MemoryStore, Clock]:
    store, clock = MemoryStore(), Clock()
    for c, s in (("c-1", "s-1"), ("c-2", "s-1"), ("c-3", "s-2")):
        await store.put_community(None, c, s)
    return Affairs(store, DEFAULT_DEADLINES, clock), store, clock


def draft(community: str = "c-1", **changes: object) -> Draft:
    d = Draft(
        community_id=community,
        grid_id="g-1",
        building_group_id="",
        summary="小区车辆乱停",
        category=Category.PARKING,
        urgency=Urgency.NORMAL,
        place="清华园东门",
        source=Source.GRID,
        contact=Contact("测试·周强", "19900003333"),
    )
    return Draft(**{**vars(d), **changes})  # type: ignore[arg-type]


async def test_staff_log_for_their_community_and_a_retry_returns_the_same_item(world) -> None:  # type: ignore[no-untyped-def]
    affairs, store, _ = world
    item, masked = await affairs.create(STAFF, "r-1", draft())
    assert not masked and item.street_id == "s-1" and item.stage is Stage.OPEN
    again, _ = await affairs.create(STAFF, "r-1", draft(summary="别的"))
    assert again.id == item.id and len(store.items) == 1
    assert [s for (s, _), _ in store.events] == [ITEM_RAISED]
    with pytest.raises(RequestIdReused):
        await affairs.create(NEIGHBOUR, "r-1", draft("c-2"))
    with pytest.raises(InvalidArgument) as e:
        await affairs.create(NEIGHBOUR, "r-2", draft("c-1"))
    assert e.value.violations[0].field == "item.community_id"
    staff_of_new = Principal("x", Role.COMMUNITY_STAFF, frozenset({"c-new"}))
    with pytest.raises(CommunityUnknown):
        await affairs.create(staff_of_new, "r-3", draft("c-new"))


async def test_an_item_outside_the_scope_is_not_found_exactly_as_a_missing_one(world) -> None:  # type: ignore[no-untyped-def]
    affairs, _, _ = world
    item, _ = await affairs.create(STAFF, "r-1", draft())
    answers = []
    for item_id in (item.id, "8d4f6b0e-0000-4000-8000-000000000000"):
        with pytest.raises(NotFound) as e:
            await affairs.get(NEIGHBOUR, item_id)
        answers.append(type(e.value))
        with pytest.raises(NotFound):
            await affairs.get(OTHER_STREET, item_id)
    assert answers[0] is answers[1]
    assert (await affairs.get(STREET, item.id))[0].id == item.id


async def test_the_contact_is_shown_to_the_community_and_the_handler_only(world) -> None:  # type: ignore[no-untyped-def]
    affairs, _, _ = world
    item, _ = await affairs.create(STAFF, "r-1", draft())
    await affairs.escalate(STAFF, item.id, "r-2", "需要交警配合")
    await affairs.route(STREET, item.id, "r-3", UNIT, None, "")
    for who, masked in ((STAFF, False), (HANDLER, False), (STREET, True), (DISTRICT, True)):
        seen, m = await affairs.get(who, item.id)
        assert m is masked
        assert (seen.contact.phone == "19900003333") is not masked
    listed = await affairs.list_items(STREET, {}, None, 10)
    assert listed[0][1] and "3333" in listed[0][0].contact.phone and "周强" not in str(listed)


async def test_community_staff_cannot_route_and_the_handler_resolves_what_it_is_routed(  # type: ignore[no-untyped-def]
    world,
) -> None:
    affairs, store, _ = world
    item, _ = await affairs.create(STAFF, "r-1", draft())
    await affairs.escalate(STAFF, item.id, "r-2", "需要交警配合")
    with pytest.raises(NotYours):
        await affairs.route(STAFF, item.id, "r-3", UNIT, None, "")
    with pytest.raises(NotYours):
        await affairs.resolve(STAFF, item.id, "r-3", "自己解决")
    await affairs.route(STREET, item.id, "r-4", UNIT, None, "")
    done, _ = await affairs.resolve(HANDLER, item.id, "r-5", "划了车位")
    assert done.stage is Stage.RESOLVED
    # The same request again: no second move.
    again, _ = await affairs.resolve(HANDLER, item.id, "r-5", "划了车位")
    assert len(again.history) == len(done.history)
    closed, _ = await affairs.answer(STAFF, item.id, "r-6", Answer.SATISFIED, "满意")
    assert closed.stage is Stage.CLOSED
    assert [s for (s, _), _ in store.events][-1] == ITEM_CLOSED


async def test_a_street_gathers_items_into_one_matter(world) -> None:  # type: ignore[no-untyped-def]
    affairs, _, _ = world
    matter, _ = await affairs.create(STAFF, "r-1", draft())
    other, _ = await affairs.create(NEIGHBOUR, "r-2", draft("c-2"))
    await affairs.escalate(STAFF, matter.id, "r-3", "停车难")
    with pytest.raises(NotYours):
        await affairs.merge(STAFF, "r-4", matter.id, [other.id], "")
    after, _ = await affairs.merge(STREET, "r-5", matter.id, [other.id], "同一片区停车")
    assert after.history[-1].action == "merged_in"
    merged, _ = await affairs.get(NEIGHBOUR, other.id)
    assert merged.stage is Stage.MERGED and merged.merged_into == matter.id


async def test_overdue_items_are_flagged_once_with_an_event(world) -> None:  # type: ignore[no-untyped-def]
    affairs, store, clock = world
    item, _ = await affairs.create(STAFF, "r-1", draft())
    assert await affairs.sweep_overdue() == 0
    clock.now += timedelta(days=10)
    assert await affairs.sweep_overdue() == 1
    assert await affairs.sweep_overdue() == 0
    assert [s for (s, _), _ in store.events].count(ITEM_OVERDUE) == 1
    seen, _ = await affairs.get(STAFF, item.id)
    assert seen.overdue and seen.history[-1].action == "overdue"
    overdue = await affairs.list_items(STAFF, {"overdue_only": True}, None, 10)
    assert [i.id for i, _ in overdue] == [item.id]


async def test_a_completed_task_is_evidence_on_the_item_it_was_posted_for(world) -> None:  # type: ignore[no-untyped-def]
    affairs, store, _ = world
    item, _ = await affairs.create(STAFF, "r-1", draft())
    await affairs.link_task(STAFF, item.id, "r-2", "task-1")
    await affairs.task_completed(None, "task-1", "买菜: done by 1 member(s)")
    await affairs.task_completed(None, "task-1", "again")
    seen, _ = await affairs.get(STAFF, item.id)
    assert [e.action for e in seen.history].count("task_completed") == 1
    assert [s for (s, _), _ in store.events][-1] == ITEM_MOVED


async def test_the_figures_cover_what_the_caller_may_see(world) -> None:  # type: ignore[no-untyped-def]
    affairs, _, clock = world
    a, _ = await affairs.create(STAFF, "r-1", draft())
    await affairs.resolve(STAFF, a.id, "r-2", "贴了告示")
    clock.now += timedelta(days=2)
    await affairs.answer(STAFF, a.id, "r-3", Answer.SATISFIED, "")
    await affairs.create(NEIGHBOUR, "r-4", draft("c-2"))
    await affairs.create(
        Principal("s3", Role.COMMUNITY_STAFF, frozenset({"c-3"})), "r-5", draft("c-3")
    )
    communities, streets, total = await affairs.figures(STREET, "", None, None)
    assert [f.scope_id for f in communities] == ["c-1", "c-2"]
    assert [f.scope_id for f in streets] == ["s-1"]
    assert (total.raised, total.solved_in_community, total.median_days_to_close) == (2, 1, 2.0)
    _, _, everything = await affairs.figures(DISTRICT, "", None, None)
    assert everything.raised == 3


async def test_corrections_are_entries_and_only_who_sees_the_resident_may_change_them(  # type: ignore[no-untyped-def]
    world,
) -> None:
    affairs, _, _ = world
    item, _ = await affairs.create(STAFF, "r-1", draft())
    fixed = draft(contact=Contact("测试·周强", "19900009999"), summary="东门车辆乱停")
    with pytest.raises(NotYours):
        await affairs.edit(STREET, item.id, "r-2", fixed, ["contact"])
    edited, _ = await affairs.edit(STREET, item.id, "r-3", fixed, ["summary"])
    assert edited.summary == "东门车辆乱停" and edited.history[-1].action == "edited"
    edited, _ = await affairs.edit(STAFF, item.id, "r-4", fixed, ["contact"])
    assert edited.contact.phone == "19900009999"
    with pytest.raises(InvalidArgument) as e:
        await affairs.edit(STAFF, item.id, "r-5", fixed, ["stage"])
    assert e.value.violations[0].field == "update_mask.paths"


async def test_the_account_an_item_is_routed_to_resolves_it_and_does_nothing_else(  # type: ignore[no-untyped-def]
    world,
) -> None:
    affairs, _, _ = world
    item, _ = await affairs.create(STAFF, "r-1", draft())
    await affairs.escalate(STAFF, item.id, "r-2", "需要交警配合")
    await affairs.route(STREET, item.id, "r-3", UNIT, None, "")
    # The handler is community staff elsewhere: that gives it no say over this item.
    with pytest.raises(NotYours):
        await affairs.route(
            Principal("unit-1", Role.STREET_ADMIN, street_ids=frozenset({"s-2"})),
            item.id,
            "r-4",
            UNIT,
            None,
            "",
        )
    with pytest.raises(NotYours):
        await affairs.send_back(HANDLER, item.id, "r-5", "退回")
    with pytest.raises(NotYours):
        await affairs.edit(HANDLER, item.id, "r-6", draft(summary="改"), ["summary"])
    await affairs.resolve(HANDLER, item.id, "r-7", "划了车位")
    with pytest.raises(NotYours):
        await affairs.answer(HANDLER, item.id, "r-8", Answer.SATISFIED, "")
