"""Check-ins and hours records under contract: the PostgreSQL store and the in-memory store
record a check-in once, load a task's hours alike, write hours changes with their events, keep
one current record per member and task, and list records newest first within a scope."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.common.errors import InvalidArgument, NotFound
from services.tasks.domain import Assignment, AssignmentState, Outcome, Task, hours
from services.tasks.domain.attendance import Attendance, Evidence, Purpose
from services.tasks.store import Scope
from tests.contract.conftest import StoreUnderTest
from tests.task_builders import SERVICE, Hood, fixed, new_hood, new_member, wish

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW + timedelta(days=2)


def allow(*_: object) -> None:
    """A caller's check that lets the change through."""


async def task_with(under: StoreUnderTest, hood: Hood, members: int) -> tuple[Task, list[str]]:
    store = under.store
    _, task, _ = await store.post_wish(
        f"req-{uuid.uuid4()}",
        "h",
        wish(hood, fixed(START), headcount=3),
        hood.street,
        hood.staff,
        NOW,
    )
    ids = [await new_member(store, hood) for _ in range(members)]
    for m in ids:
        await store.claim(task.id, m, SERVICE, NOW, allow)
    return task, ids


def came(task: Task, held: Assignment | None, checked_in: Attendance | None) -> Attendance:
    assert held is not None and held.state is AssignmentState.ACCEPTED
    return Attendance(task.id, held.member_id, Purpose.CHECK_IN, START, Evidence.CODE_AND_PLACE)


async def test_a_check_in_is_recorded_once_and_a_repeat_answers_the_first(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    task, (member,) = await task_with(under_test, await new_hood(store), 1)
    first = await store.record_attendance(task.id, member, Purpose.CHECK_IN, came)

    def never(*_: object) -> Attendance:
        raise AssertionError("a repeat is not decided again")

    again = await store.record_attendance(task.id, member, Purpose.CHECK_IN, never)
    assert again == first and first.evidence is Evidence.CODE_AND_PLACE
    loaded = await store.task_hours(task.id)
    assert loaded.attendances == [first] and loaded.checked_in(member)
    assert loaded.places[member].state is AssignmentState.ACCEPTED


async def test_a_member_without_a_place_is_decided_with_none(under_test: StoreUnderTest) -> None:
    store = under_test.store
    task, _ = await task_with(under_test, await new_hood(store), 0)
    seen: list[object] = []

    def decide(t: Task, held: Assignment | None, checked_in: Attendance | None) -> Attendance:
        seen.append(held)
        raise NotFound("place", "none")

    with pytest.raises(NotFound):
        await store.record_attendance(task.id, str(uuid.uuid4()), Purpose.CHECK_IN, decide)
    assert seen == [None]
    assert (await store.task_hours(task.id)).attendances == []


async def test_hours_are_confirmed_corrected_and_listed_alike(under_test: StoreUnderTest) -> None:
    store = under_test.store
    hood = await new_hood(store)
    task, (a, b) = await task_with(under_test, hood, 2)
    await store.record_attendance(task.id, a, Purpose.CHECK_IN, came)
    later = START + timedelta(hours=3)
    await store.complete_task(
        task.id, (Outcome(a, 2, False), Outcome(b, 2, False)), 5, "", hood.staff, later, allow
    )
    before = len(await under_test.subjects())

    def confirm(th: hours.TaskHours) -> hours.HoursChange:
        return hours.confirm(
            th.task,
            [hours.Decision(a, None, ""), hours.Decision(b, 90, "")],
            completed=th.completed(),
            proposals=th.proposals(),
            current=th.current(),
            ids=[str(uuid.uuid4()), str(uuid.uuid4())],
            now=later,
            horizon=timedelta(hours=48),
        )

    change = await store.change_hours(task.id, confirm, hood.staff)
    ra, rb = change.answer
    assert (ra.minutes, ra.evidence, rb.minutes, rb.evidence) == (
        120,
        Evidence.CODE_AND_PLACE,
        90,
        Evidence.STAFF_WORD,
    )
    assert (await under_test.subjects())[before:] == ["linli.tasks.hours.confirmed"] * 2
    again = await store.change_hours(task.id, confirm, hood.staff)
    assert [r.id for r in again.answer] == [ra.id, rb.id]
    assert len(await under_test.subjects()) == before + 2  # a repeat writes nothing

    new_id = str(uuid.uuid4())
    fixed_ = await store.change_hours(
        task.id,
        lambda th: hours.correct(
            th.record(rb.id), 60, "left early", record_id=new_id, now=later + timedelta(hours=1)
        ),
        hood.staff,
    )
    assert fixed_.answer[0].supersedes == rb.id
    assert (await store.get_hours_record(rb.id)).state is hours.HoursState.SUPERSEDED  # type: ignore[union-attr]
    assert (await store.get_hours_record(new_id)) == fixed_.answer[0]

    mine = await store.list_hours_records(
        Scope(), member_id=b, task_id="", community_id="", after=None, limit=10
    )
    assert [r.id for r in mine] == [new_id, rb.id]
    page = await store.list_hours_records(
        Scope(),
        member_id=b,
        task_id="",
        community_id="",
        after=(mine[0].created_at, mine[0].id),
        limit=10,
    )
    assert [r.id for r in page] == [rb.id]
    ours = await store.list_hours_records(
        Scope(community_ids=[hood.community]),
        member_id="",
        task_id=task.id,
        community_id="",
        after=None,
        limit=10,
    )
    assert len(ours) == 3
    theirs = await store.list_hours_records(
        Scope(community_ids=["elsewhere"]),
        member_id="",
        task_id=task.id,
        community_id="",
        after=None,
        limit=10,
    )
    assert theirs == []
    record = await store.member_record(b, later)
    assert (record.hours_total, record.tasks_done) == (1.0, 1)


async def test_a_refused_change_writes_nothing(under_test: StoreUnderTest) -> None:
    store = under_test.store
    hood = await new_hood(store)
    task, (a,) = await task_with(under_test, hood, 1)
    before = len(await under_test.subjects())

    def refuse(th: hours.TaskHours) -> hours.HoursChange:
        return hours.request(
            replace(th.task, window=fixed(NOW - timedelta(hours=3))),
            a,
            0,
            "",
            checked_in=False,
            current=None,
            place=None,
            record_id=str(uuid.uuid4()),
            now=NOW,
            horizon=timedelta(),
        )

    with pytest.raises(InvalidArgument):  # 0 minutes
        await store.change_hours(task.id, refuse, hood.staff)
    assert len(await under_test.subjects()) == before
    assert (await store.task_hours(task.id)).records == []
