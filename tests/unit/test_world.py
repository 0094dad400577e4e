"""The matching service's in-memory world: what it counts as a member's load and busy time,
what it holds as offered, which tasks it can plan, and what its suggestions let a caller see."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.values import PUBLIC_DEGREES, WeeklyWindow, public_place
from services.matching.domain.privacy import DISTANCE_BAND_M
from services.matching.domain.rows import AssignmentRow, MemberRow, TaskRow
from services.matching.domain.scope import Scope
from services.matching.domain.suggestions import suggest_members, suggest_tasks
from services.matching.domain.world import World
from services.matching.service import plan
from services.matching.solver.model import Params, Weights

NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
ALWAYS = tuple(WeeklyWindow(d, 0, 1440) for d in range(1, 8))


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
    return [m for m, *_ in suggest_members(w, task_id, 5, NOW, Weights(), 3000.0)]


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
    assert w.open_places(w.tasks["a"], NOW) == 1
    assert suggested(w, "a") == []  # not twice on one task
    assert ("a", "m") in w.instance(Scope("district"), NOW, Weights(), Params()).excluded


def test_the_task_services_word_replaces_the_pending_proposal() -> None:
    w = world(task("a", 0, 3.0), task("b", 5, 2.0))
    w.offer("a", "m")
    t = w.tasks["a"]
    w.put_assignment(AssignmentRow("x", "m", "a", "declined", t.start, t.end, False, 3.0, 0))
    assert w.pending == {}
    assert suggested(w, "b") == ["m"]  # a declined proposal holds nothing


def test_an_offered_place_stays_held_when_the_tasks_row_is_reloaded() -> None:
    w = world(task("a", 0, 1.0))
    w.offer("a", "m")
    w.put_task(task("a", 0, 1.0))  # another event about the task: its row, places_taken 0
    assert w.open_places(w.tasks["a"], NOW) == 0
    assert w.instance(Scope("community", "c"), NOW, Weights(), Params()).tasks == ()
    w.settle("a", "m")  # the task service rejected it: the place is free again
    assert w.open_places(w.tasks["a"], NOW) == 1


def test_a_closed_task_holds_nothing_offered_on_it() -> None:
    w = world(task("a", 0, 3.0), task("b", 5, 2.0))
    w.offer("a", "m")
    w.put_task(replace(task("a", 0, 3.0), status="cancelled"))
    assert w.pending == {} and suggested(w, "b") == ["m"]


def test_a_task_the_planner_cannot_take_is_left_out_and_reported_not_fatal() -> None:
    absurd = replace(
        task("bad", 0, 1.0),
        start=datetime(9999, 12, 31, tzinfo=UTC),
        end=datetime(9999, 12, 31, 23, tzinfo=UTC),
    )
    w = world(task("good", 0, 1.0), absurd)
    scope = Scope("community", "c")
    instance = w.instance(scope, NOW, Weights(), Params())
    assert [t.id for t in instance.tasks] == ["good"]
    assert [(t, n) for t, n, _why in w.invalid_tasks(scope, NOW)] == [("bad", 1)]
    result = plan(instance).result
    assert [a.task_id for a in result.assignments] == ["good"]
    assert suggested(w, "bad") == []
    assert [t for t, *_ in suggest_tasks(w, "m", 10, NOW, Weights(), 3000.0)] == ["good"]
    for broken in (
        replace(task("x", 0, 1.0), lat=float("nan")),
        replace(task("x", 0, 1.0), effort_hours=1e308),
        replace(task("x", 0, 1.0), end=NOW - timedelta(days=3)),
        replace(task("x", 0, 1.0), headcount=0),
        replace(task("x", 0, 1.0), skills=(("tutoring", 4),)),
    ):
        w.put_task(broken)
        assert "x" in {t for t, *_ in w.invalid_tasks(scope, NOW)}
        assert "x" not in {t.id for t in w.instance(scope, NOW, Weights(), Params()).tasks}


def test_a_deactivated_member_is_neither_planned_nor_suggested() -> None:
    w = world(task("a", 0, 1.0))
    w.put_member(replace(member(), active=False))
    assert suggested(w, "a") == []
    assert w.instance(Scope("community", "c"), NOW, Weights(), Params()).members == ()


CELL = st.floats(-0.49, 0.49)


@settings(max_examples=80, deadline=None)
@given(CELL, CELL, st.floats(-0.004, 0.004), st.floats(-0.004, 0.004))
def test_what_a_member_is_shown_of_a_wish_follows_from_its_public_place_only(
    dlat: float, dlng: float, home_dlat: float, home_dlng: float
) -> None:
    """Anywhere in its public cell, a wish gives a member the same score, distance and reason as
    a wish at the cell's centre: moving one's own home about reveals nothing finer."""
    centre = public_place(36.981, 117.171)
    exact = replace(
        task("a", 0, 1.0),
        lat=centre[0] + dlat * PUBLIC_DEGREES,
        lng=centre[1] + dlng * PUBLIC_DEGREES,
    )
    at_centre = replace(exact, lat=centre[0], lng=centre[1])
    home = replace(member(), lat=36.98 + home_dlat, lng=117.17 + home_dlng)
    shown = []
    for t in (exact, at_centre):
        w = World()
        w.put_member(home)
        w.put_task(t)
        shown.append(suggest_tasks(w, "m", 5, NOW, Weights(), 3000.0))
    assert shown[0] == shown[1]


@settings(max_examples=80, deadline=None)
@given(CELL, CELL)
def test_staff_see_members_outside_their_scope_only_by_banded_distance(
    dlat: float, dlng: float
) -> None:
    """Moving a member's home within its public cell changes nothing shown to a caller outside
    their scope, and the distance shown is a band."""
    centre = public_place(36.98, 117.17)
    shown = []
    for lat, lng in (
        (centre[0] + dlat * PUBLIC_DEGREES, centre[1] + dlng * PUBLIC_DEGREES),
        centre,
    ):
        w = World()
        w.put_member(replace(member(), lat=lat, lng=lng))
        w.put_task(task("a", 0, 1.0))
        shown.append(suggest_members(w, "a", 5, NOW, Weights(), 3000.0, exact=lambda _m: False))
    assert shown[0] == shown[1]
    ((_m, _score, distance, reason),) = shown[0]
    assert distance % DISTANCE_BAND_M == 0 and reason.startswith(f"within {distance:.0f} m")


def test_a_member_with_odd_levels_or_hours_is_planned_without_breaking_the_run() -> None:
    w = world(replace(task("a", 0, 1.0), skills=(("tutoring", 3),)))
    w.put_member(replace(member(), skills={"tutoring": 1000}, hours_per_month=10**9))
    instance = w.instance(Scope("community", "c"), NOW, Weights(), Params())
    result = plan(instance).result
    assert [(a.task_id, a.member_id) for a in result.assignments] == [("a", "m")]


def test_what_the_solver_sees_of_slots_teams_units_and_events() -> None:
    """A member who served a slot stands in it; a team's places left need only the skills its
    members do not bring yet; only a role's event (a slot) may be over-booked, never a wish."""
    w = World()
    w.put_member(replace(member(), skills={"driving": 2}, unit_id="u1"))
    team = replace(
        task("team", 0, 1.0, headcount=2),
        skills=(("driving", 1), ("first_aid", 1)),
        team=True,
        unit_id="u1",
    )
    wish = replace(task("wish", 3, 1.0, headcount=30), overbook_cap=5)
    event = replace(task("event", 6, 1.0, headcount=30), overbook_cap=5, slot="r9:4:0800")
    for t in (team, wish, event):
        w.put_task(t)
    w.put_assignment(
        AssignmentRow("a1", "m", "old", "completed", NOW, NOW, False, 1.0, 1.0, slot="r1:2:1630")
    )
    instance = w.instance(Scope("district"), NOW, Weights(), Params())
    (seen,) = instance.members
    assert seen.slots == frozenset({"r1:2:1630"}) and seen.unit_id == "u1"
    got = {t.id: t for t in instance.tasks}
    assert got["team"].team and got["team"].skills == team.skills
    assert got["wish"].overbook_cap == 0 and got["event"].overbook_cap == 5

    w.offer("team", "m")  # the driver holds one place: the other must bring first aid
    (left,) = [
        t for t in w.instance(Scope("district"), NOW, Weights(), Params()).tasks if t.id == "team"
    ]
    assert left.skills == (("first_aid", 1),) and left.places == 1
