"""The member's month held to one contract by the PostgreSQL and the in-memory task store:
standby lists and the entries a change ends, confirm or release, staff's changes, the reminder
loop's questions, the calendar, and a moved member's places."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.common.settings import Bounds
from services.tasks import domain
from services.tasks.domain import (
    AssignmentSource,
    AssignmentState,
    NoAnswerPolicy,
    OneOffSchedule,
    Task,
    TaskStatus,
)
from services.tasks.domain import confirmation as confirming
from services.tasks.domain.update import TaskPatch, update_task
from services.tasks.store import Scope, TaskStorePort
from tests.contract.conftest import StoreUnderTest
from tests.task_builders import SERVICE, Hood, fixed, new_hood, new_member, role, wish

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
BEFORE, WITHIN = timedelta(hours=48), timedelta(hours=24)


def allow(_task: object, *_: object) -> None:
    """A caller's check that lets the change through."""


async def full(store: TaskStorePort, hood: Hood, days: float = 1.5) -> tuple[Task, str, str]:
    """A one-place task, its holder and their assignment."""
    draft = wish(hood, fixed(NOW + timedelta(days=days)), skills=())
    _, task, _ = await store.post_wish(
        f"req-{uuid.uuid4()}", "h", draft, hood.street, hood.staff, NOW
    )
    holder = await new_member(store, hood)
    a, task = await store.claim(task.id, holder, SERVICE, NOW, allow)
    return task, holder, a.id


