"""One suite for every implementation of the matching service's store: PostgreSQL (a fresh
schema per test) and memory must keep the read model, the world they load and the record of runs
alike."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from linli.v1 import events_pb2
from services.common import migrations
from services.common.auth import Principal, Role
from services.common.eventbus import Outbox
from services.common.values import WeeklyWindow
from services.matching import events
from services.matching.app import MIGRATIONS
from services.matching.domain.rows import AssignmentRow, MemberRow, TaskRow
from services.matching.domain.runs import PlannedAssignment, RunFilter, UnfilledPlace
from services.matching.domain.scope import Scope
from services.matching.domain.world import World
from services.matching.store import MatchingStore
from services.matching.store.memory import MemoryStore
from services.matching.store.postgres import PostgresStore
from tests.conftest import Servers

T0 = datetime(2026, 12, 1, tzinfo=UTC)
START = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
ADMIN = Principal("admin", Role.DISTRICT_ADMIN)


@pytest.fixture(params=["postgres", "memory"])
async def store(request: pytest.FixtureRequest, servers: Servers) -> AsyncIterator[MatchingStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    schema = f"matching_contract_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(servers.database_url)
    try:
        await migrations.apply(conn, schema, MIGRATIONS)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        servers.database_url, min_size=1, max_size=2, server_settings={"search_path": schema}
    )
    assert pool is not None
    try:
        yield PostgresStore(pool, Outbox(events.SERVICE))
    finally:
        await pool.close()


def ref() -> str:
    return str(uuid.uuid4())


def member(member_id: str, community: str | None = "c1", **kw: object) -> MemberRow:
    fields: dict[str, object] = {
        "id": member_id,
        "community_id": community,
        "street_id": None,
        "active": True,
        "reported_in": True,
        "lat": 36.98,
        "lng": 117.17,
        "skills": {"tutoring": 2},
        "availability": (WeeklyWindow(6, 480, 720),),
        "hours_per_month": 8,
    }
    fields.update(kw)
    return MemberRow(**fields)  # type: ignore[arg-type]


def task(task_id: str, **kw: object) -> TaskRow:
    fields: dict[str, object] = {
        "id": task_id,
        "community_id": "c1",
        "street_id": "s1",
        "street_wide": False,
        "lat": 36.981,
        "lng": 117.171,
        "skills": (("tutoring", 1),),
        "headcount": 2,
        "places_taken": 0,
        "start": START,
        "end": START + timedelta(hours=2),
        "flexible": False,
        "effort_hours": 2.0,
        "beneficiary": "elderly",
        "status": "open",
        "posted_at": T0,
    }
    fields.update(kw)
    return TaskRow(**fields)  # type: ignore[arg-type]


def assignment(assignment_id: str, member_id: str, task_id: str, **kw: object) -> AssignmentRow:
    fields: dict[str, object] = {
        "assignment_id": assignment_id,
        "member_id": member_id,
        "task_id": task_id,
        "state": "proposed",
        "start": START,
        "end": START + timedelta(hours=2),
        "flexible": False,
        "effort_hours": 2.0,
        "hours": 0.0,
    }
    fields.update(kw)
    return AssignmentRow(**fields)  # type: ignore[arg-type]


async def loaded(store: MatchingStore) -> World:
    world = World()
    await store.load(world)
    return world


# -- the read model ------------------------------------------------------------------------------


async def test_a_member_is_kept_as_of_its_newest_version_in_its_communitys_street(
    store: MatchingStore,
) -> None:
    m = ref()
    async with store.transaction() as tx:
        await store.put_community(tx, "c1", "s1")
        await store.put_member(tx, member(m, hours_per_month=8), T0 + timedelta(minutes=2))
        await store.put_member(tx, member(m, hours_per_month=99), T0 + timedelta(minutes=1))
    world = await loaded(store)
    assert world.members[m] == member(m, street_id="s1", hours_per_month=8)
    assert world.communities == {"c1": "s1"}


async def test_a_member_of_no_community_has_no_street(store: MatchingStore) -> None:
    m = ref()
    async with store.transaction() as tx:
        await store.put_member(
            tx, member(m, community=None, reported_in=False, lat=None, lng=None), T0
        )
    world = await loaded(store)
    assert world.members[m].community_id is None and world.members[m].street_id is None


async def test_a_task_is_kept_whole_once_and_then_changes_only_its_places_and_status(
    store: MatchingStore,
) -> None:
    t = ref()
    async with store.transaction() as tx:
        await store.put_task(tx, task(t), T0)
        await store.put_task(tx, task(t, headcount=9, places_taken=1), T0 + timedelta(minutes=2))
        # An older version changes nothing.
        await store.put_task(tx, task(t, places_taken=0, status="cancelled"), T0)
    world = await loaded(store)
    assert world.tasks[t] == task(t, places_taken=1)


async def test_a_task_staff_changed_follows_in_time_place_and_headcount(
    store: MatchingStore,
) -> None:
    t, unseen = ref(), ref()
    later = START + timedelta(hours=3)
    moved = task(t, headcount=4, start=later, end=later + timedelta(hours=2), lat=36.99)
    async with store.transaction() as tx:
        await store.put_task(tx, task(t), T0)
        await store.change_task(tx, moved, T0 + timedelta(minutes=1))
        await store.change_task(tx, task(t), T0)  # older: nothing
        await store.change_task(tx, task(unseen), T0)  # never seen: nothing
    world = await loaded(store)
    assert world.tasks[t] == moved
    assert unseen not in world.tasks


async def test_only_open_and_filled_tasks_are_loaded_but_any_task_is_refreshed(
    store: MatchingStore,
) -> None:
    open_, filled, closed = ref(), ref(), ref()
    async with store.transaction() as tx:
        await store.put_task(tx, task(open_), T0)
        await store.put_task(tx, task(filled, status="filled", places_taken=2), T0)
        await store.put_task(tx, task(closed, status="closed"), T0)
    world = await loaded(store)
    assert set(world.tasks) == {open_, filled}
    await store.refresh(world, tasks=[closed])
    assert world.tasks[closed].status == "closed"


async def test_an_assignment_changes_only_its_state_and_hours_and_never_goes_back(
    store: MatchingStore,
) -> None:
    a, m, t = ref(), ref(), ref()
    async with store.transaction() as tx:
        await store.put_assignment(tx, assignment(a, m, t), T0)
        await store.put_assignment(
            tx,
            assignment(a, m, t, state="completed", hours=2.5, effort_hours=9.0),
            T0 + timedelta(1),
        )
        await store.put_assignment(tx, assignment(a, m, t, state="accepted"), T0)
    world = await loaded(store)
    assert world.assignments[a] == assignment(a, m, t, state="completed", hours=2.5)


async def test_refusals_and_proposals_not_yet_answered_come_back_with_the_world(
    store: MatchingStore,
) -> None:
    m, other, t = ref(), ref(), ref()
    run_id = ref()
    async with store.transaction() as tx:
        await store.put_community(tx, "c1", "s1")
        await store.put_member(tx, member(m), T0)
        await store.put_member(tx, member(other), T0)
        await store.put_task(tx, task(t), T0)
        await store.refuse(tx, t, other, "declined")
        await store.refuse(tx, t, other, "expired")  # the first word stays; no error
    await store.propose([events.proposal_made(run_id, t, m, 1, "near")])
    world = await loaded(store)
    assert world.refusals == {(t, other)}
    assert set(world.pending) == {(t, m)}
    assert world.open_places(world.tasks[t], T0) == 1

    async with store.transaction() as tx:
        await store.answered(tx, t, m)
    assert (await loaded(store)).pending == {}


async def test_standby_lists_and_standby_offers_come_back_with_the_world(
    store: MatchingStore,
) -> None:
    t, first, second, left = ref(), ref(), ref(), ref()
    async with store.transaction() as tx:
        await store.put_community(tx, "c1", "s1")
        await store.put_task(tx, task(t), T0)
        await store.put_standby(tx, t, second, T0 + timedelta(minutes=1))
        await store.put_standby(tx, t, first, T0)
        await store.put_standby(tx, t, first, T0 + timedelta(hours=1))  # joined once
        await store.put_standby(tx, t, left, T0)
        await store.drop_standby(tx, t, left)
    # An offer from the standby list is made outside any run.
    await store.propose([events.proposal_made("", t, first, 1, "standby", standby=True)])

    world = await loaded(store)

    assert world.standby == {t: {first: T0, second: T0 + timedelta(minutes=1)}}
    assert set(world.pending) == {(t, first)}


async def test_refresh_brings_only_the_rows_named_up_to_date(store: MatchingStore) -> None:
    m, t, a = ref(), ref(), ref()
    async with store.transaction() as tx:
        await store.put_community(tx, "c1", "s1")
        await store.put_member(tx, member(m), T0)
        await store.put_task(tx, task(t), T0)
    world = await loaded(store)
    async with store.transaction() as tx:
        await store.put_member(tx, member(m, active=False), T0 + timedelta(1))
        await store.put_task(tx, task(t, places_taken=1), T0 + timedelta(1))
        await store.put_assignment(tx, assignment(a, m, t), T0)
        await store.refuse(tx, t, m, "declined")
    await store.refresh(world, tasks=[t])
    assert world.members[m].active and world.tasks[t].places_taken == 1
    assert world.refusals == {(t, m)} and world.assignments == {}
    await store.refresh(world, members=[m], assignments=[a])
    assert not world.members[m].active and set(world.assignments) == {a}


# -- runs ----------------------------------------------------------------------------------------


async def test_runs_whose_scopes_overlap_never_run_at_once(store: MatchingStore) -> None:
    street, _ = await store.start_run(Scope("street", "s1"), "s1", False, "auto", "admin")
    assert street is not None
    for scope, in_street in (
        (Scope("community", "c1"), "s1"),
        (Scope("street", "s1"), "s1"),
        (Scope("district"), ""),
    ):
        assert await store.start_run(scope, in_street, False, "auto", "admin") == (None, street)
    elsewhere, clash = await store.start_run(Scope("community", "c9"), "s2", True, "auto", "x")
    assert elsewhere is not None and clash is None
    await store.fail_run(street, "test")
    again, clash = await store.start_run(Scope("community", "c1"), "s1", True, "auto", "x")
    assert again is not None and clash is None
    district = await store.start_run(Scope("district"), "", True, "auto", "x")
    assert district[0] is None and district[1] in (elsewhere, again)


async def test_a_run_whose_lease_lapsed_is_failed_as_interrupted(store: MatchingStore) -> None:
    run_id, _ = await store.start_run(Scope("community", "c1"), "s1", False, "auto", "admin")
    assert run_id is not None
    assert await store.fail_lapsed_runs(30.0) == 0
    assert await store.renew(run_id)
    await asyncio.sleep(0.05)
    assert await store.fail_lapsed_runs(0.01) == 1
    run = await store.get_run(run_id)
    assert run is not None and run.state == "failed" and run.error == "interrupted"
    assert run.finished_at is not None
    await store.fail_run(run_id, "later")  # a finished run keeps its word
    run = await store.get_run(run_id)
    assert run is not None and run.error == "interrupted"


async def test_a_finished_run_keeps_its_plan_its_figures_and_holds_its_proposals(
    store: MatchingStore,
) -> None:
    run_id, _ = await store.start_run(Scope("community", "c1"), "s1", False, "flow", "admin")
    assert run_id is not None
    tasks, members = [ref() for _ in range(3)], [ref() for _ in range(3)]
    planned = [
        PlannedAssignment(
            position=n,
            task_id=tasks[n],
            member_id=members[n],
            score=100.5 + n,
            distance_m=250.0,
            explanation="250 m from home",
            alternatives=[[members[(n + 1) % 3], 99.0, 300.0, "free", 500.0, 0.5, 0.5]],
            public_distance_m=400.0,
            facts={"skill_fit": 0.5, "load_hours": 1.0, "reliability": 0.5, "rank": 1},
        )
        for n in range(3)
    ]
    unfilled = [UnfilledPlace(0, tasks[0], 1, "no_skill", 0)]
    proposals = [events.proposal_made(run_id, tasks[n], members[n], 1, "near") for n in range(3)]
    await store.finish_run(run_id, planned, unfilled, {"places_filled": 3}, proposals, ADMIN)
    await store.set_figure(run_id, "write_s", 0.25)

    run = await store.get_run(run_id)
    assert run is not None
    assert (run.state, run.method, run.requested_by, run.dry_run) == (
        "succeeded",
        "flow",
        "admin",
        False,
    )
    assert (run.scope_kind, run.scope_id, run.street_id) == ("community", "c1", "s1")
    assert run.figures == {"places_filled": 3, "write_s": 0.25}
    assert await store.planned(run_id, -1, 2) == planned[:2]
    assert await store.planned(run_id, 1, 10) == planned[2:]
    assert await store.unfilled(run_id, -1, 10) == unfilled
    assert await store.unfilled(run_id, 0, 10) == []
    async with store.transaction() as tx:
        for t in tasks:
            await store.put_task(tx, task(t), T0)
    assert set((await loaded(store)).pending) == set(zip(tasks, members, strict=True))
    assert isinstance(proposals[0][1], events_pb2.ProposalMade)
    assert await store.get_run(ref()) is None
    assert await store.get_run("not an id") is None


async def test_a_draft_is_replaced_whole_with_its_edits_and_published_once(
    store: MatchingStore,
) -> None:
    run_id, _ = await store.start_run(Scope("community", "c1"), "s1", True, "auto", "admin")
    assert run_id is not None
    tasks, members = [ref() for _ in range(2)], [ref() for _ in range(2)]

    def plan(n: int) -> list[PlannedAssignment]:
        return [
            PlannedAssignment(
                position=0,
                task_id=tasks[n],
                member_id=members[n],
                score=100.0,
                distance_m=250.0,
                explanation="250 m from home",
                alternatives=[],
                public_distance_m=400.0,
                facts={"rank": 1, "pinned": n == 1},
            )
        ]

    await store.finish_run(run_id, plan(0), [], {"places_filled": 1}, [], ADMIN, draft=True)
    run = await store.get_run(run_id)
    assert run is not None and run.state == "draft" and run.published_at is None
    assert await store.draft_edits(run_id) == {}

    edits = {(tasks[1], members[1]): "pin", (tasks[0], members[0]): "remove"}
    gone = [UnfilledPlace(0, tasks[0], 1, "outscored", 1)]
    assert await store.replace_draft(run_id, plan(1), gone, {"changed_pairs": 2}, edits)
    assert await store.planned(run_id, -1, 10) == plan(1)
    assert await store.unfilled(run_id, -1, 10) == gone
    assert await store.draft_edits(run_id) == edits
    run = await store.get_run(run_id)
    assert run is not None and run.figures == {"changed_pairs": 2} and run.state == "draft"

    proposals = [events.proposal_made(run_id, tasks[1], members[1], 1, "near")]
    assert await store.publish_draft(run_id, proposals, ADMIN, 0)
    run = await store.get_run(run_id)
    assert run is not None and run.state == "succeeded" and run.published_at is not None
    assert not run.dry_run
    assert run.figures["publish_skipped"] == 0
    assert not await store.publish_draft(run_id, proposals, ADMIN, 0)
    assert not await store.replace_draft(run_id, plan(0), [], {}, {})
    assert await store.planned(run_id, -1, 10) == plan(1)
    async with store.transaction() as tx:
        await store.put_task(tx, task(tasks[1]), T0)
    assert set((await loaded(store)).pending) == {(tasks[1], members[1])}


async def test_slots_teams_units_and_caps_come_back_with_the_world(store: MatchingStore) -> None:
    t, m, a = ref(), ref(), ref()
    async with store.transaction() as tx:
        await store.put_community(tx, "c1", "s1")
        await store.put_member(tx, member(m, unit_id="u1"), T0)
        await store.put_task(
            tx, task(t, slot="r1:6:0900", team=True, unit_id="u1", overbook_cap=3), T0
        )
        await store.put_assignment(tx, assignment(a, m, t, state="accepted", slot="r1:6:0900"), T0)
    world = await loaded(store)
    got = world.tasks[t]
    assert (got.slot, got.team, got.unit_id, got.overbook_cap) == ("r1:6:0900", True, "u1", 3)
    assert world.members[m].unit_id == "u1"
    assert world.assignments[a].slot == "r1:6:0900"
    assert world.solver_member(world.members[m], T0).slots == frozenset({"r1:6:0900"})


async def test_runs_are_listed_newest_first_by_scope_or_by_places_held(
    store: MatchingStore,
) -> None:
    made = []
    for scope, street in (
        (Scope("community", "c1"), "s1"),
        (Scope("community", "c2"), "s1"),
        (Scope("street", "s1"), "s1"),
        (Scope("community", "c9"), "s2"),
    ):
        run_id, _ = await store.start_run(scope, street, True, "auto", "admin")
        assert run_id is not None
        await store.fail_run(run_id, "done")
        made.append(run_id)
    c1, c2, s1, c9 = made

    def ids(runs: list) -> list[str]:  # type: ignore[type-arg]
        return [r.id for r in runs]

    everything = await store.list_runs(RunFilter(), None, 10)
    assert ids(everything) == [c9, s1, c2, c1]
    assert ids(await store.list_runs(RunFilter("community", "c1"), None, 10)) == [c1]
    assert ids(await store.list_runs(RunFilter(communities=("c1",), streets=()), None, 10)) == [c1]
    assert ids(await store.list_runs(RunFilter(communities=(), streets=("s1",)), None, 10)) == [
        s1,
        c2,
        c1,
    ]
    first = await store.list_runs(RunFilter(), None, 2)
    last = first[-1]
    rest = await store.list_runs(RunFilter(), (last.created_at, last.id), 10)
    assert ids(first) + ids(rest) == [c9, s1, c2, c1]


async def test_an_erased_members_distances_leave_the_recorded_plans(store: MatchingStore) -> None:
    community = ref()
    run_id, _ = await store.start_run(Scope("community", community), ref(), False, "flow", "a")
    assert run_id is not None
    gone, kept, t0, t1 = ref(), ref(), ref(), ref()
    planned = [
        PlannedAssignment(
            position=0,
            task_id=t0,
            member_id=gone,
            score=101.0,
            distance_m=250.0,
            explanation="250 m from home",
            alternatives=[[kept, 99.0, 300.0, "free", 500.0, 0.5, 0.5]],
            public_distance_m=400.0,
            facts={"skill_fit": 0.5, "load_hours": 1.0, "reliability": 0.5, "rank": 1},
        ),
        PlannedAssignment(
            position=1,
            task_id=t1,
            member_id=kept,
            score=100.0,
            distance_m=300.0,
            explanation="300 m from home",
            alternatives=[[gone, 98.0, 250.0, "free", 400.0, 0.5, 0.5]],
            public_distance_m=500.0,
            facts={"skill_fit": 0.5, "load_hours": 1.0, "reliability": 0.5, "rank": 1},
        ),
    ]
    await store.finish_run(run_id, planned, [], {"places_filled": 2}, [], ADMIN)
    async with store.transaction() as tx:
        await store.forget_member(tx, gone)
    mine, theirs = await store.planned(run_id, -1, 10)
    assert (mine.distance_m, mine.public_distance_m, mine.explanation, mine.facts) == (
        0.0,
        None,
        "",
        {},
    )
    assert mine.alternatives == planned[0].alternatives
    assert theirs.distance_m == 300.0 and theirs.explanation == "300 m from home"
    assert theirs.alternatives == [[gone, 98.0, 0.0, "free", None, 0.5, 0.5]]
