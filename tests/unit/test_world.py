"""The matching service's in-memory world: what it counts as a member's load and busy time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.matching.solver.model import Params, Weights, Window
from services.matching.world import CommitmentRow, MemberRow, Scope, TaskRow, World

NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
ALWAYS = tuple(Window(d, 0, 1440) for d in range(1, 8))


def member(hours: int = 4) -> MemberRow:
    return MemberRow("m", "c", "s", True, True, 36.98, 117.17, {}, ALWAYS, hours)


def task(task_id: str, start_h: int, effort: float, headcount: int = 1) -> TaskRow:
    start = NOW + timedelta(days=2, hours=start_h)
    return TaskRow(
        task_id,
        "c",
        "s",
        False,
        36.981,
        117.171,
        (),
        headcount,
        0,
        start,
        start + timedelta(hours=effort),
        False,
        effort,
        "elderly",
        "open",
        NOW,
    )


def world(*tasks: TaskRow) -> World:
    w = World()
    w.put_member(member())
    for t in tasks:
        w.put_task(t)
    return w


def suggested(w: World, task_id: str) -> list[str]:
    return [m for m, *_ in w.suggest_members(task_id, 5, NOW, Weights(), 3000.0)]


def test_a_proposal_not_yet_answered_counts_against_the_members_hours() -> None:
    w = world(task("a", 0, 3.0), task("b", 5, 2.0))
    assert suggested(w, "b") == ["m"]
    w.offer("a", "m")
    assert suggested(w, "b") == []  # 3 h offered of 4: no room for 2 more
    w.settle("a", "m")  # the task service rejected it
    assert suggested(w, "b") == ["m"]


def test_a_pending_proposal_blocks_its_time_and_its_place() -> None:
    w = world(task("a", 0, 1.0, headcount=2), task("b", 0, 1.0))
    w.offer("a", "m")
    assert suggested(w, "b") == []  # busy at that time
    assert w.tasks["a"].places_taken == 1 and suggested(w, "a") == []  # not twice on one task
    assert ("a", "m") in w.instance(Scope("district"), NOW, Weights(), Params()).excluded


def test_the_task_services_word_replaces_the_pending_proposal() -> None:
    w = world(task("a", 0, 3.0), task("b", 5, 2.0))
    w.offer("a", "m")
    t = w.tasks["a"]
    w.put_commitment(CommitmentRow("x", "m", "a", "declined", t.start, t.end, False, 3.0, 0))
    assert w.pending == {}
    assert suggested(w, "b") == ["m"]  # a declined proposal holds nothing
