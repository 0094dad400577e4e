"""Running matching on the in-memory store: what a run proposes and holds, dry runs, tasks the
planner cannot take, runs that overlap or are too many, and runs whose planning fails."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from services.common import paging
from services.common.errors import Aborted, ResourceExhausted
from services.matching import service as matching_service
from services.matching.domain.errors import INVALID_TASK, RUN_IN_PROGRESS
from services.matching.domain.scope import Scope
from services.matching.solver.model import Weights
from tests.usecase.matching_support import ADMIN, District, district, staff


@pytest.fixture(autouse=True)
def signing_key() -> Iterator[None]:
    with paging.signing_key(b"usecase tests"):
        yield


async def hood(members: int = 3) -> tuple[District, list[str]]:
    d = district()
    await d.community("c1", "s1")
    await d.community("c2", "s1")
    return d, [await d.member("c1") for _ in range(members)]


async def run(d: District, who: Any = None, scope: Scope | None = None, **kw: Any) -> Any:
    return await d.matching.run(
        who or staff("c1"),
        scope or Scope("community", "c1"),
        dry_run=kw.pop("dry_run", False),
        method=kw.pop("method", "auto"),
        time_limit_s=5,
        gap_target=0,
        weights=Weights(),
        max_distance_m=0,
    )


async def test_a_run_proposes_every_place_it_fills_and_holds_them_until_answered() -> None:
    d, members = await hood()
    tasks = [await d.task("c1", "s1") for _ in range(2)]

    first = await run(d)

    assert first.state == "succeeded" and first.figures["places_filled"] == 2
    proposed = d.proposals()
    assert sorted(p.task_id for p in proposed) == sorted(tasks)
    assert {p.member_id for p in proposed} <= set(members)
    assert all(p.match_run_id == first.id and "m of home" in p.explanation for p in proposed)
    assert set(d.matching.world.pending) == {(p.task_id, p.member_id) for p in proposed}
    # The places stay held: the next run has nothing to give.
    second = await run(d)
    assert second.figures["places_filled"] == 0 and len(d.proposals()) == 2


async def test_a_dry_run_plans_but_proposes_and_holds_nothing() -> None:
    d, _ = await hood()
    await d.task("c1", "s1")

    dry = await run(d, dry_run=True)

    assert dry.dry_run and dry.figures["places_filled"] == 1
    assert d.proposals() == [] and d.matching.world.pending == {}
    assignments, _ = await d.matching.run_assignments(staff("c1"), dry.id, 0, "")
    assert len(assignments) == 1


async def test_a_task_the_planner_cannot_take_is_reported_empty_and_the_run_succeeds() -> None:
    d, _ = await hood()
    good = await d.task("c1", "s1")
    bad = await d.task("c1", "s1", lat=float("nan"))

    done = await run(d)

    assert done.state == "succeeded" and done.figures["invalid_tasks"] == 1
    assert [p.task_id for p in d.proposals()] == [good]
    places, _ = await d.matching.unfilled_places(staff("c1"), done.id, 0, "")
    assert [(u.task_id, u.reason) for u in places] == [(bad, INVALID_TASK)]
    assert "cannot be planned" in places[0].explanation


async def test_a_run_whose_scope_overlaps_one_in_progress_is_refused_with_its_id() -> None:
    d, _ = await hood()
    running, _ = await d.store.start_run(Scope("street", "s1"), "s1", True, "auto", "elsewhere")
    assert running is not None

    with pytest.raises(Aborted) as refused:
        await run(d)

    assert refused.value.reason == RUN_IN_PROGRESS
    assert refused.value.metadata == {"run_id": running}
    # Another street's community is not in the way.
    await d.community("c9", "s2")
    other = await run(d, ADMIN, Scope("community", "c9"))
    assert other.state == "succeeded"


class Gate:
    """Holds every run's planning until opened."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()

    def __call__(self, instance: Any) -> Any:
        self.entered.set()
        assert self.open.wait(60), "the gate was never opened"
        return REAL_PLAN(instance)


REAL_PLAN = matching_service.plan


async def test_beyond_the_runs_a_process_may_plan_at_once_callers_are_told_to_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    d = district(max_concurrent_runs=1)
    await d.community("c1", "s1")
    await d.community("c9", "s2")
    gate = Gate()
    monkeypatch.setattr(matching_service, "plan", gate)
    held = asyncio.ensure_future(run(d))
    try:
        assert await asyncio.to_thread(gate.entered.wait, 60)
        with pytest.raises(ResourceExhausted) as refused:
            await run(d, ADMIN, Scope("community", "c9"))
        assert "retry later" in refused.value.message
    finally:
        gate.open.set()
    assert (await held).state == "succeeded"
    assert d.matching.running == 0


async def test_a_run_whose_planning_fails_is_recorded_failed_and_holds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    d, _ = await hood()
    await d.task("c1", "s1")

    def broken(_instance: Any) -> Any:
        raise RuntimeError("the solver fell over")

    monkeypatch.setattr(matching_service, "plan", broken)
    with pytest.raises(RuntimeError):
        await run(d)

    (failed,), _ = await d.matching.list_runs(ADMIN, Scope("district"), 0, "")
    assert failed.state == "failed" and "fell over" in failed.error
    assert d.proposals() == [] and d.matching.world.pending == {}
