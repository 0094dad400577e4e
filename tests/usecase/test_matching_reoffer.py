"""Re-offers on the in-memory store: a place a proposal freed goes to the next best member at
once, on behalf of the run that proposed it; a place the task service could not give does not."""

from __future__ import annotations

from linli.v1 import events_pb2
from tests.usecase.matching_support import proposed_once


async def test_a_declined_place_is_offered_to_the_next_best_member_at_once() -> None:
    d, task_id, first = await proposed_once()
    await d.answer(task_id, first.member_id, first.match_run_id, "proposed")
    await d.answer(task_id, first.member_id, first.match_run_id, "declined")

    _, second = d.proposals()
    assert second.task_id == task_id and second.member_id != first.member_id
    assert second.match_run_id == first.match_run_id and second.rank == 1
    assert second.explanation.startswith("re-offered: within ")
    assert (task_id, first.member_id) in d.matching.world.refusals
    assert (task_id, second.member_id) in d.matching.world.pending
    assert d.matching.reoffers == 1


async def test_a_member_the_task_service_could_not_take_is_passed_over_for_good() -> None:
    d, task_id, first = await proposed_once()
    await d.feed(
        "linli.tasks.proposal.rejected",
        events_pb2.ProposalRejected(
            match_run_id=first.match_run_id,
            task_id=task_id,
            member_id=first.member_id,
            reason="clash",
            place_unavailable=False,
        ),
    )

    _, second = d.proposals()
    assert second.member_id != first.member_id
    assert (task_id, first.member_id) in d.matching.world.refusals
    assert (task_id, first.member_id) not in d.matching.world.pending


async def test_a_place_the_task_service_had_no_longer_is_not_offered_again() -> None:
    d, task_id, first = await proposed_once()
    await d.feed(
        "linli.tasks.proposal.rejected",
        events_pb2.ProposalRejected(
            match_run_id=first.match_run_id,
            task_id=task_id,
            member_id=first.member_id,
            reason="full",
            place_unavailable=True,
        ),
    )

    assert d.proposals() == [first]
    assert d.matching.world.pending == {} and d.matching.world.refusals == set()


async def test_with_re_offers_turned_off_a_declined_place_waits_for_the_next_run() -> None:
    d, task_id, first = await proposed_once(reoffer=False)
    await d.answer(task_id, first.member_id, first.match_run_id, "declined")

    assert d.proposals() == [first]
    assert (task_id, first.member_id) in d.matching.world.refusals