async def test_standby_entries_are_kept_in_joining_order_and_end_when_taken_or_closed(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    task, holder, held = await full(store, hood)
    first, second = await new_member(store, hood), await new_member(store, hood)
    await store.join_standby(task.id, first, SERVICE, NOW, allow)
    await store.join_standby(task.id, second, SERVICE, NOW + timedelta(seconds=1), allow)
    again = await store.join_standby(task.id, first, SERVICE, NOW + timedelta(seconds=2), allow)

    assert again.joined_at == NOW
    listed = await store.list_standby(task.id, "")
    assert [e.member_id for e in listed] == [first, second]
    assert [e.task_id for e in await store.list_standby("", second)] == [task.id]
    in_scope = await store.list_standby("", "", Scope(community_ids=[hood.community]))
    assert [e.member_id for e in in_scope] == [first, second]
    assert await store.list_standby("", "", Scope(community_ids=["elsewhere"])) == []
    with pytest.raises(Exception) as err:
        await store.join_standby(task.id, holder, SERVICE, NOW, allow)
    assert getattr(err.value, "metadata", {}).get("refusal") == "ALREADY_HOLDS"

    # The holder releases; the first waiting member takes the place: their wait ends.
    await store.update_assignment(held, SERVICE, NOW, lambda t, a: confirming.release(t, a, NOW))
    async with store.transaction() as conn:
        assert (
            await store.propose(conn, "", task.id, first, None, NOW, WITHIN, standby=True) is None
        )
    [offer] = await store.list_assignments(
        task_id=task.id, member_id=first, states=[], after=None, limit=5
    )
    assert (offer.state, offer.source) == (AssignmentState.PROPOSED, AssignmentSource.STANDBY)
    assert [e.member_id for e in await store.list_standby(task.id, "")] == [second]
    assert await store.leave_standby(task.id, first, SERVICE, NOW) is False

    await store.cancel_task(task.id, "天气原因", hood.staff, allow, NOW)
    assert await store.list_standby(task.id, "") == []
    subjects = await under_test.subjects()
    assert subjects.count("linli.tasks.standby.joined") >= 2
    assert subjects.count("linli.tasks.standby.left") >= 2


async def test_an_accepted_place_is_asked_once_and_unanswered_is_alerted_once(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    task, _, held = await full(store, hood)

    await store.confirmations_due(NOW, BEFORE, WITHIN, NoAnswerPolicy.ALERT)
    await store.confirmations_due(NOW, BEFORE, WITHIN, NoAnswerPolicy.ALERT)

    asked = await store.get_assignment(held)
    assert asked is not None and asked.confirm_requested_at == NOW
    assert asked.answer_by == min(NOW + WITHIN, NOW + (task.window.start - NOW) / 2)
    late = asked.answer_by + timedelta(minutes=1)
    await store.confirmations_due(late, BEFORE, WITHIN, NoAnswerPolicy.ALERT)
    await store.confirmations_due(late, BEFORE, WITHIN, NoAnswerPolicy.ALERT)
    alerted = await store.get_assignment(held)
    assert alerted is not None and alerted.state is AssignmentState.ACCEPTED
    assert alerted.overdue_at == late
    subjects = await under_test.subjects()
    assert subjects.count("linli.tasks.confirmation.requested") >= 1


async def test_a_role_that_says_release_frees_an_unanswered_place(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    start = NOW + timedelta(days=1)
    draft = role(hood, OneOffSchedule(fixed(start)), skills=(), headcount=1)
    draft = replace(draft, no_answer=NoAnswerPolicy.RELEASE)
    made, _, _ = await store.create_role(
        f"r-{uuid.uuid4()}", "h", draft, hood.street, hood.staff, NOW, timedelta(days=7)
    )
    assert made.draft.no_answer is NoAnswerPolicy.RELEASE
    [task] = await store.list_tasks(
        Scope(community_ids=[hood.community]),
        community_id=hood.community,
        statuses=[],
        beneficiary=None,
        skill="",
        start_after=None,
        start_before=None,
        after=None,
        limit=5,
    )
    holder = await new_member(store, hood)
    a, _ = await store.claim(task.id, holder, SERVICE, NOW, allow)
    await store.confirmations_due(NOW, BEFORE, WITHIN, NoAnswerPolicy.ALERT)
    asked = await store.get_assignment(a.id)
    assert asked is not None and asked.answer_by is not None

    await store.confirmations_due(asked.answer_by, BEFORE, WITHIN, NoAnswerPolicy.ALERT)

    freed = await store.get_assignment(a.id)
    assert freed is not None and (freed.state, freed.reason) == (
        AssignmentState.WITHDRAWN,
        confirming.UNCONFIRMED,
    )


async def test_a_task_near_its_start_with_empty_places_is_alerted_once(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    draft = wish(hood, fixed(NOW + timedelta(days=1)), headcount=2)
    _, task, _ = await store.post_wish(
        f"r-{uuid.uuid4()}", "h", draft, hood.street, hood.staff, NOW
    )

    await store.alert_empty_places(NOW, BEFORE)
    await store.alert_empty_places(NOW + timedelta(hours=1), BEFORE)

    seen = await store.get_task(task.id)
    assert seen is not None and seen.empty_alerted_at == NOW


async def test_a_staff_change_moves_the_task_and_its_places_and_raises_the_revision(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    task, holder, held = await full(store, hood, days=3)
    later = fixed(task.window.start + timedelta(hours=5))
    patch = TaskPatch(later, None, "", "", "", 3)

    def apply(t: Task) -> domain.Change:
        return update_task(t, patch, ("window", "headcount"), "场地调整", NOW, Bounds())

    changed = await store.update_task(task.id, hood.staff, NOW, apply)

    assert (changed.window, changed.headcount, changed.revision) == (later, 3, 1)
    assert changed.status is TaskStatus.OPEN
    # The holder's other task at the new time clashes with the moved one.
    draft = wish(hood, fixed(later.start + timedelta(days=1)), skills=())
    _, other, _ = await store.post_wish(
        f"r-{uuid.uuid4()}", "h", draft, hood.street, hood.staff, NOW
    )
    await store.claim(other.id, holder, SERVICE, NOW, allow)
    clash = TaskPatch(other.window, None, "", "", "", 3)
    with pytest.raises(Exception) as err:
        await store.update_task(
            task.id,
            hood.staff,
            NOW,
            lambda t: update_task(t, clash, ("window",), "", NOW, Bounds()),
        )
    assert getattr(err.value, "metadata", {}).get("refusal") == "TIME_CONFLICT"
    entries = await store.calendar(holder, NOW - timedelta(days=1))
    assert {a.id for a, _ in entries} >= {held}
    assert "linli.tasks.task.changed" in await under_test.subjects()


async def test_a_member_who_moved_away_loses_places_and_standby_entries_there(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood, elsewhere = await new_hood(store), await new_hood(store)
    _, holder, held = await full(store, hood)
    other, _, _ = await full(store, hood, days=2)
    await store.join_standby(other.id, holder, SERVICE, NOW, allow)

    await new_member(store, elsewhere, member_id=holder)
    async with store.transaction() as conn:
        assert await store.release_places(conn, holder) == 1

    gone = await store.get_assignment(held)
    assert gone is not None and (gone.state, gone.reason) == (AssignmentState.WITHDRAWN, "moved")
    assert await store.list_standby("", holder) == []
