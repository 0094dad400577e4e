"""The standby list's turn on the in-memory store: a freed place goes to the members waiting on
the task's list first (best score, then joining order), and only then to the normal re-offer."""

from __future__ import annotations

from datetime import timedelta

from linli.v1 import events_pb2
from services.common.protoconv import ts
from tests.usecase.matching_support import NOW, District, proposed_once


async def wait(d: District, task_id: str, member_id: str, minutes: int = 0) -> None:
    await d.feed(
        "linli.tasks.standby.joined",
        events_pb2.StandbyJoined(
            task_id=task_id, member_id=member_id, join_time=ts(NOW + timedelta(minutes=minutes))
        ),
    )


async def held(d: District, task_id: str, member_id: str, run_id: str) -> None:
    """The task service's word that the proposal holds the task's one place."""
    d.tasks[task_id].places_taken = 1
    await d.answer(task_id, member_id, run_id, "proposed")


async def declined(d: District, task_id: str, member_id: str, run_id: str) -> None:
    d.tasks[task_id].places_taken = 0
    await d.answer(task_id, member_id, run_id, "declined")


async def test_a_freed_place_is_offered_to_the_standby_list_before_anyone_else() -> None:
    d, task_id, first = await proposed_once()
    await held(d, task_id, first.member_id, first.match_run_id)
    near = await d.member("c1")
    far = await d.member("c1", lat=36.99, lng=117.19)
    await wait(d, task_id, far, minutes=0)
    await wait(d, task_id, near, minutes=5)

    await declined(d, task_id, first.member_id, first.match_run_id)

    offered = d.proposals()[-1]
    # The nearer member scores better though they joined later.
    assert (offered.member_id, offered.standby, offered.match_run_id) == (near, True, "")
    assert offered.explanation == "offered from the standby list: a place was freed"
    assert (task_id, near) in d.matching.world.pending
    assert len(d.proposals()) == 2  # no re-offer beside it, nothing offered on joining


async def test_with_nobody_waiting_who_can_take_it_the_normal_re_offer_follows() -> None:
    d, task_id, first = await proposed_once()
    await held(d, task_id, first.member_id, first.match_run_id)
    await wait(d, task_id, first.member_id)  # refused once they decline: cannot take it

    await declined(d, task_id, first.member_id, first.match_run_id)

    offered = d.proposals()[-1]
    assert not offered.standby and offered.match_run_id == first.match_run_id
    assert offered.member_id != first.member_id


async def test_a_member_who_left_the_list_is_not_offered_the_place() -> None:
    d, task_id, first = await proposed_once()
    await held(d, task_id, first.member_id, first.match_run_id)
    waiting = await d.member("c1")
    await wait(d, task_id, waiting)
    await d.feed(
        "linli.tasks.standby.left",
        events_pb2.StandbyLeft(task_id=task_id, member_id=waiting, reason="left"),
    )

    await declined(d, task_id, first.member_id, first.match_run_id)

    assert not d.proposals()[-1].standby
    assert d.store.standby == {}


async def test_a_member_joining_while_a_place_is_free_is_offered_it_at_once() -> None:
    d, task_id, first = await proposed_once()
    await held(d, task_id, first.member_id, first.match_run_id)
    await declined(d, task_id, first.member_id, first.match_run_id)
    before = len(d.proposals())
    d.matching.world.settle(task_id, d.proposals()[-1].member_id)  # that offer was turned down
    latecomer = await d.member("c1")

    await wait(d, task_id, latecomer)

    assert len(d.proposals()) == before + 1
    assert (d.proposals()[-1].member_id, d.proposals()[-1].standby) == (latecomer, True)


async def test_more_places_on_a_changed_task_go_to_its_standby_list() -> None:
    d, task_id, first = await proposed_once()
    await held(d, task_id, first.member_id, first.match_run_id)
    waiting = await d.member("c1")
    await wait(d, task_id, waiting)
    before = len(d.proposals())
    grown = d.tasks[task_id]
    grown.headcount = 2
    grown.update_time.CopyFrom(ts(d.version()))

    await d.feed(
        "linli.tasks.task.changed",
        events_pb2.TaskChanged(task=grown, reason="人手不够"),
    )

    assert len(d.proposals()) == before + 1
    assert (d.proposals()[-1].member_id, d.proposals()[-1].standby) == (waiting, True)
