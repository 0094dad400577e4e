"""Drafts on the in-memory store: a run kept for review proposes nobody; staff pin or remove
pairs and it is planned again, keeping pins, accepted places and as many of its pairs as it
can; publishing proposes it once. Re-offers score as the run that proposed the place did."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.matching.domain.errors import NotADraft
from services.matching.domain.scope import Scope
from services.matching.solver.model import Weights
from tests.usecase.matching_support import ADMIN, District, district, staff

C1 = Scope("community", "c1")


async def draft_run(d: District, scope: Scope = C1, **changes: object) -> str:
    asked: dict[str, object] = {
        "dry_run": False,
        "method": "auto",
        "time_limit_s": 5,
        "gap_target": 0,
        "weights": Weights(),
        "max_distance_m": 0,
        "draft": True,
    }
    asked.update(changes)
    run = await d.matching.run(staff("c1"), scope, **asked)  # type: ignore[arg-type]
    return run.id


async def pairs(d: District, run_id: str) -> set[tuple[str, str]]:
    rows, _ = await d.matching.run_assignments(staff("c1"), run_id, 0, "")
    return {(a.task_id, a.member_id) for a in rows}


async def community(members: int = 3) -> tuple[District, list[str]]:
    d = district()
    await d.community("c1", "s1")
    await d.community("c2", "s1")
    # The first is nearest the tasks: each plan takes them first.
    ids = [await d.member("c1", lat=36.981 + 0.001 * k, lng=117.171) for k in range(members)]
    return d, ids


async def test_a_draft_proposes_nobody_until_it_is_published_and_then_once() -> None:
    d, members = await community()
    task_id = await d.task("c1", "s1")
    run_id = await draft_run(d)

    run = await d.matching.get_run(staff("c1"), run_id)
    assert run.state == "draft" and run.dry_run
    assert d.proposals() == [] and d.matching.world.pending == {}
    assert await pairs(d, run_id) == {(task_id, members[0])}

    published = await d.matching.publish_draft(staff("c1"), run_id)
    assert published.state == "succeeded" and published.published_at is not None
    assert not published.dry_run
    (proposal,) = d.proposals()
    assert (proposal.task_id, proposal.member_id, proposal.match_run_id) == (
        task_id,
        members[0],
        run_id,
    )
    assert (task_id, members[0]) in d.matching.world.pending
    with pytest.raises(NotADraft):
        await d.matching.publish_draft(staff("c1"), run_id)
    with pytest.raises(NotADraft):
        await d.matching.edit_draft(staff("c1"), run_id, [])


async def test_a_draft_is_not_a_dry_run_too() -> None:
    d, _ = await community()
    with pytest.raises(InvalidArgument) as e:
        await draft_run(d, dry_run=True)
    assert e.value.violations[0].field == "draft"


async def test_a_pinned_pair_stays_and_a_removed_one_never_returns() -> None:
    d, members = await community()
    task_id = await d.task("c1", "s1")
    run_id = await draft_run(d)
    assert await pairs(d, run_id) == {(task_id, members[0])}

    run = await d.matching.edit_draft(ADMIN, run_id, [(task_id, members[2], "pin")])
    assert await pairs(d, run_id) == {(task_id, members[2])}
    assert run.figures["changed_pairs"] == 2 and run.figures["pinned_pairs"] == 1
    rows, _ = await d.matching.run_assignments(ADMIN, run_id, 0, "")
    assert [a.pinned for a in rows] == [True]

    # Removing the pinned pair unpins it; the member is never planned there again.
    await d.matching.edit_draft(ADMIN, run_id, [(task_id, members[2], "remove")])
    assert await pairs(d, run_id) == {(task_id, members[0])}
    await d.matching.edit_draft(ADMIN, run_id, [(task_id, members[0], "remove")])
    assert await pairs(d, run_id) == {(task_id, members[1])}
    await d.matching.edit_draft(ADMIN, run_id, [])
    assert await pairs(d, run_id) == {(task_id, members[1])}


async def test_a_replan_after_a_task_is_added_changes_only_what_it_must() -> None:
    d, _ = await community()
    first = await d.task("c1", "s1", headcount=2)
    run_id = await draft_run(d)
    before = await pairs(d, run_id)
    assert len(before) == 2

    added = await d.task("c1", "s1", lat=36.985)
    run = await d.matching.edit_draft(staff("c1"), run_id, [])
    after = await pairs(d, run_id)
    assert before <= after and {t for t, _ in after - before} == {added}
    assert run.figures["changed_pairs"] == 1
    assert first in {t for t, _ in after}


async def test_a_replan_never_changes_an_accepted_place() -> None:
    d, members = await community()
    task_id = await d.task("c1", "s1")
    run_id = await draft_run(d)
    # Meanwhile the third member took the place through a claim, and it was accepted.
    d.tasks[task_id].places_taken = 1
    await d.answer(task_id, members[2], "", "accepted")

    await d.matching.edit_draft(staff("c1"), run_id, [])
    assert await pairs(d, run_id) == set()
    await d.matching.publish_draft(staff("c1"), run_id)
    assert d.proposals() == []


async def test_a_pin_the_caller_may_not_plan_or_the_member_cannot_take_is_refused() -> None:
    d, members = await community()
    far = await d.member("c1", lat=37.2, lng=117.171)
    other = await d.member("c2")
    task_id = await d.task("c1", "s1")
    run_id = await draft_run(d)

    for member_id, field in ((other, "edits[0].member_id"), (far, "edits[0]")):
        with pytest.raises(InvalidArgument) as e:
            await d.matching.edit_draft(staff("c1"), run_id, [(task_id, member_id, "pin")])
        assert e.value.violations[0].field == field
    assert await pairs(d, run_id) == {(task_id, members[0])}
    assert await d.store.draft_edits(run_id) == {}


async def test_a_re_offer_scores_and_reaches_as_its_run_did() -> None:
    d = district()
    await d.community("c1", "s1")
    near = await d.member("c1", lat=36.9812, lng=117.171)
    second = await d.member("c1", lat=36.9825, lng=117.171)  # about 170 m away
    far = await d.member("c1", lat=36.993, lng=117.171)  # about 1.3 km away: beyond the run
    task_id = await d.task("c1", "s1")
    run = await d.matching.run(
        staff("c1"),
        C1,
        dry_run=False,
        method="auto",
        time_limit_s=5,
        gap_target=0,
        weights=Weights(),
        max_distance_m=500,
    )
    assert [p.member_id for p in d.proposals()] == [near]

    await d.answer(task_id, near, run.id, "proposed")
    await d.answer(task_id, near, run.id, "declined")
    assert [p.member_id for p in d.proposals()] == [near, second]
    # The run's own proposal, then a re-offer, and the event says which is which.
    assert [p.reoffer for p in d.proposals()] == [False, True]
    await d.answer(task_id, second, run.id, "proposed")
    await d.answer(task_id, second, run.id, "declined")
    # The defaults would reach 3 km: the run reached 500 m, and so do its re-offers.
    assert [p.member_id for p in d.proposals()] == [near, second]
    assert far not in {p.member_id for p in d.proposals()}
