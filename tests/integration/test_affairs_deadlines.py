"""The time limits over real servers, with the service's clock moved: an item past the limit of
its stage is flagged once, announced once (ItemOverdue), shown in the overdue ledger, and a new
stage starts a new limit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from linli.v1 import affairs_pb2 as pb
from linli.v1 import events_pb2
from services.common.settings import AffairsSettings
from services.common.subjects import ITEM_OVERDUE
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
from tests.integration.tasks_support import until
from tests.support import request_id

__all__ = ["affairs", "affairs_clock", "affairs_rt", "affairs_settings"]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def street(stub, affairs_rt, affairs_settings: AffairsSettings) -> Street:  # type: ignore[no-untyped-def]
    return await make_street(stub, affairs_rt, affairs_settings)


async def overdue_events(js, item_id: str) -> list[events_pb2.ItemOverdue]:  # type: ignore[no-untyped-def]
    out = []
    for env in await read_events(js, ITEM_OVERDUE):
        payload = events_pb2.ItemOverdue()
        if env.payload.Unpack(payload) and payload.item.id == item_id:
            out.append(payload)
    return out


async def test_an_item_past_its_limit_is_flagged_and_announced_once(
    affairs, street: Street, affairs_rt, affairs_clock: MovableClock
) -> None:  # type: ignore[no-untyped-def]
    urgent = await log(
        affairs,
        street.staff,
        concern(
            street.home,
            street.home_grid,
            summary="单元门禁损坏，独居老人出入不便",
            category=pb.ITEM_CATEGORY_SAFETY,
            urgency=pb.ITEM_URGENCY_URGENT,
        ),
    )
    calm = await log(affairs, street.staff, concern(street.home, street.home_grid))
    # An urgent safety matter must be taken in hand within hours, a repair within days.
    limit = urgent.due_time.seconds - urgent.create_time.seconds
    assert limit == int(timedelta(days=2 * 0.5 * 0.25).total_seconds())
    try:
        affairs_clock.offset = timedelta(hours=7)
        await affairs_rt.affairs.sweep_overdue()
        await affairs_rt.affairs.sweep_overdue()
        got = await affairs.GetItem(pb.GetItemRequest(id=urgent.id), metadata=street.staff)
        assert got.item.overdue and got.item.history[-1].action == "overdue"
        other = await affairs.GetItem(pb.GetItemRequest(id=calm.id), metadata=street.staff)
        assert not other.item.overdue
        listed = await affairs.ListItems(
            pb.ListItemsRequest(community_id=street.home, overdue_only=True),
            metadata=street.street_admin,
        )
        assert [i.id for i in listed.items] == [urgent.id]

        async def announced() -> bool:
            return len(await overdue_events(affairs_rt.js, urgent.id)) >= 1

        await until(announced)
        [event] = await overdue_events(affairs_rt.js, urgent.id)
        assert event.stage == pb.ITEM_STAGE_OPEN and event.due_time == urgent.due_time
        assert not event.item.HasField("contact")

        # Taking it in hand starts the next stage's limit: no longer overdue, but it was.
        moved = await affairs.AssignItem(
            pb.AssignItemRequest(id=urgent.id, request_id=request_id(), assignee="网格员"),
            metadata=street.staff,
        )
        assert not moved.item.overdue and moved.item.ever_overdue
        assert moved.item.due_time.seconds > got.item.due_time.seconds
    finally:
        affairs_clock.offset = timedelta()


async def test_the_sweep_runs_by_itself_under_supervision(
    affairs_rt,  # type: ignore[no-untyped-def]
) -> None:
    names = {state.name for state in affairs_rt.supervisor.states}
    assert "overdue items" in names
