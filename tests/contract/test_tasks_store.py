"""One contract for every task store: the PostgreSQL store and the in-memory store answer alike
to posting, claiming, proposing and answering, ending tasks and roles, time passing, and reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.common.errors import FailedPrecondition, NotFound
from services.tasks.domain import (
    AssignmentState,
    OneOffSchedule,
    Outcome,
    Task,
    TaskStatus,
    WeeklySchedule,
)
from services.tasks.store import Scope, TaskStorePort
from tests.contract.conftest import StoreUnderTest
from tests.task_builders import SERVICE, Hood, fixed, new_hood, new_member, role, wish

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
TTL = timedelta(hours=1)


def allow(_task: object, *_: object) -> None:
    """A caller's check that lets the change through."""


async def posted(store: TaskStorePort, hood: Hood, headcount: int = 1, **kw: object) -> Task:
    window = kw.pop("window", None) or fixed(NOW + timedelta(days=2))
    draft = wish(hood, window, headcount=headcount, **kw)  # type: ignore[arg-type]
    _, task, _ = await store.post_wish(
        f"req-{uuid.uuid4()}", "h", draft, hood.street, hood.staff, NOW
    )
    return task


async def propose(
    store: TaskStorePort, task_id: str, member: str, run: str = "run-1"
) -> str | None:
    async with store.transaction() as conn:
        return await store.propose(conn, run, task_id, member, None, NOW, TTL)


async def refusal(call: object) -> str:
    with pytest.raises(FailedPrecondition) as err:
        await call  # type: ignore[misc]
    return err.value.metadata.get("refusal") or err.value.reason


# -- posting ------------------------------------------------------------------------------------


async def test_a_wish_is_posted_once_per_request_id_with_its_open_task(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    draft = wish(hood, fixed(NOW + timedelta(days=1)))
    first = await store.post_wish("r-1", "fp", draft, hood.street, hood.staff, NOW)
    again = await store.post_wish("r-1", "fp", draft, hood.street, hood.staff, NOW)
    found = await store.find_wish(hood.staff.subject, "r-1")
    assert first[0].id == again[0].id == (found and found[0].id)
    wish_, task, fingerprint = first
    assert (task.status, task.places_taken, task.street_id) == (TaskStatus.OPEN, 0, hood.street)
    assert wish_.task_id == task.id and fingerprint == "fp"
    assert (await under_test.subjects()).count("linli.tasks.task.posted") >= 1
    assert await store.get_task(task.id) == task


async def test_a_role_generates_its_occurrences_once_and_its_end_cancels_those_to_come(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    start = NOW + timedelta(days=1)
    days = tuple(sorted({(start + timedelta(days=i)).isoweekday() for i in range(7)}))
    schedule = WeeklySchedule(days, 9 * 60, 11 * 60, start.date(), None)
    r, generated, _ = await store.create_role(
        "r-role", "fp", role(hood, schedule), hood.street, hood.staff, NOW, timedelta(days=7)
    )
    assert 6 <= generated <= 8
    assert await store.find_role(hood.staff.subject, "r-role") == (r, generated, "fp")
    # Asking again for the same horizon makes nothing new.
    assert await store.generate_due(NOW, timedelta(days=7)) == 0
    assert await store.generate_due(NOW, timedelta(days=14)) >= 6
    ended, cancelled = await store.end_role(r.id, "term over", hood.staff, NOW)
    assert ended.ended and cancelled >= 12
    tasks = await store.list_tasks(
        Scope(community_ids=[hood.community]),
        community_id=hood.community,
        statuses=[TaskStatus.CANCELLED],
        beneficiary=None,
        skill="",
        start_after=None,
        start_before=None,
        after=None,
        limit=100,
    )
    assert len(tasks) == cancelled
    assert {t.cancel_reason for t in tasks} == {"role ended: term over"}
    assert await store.end_role(r.id, "again", hood.staff, NOW) == (ended, 0)
    with pytest.raises(NotFound):
        await store.end_role("00000000-0000-0000-0000-000000000000", "", hood.staff, NOW)


async def test_a_one_off_role_is_one_task(under_test: StoreUnderTest) -> None:
    store = under_test.store
    hood = await new_hood(store)
    once = OneOffSchedule(fixed(NOW + timedelta(days=3)))
    r, generated, _ = await store.create_role(
        "r-once", "fp", role(hood, once), hood.street, hood.staff, NOW, timedelta(days=7)
    )
    assert generated == 1
    assert await store.get_role(r.id) == (r, hood.street)
    assert [x.id for x in await store.list_roles([hood.community], None, 10)] == [r.id]


# -- claiming -----------------------------------------------------------------------------------


async def test_a_claim_takes_a_place_and_a_full_task_refuses_the_next(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    task = await posted(store, hood)
    first, second = await new_member(store, hood), await new_member(store, hood)
    a, after = await store.claim(task.id, first, SERVICE, NOW, allow)
    assert a.state is AssignmentState.ACCEPTED and a.member_id == first
    assert (after.places_taken, after.accepted, after.status) == (1, 1, TaskStatus.FILLED)
    assert await refusal(store.claim(task.id, second, SERVICE, NOW, allow)) == "TASK_FULL"
    assert await refusal(store.claim(task.id, first, SERVICE, NOW, allow)) == "ALREADY_HOLDS"
    assert "linli.tasks.assignment.claimed" in await under_test.subjects()


async def test_a_claim_says_why_a_member_may_not_take_a_place(under_test: StoreUnderTest) -> None:
    store = under_test.store
    hood, other = await new_hood(store), await new_hood(store)
    task = await posted(store, hood, headcount=5)
    unknown = "11111111-2222-3333-4444-555555555555"
    gone = await new_member(store, hood, active=False)
    nowhere = await new_member(store, None)
    foreign = await new_member(store, other)
    for member, why in [
        (unknown, "MEMBER_UNKNOWN"),
        (gone, "MEMBER_INACTIVE"),
        (nowhere, "NOT_REPORTED_IN"),
        (foreign, "OUT_OF_SCOPE"),
    ]:
        assert await refusal(store.claim(task.id, member, SERVICE, NOW, allow)) == why
    late = await new_member(store, hood)
    after_start = task.window.start + timedelta(minutes=1)
    assert await refusal(store.claim(task.id, late, SERVICE, after_start, allow)) == (
        "DEADLINE_PASSED"
    )
    assert (await store.get_task(task.id)).places_taken == 0  # type: ignore[union-attr]


async def test_a_member_never_holds_two_places_at_one_time(under_test: StoreUnderTest) -> None:
    store = under_test.store
    hood = await new_hood(store)
    start = NOW + timedelta(days=4)
    one = await posted(store, hood, window=fixed(start, 2))
    clashing = await posted(store, hood, window=fixed(start + timedelta(hours=1), 2))
    later = await posted(store, hood, window=fixed(start + timedelta(hours=2), 2))
    member = await new_member(store, hood)
    await store.claim(one.id, member, SERVICE, NOW, allow)
    assert await refusal(store.claim(clashing.id, member, SERVICE, NOW, allow)) == "TIME_CONFLICT"
    a, _ = await store.claim(later.id, member, SERVICE, NOW, allow)  # touching is no clash
    assert a.state is AssignmentState.ACCEPTED
    # A proposal for the clashing task is rejected, with the reason, and announced.
    assert "another accepted task" in (await propose(store, clashing.id, member) or "")
    assert "linli.tasks.proposal.rejected" in await under_test.subjects()


async def test_the_callers_check_runs_under_the_lock_and_refuses(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    task = await posted(store, hood)
    member = await new_member(store, hood)

    def hidden(_task: Task) -> None:
        raise PermissionError("outside")

    with pytest.raises(PermissionError):
        await store.claim(task.id, member, SERVICE, NOW, hidden)
    assert (await store.get_task(task.id)).places_taken == 0  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        await store.claim("00000000-0000-0000-0000-000000000000", member, SERVICE, NOW, allow)


# -- proposals and answers ----------------------------------------------------------------------


async def test_a_proposal_holds_a_place_until_accepted_declined_or_expired(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    task = await posted(store, hood, headcount=3)
    yes, no, silent = [await new_member(store, hood) for _ in range(3)]
    for m in (yes, no, silent):
        assert await propose(store, task.id, m) is None
    mine = await store.list_assignments(
        task_id=task.id, member_id="", states=[], after=None, limit=10
    )
    by_member = {a.member_id: a for a in mine}
    assert {a.state for a in mine} == {AssignmentState.PROPOSED}
    assert (await store.get_task(task.id)).places_taken == 3  # type: ignore[union-attr]

    accepted, t = await store.change_assignment(
        by_member[yes].id, AssignmentState.ACCEPTED, SERVICE, NOW, allow
    )
    assert accepted.state is AssignmentState.ACCEPTED and t.accepted == 1
    declined, t = await store.change_assignment(
        by_member[no].id, AssignmentState.DECLINED, SERVICE, NOW, allow, "busy"
    )
    assert (declined.state, declined.reason, t.places_taken) == (
        AssignmentState.DECLINED,
        "busy",
        2,
    )
    assert await store.expire_proposals(NOW + TTL) == 1
    t = await store.get_task(task.id)
    assert t is not None and (t.places_taken, t.accepted, t.status) == (1, 1, TaskStatus.OPEN)
    again = await store.get_assignment(by_member[silent].id)
    assert again is not None and again.state is AssignmentState.EXPIRED
    assert (
        await refusal(
            store.change_assignment(
                by_member[silent].id, AssignmentState.ACCEPTED, SERVICE, NOW, allow
            )
        )
        == "ASSIGNMENT_STATE"
    )
    subjects = await under_test.subjects()
    for verb in ("proposed", "accepted", "declined", "expired"):
        assert f"linli.tasks.assignment.{verb}" in subjects


async def test_claiming_a_task_one_was_proposed_for_accepts_the_proposal(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    task = await posted(store, hood)
    member = await new_member(store, hood)
    assert await propose(store, task.id, member) is None
    a, t = await store.claim(task.id, member, SERVICE, NOW, allow)
    assert a.state is AssignmentState.ACCEPTED and (t.places_taken, t.accepted) == (1, 1)


async def test_proposals_that_cannot_become_places_are_rejected_with_a_reason(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    task = await posted(store, hood)
    first, second = await new_member(store, hood), await new_member(store, hood)
    assert await propose(store, task.id, first) is None
    assert await propose(store, task.id, first) == "every place on the task is taken"
    assert await propose(store, task.id, second) == "every place on the task is taken"
    missing = "00000000-0000-0000-0000-000000000000"
    assert await propose(store, missing, second) == "the task does not exist"
    assert await propose(store, task.id, second, run="bad\x00run") == "malformed run id"


async def test_a_withdrawal_frees_the_place_until_the_task_begins(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    task = await posted(store, hood, headcount=2)
    early, late = await new_member(store, hood), await new_member(store, hood)
    a, _ = await store.claim(task.id, early, SERVICE, NOW, allow)
    b, _ = await store.claim(task.id, late, SERVICE, NOW, allow)
    gone, t = await store.change_assignment(
        a.id, AssignmentState.WITHDRAWN, SERVICE, NOW, allow, "ill"
    )
    assert gone.state is AssignmentState.WITHDRAWN
    assert (t.places_taken, t.accepted, t.status) == (1, 1, TaskStatus.OPEN)
    started = task.window.start
    assert (
        await refusal(
            store.change_assignment(b.id, AssignmentState.WITHDRAWN, SERVICE, started, allow)
        )
        == "TASK_STARTED"
    )


async def test_a_member_who_may_no_longer_take_a_place_releases_it(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    task = await posted(store, hood, headcount=2)
    stays, leaves = await new_member(store, hood), await new_member(store, hood)
    await store.claim(task.id, stays, SERVICE, NOW, allow)
    await store.claim(task.id, leaves, SERVICE, NOW, allow)
    async with store.transaction() as conn:
        assert await store.release_places(conn, stays) == 0
    await new_member(store, hood, active=False, member_id=leaves)
    async with store.transaction() as conn:
        assert await store.release_places(conn, leaves) == 1
    t = await store.get_task(task.id)
    assert t is not None and (t.places_taken, t.accepted) == (1, 1)
    held = await store.list_assignments(
        task_id="", member_id=leaves, states=[AssignmentState.WITHDRAWN], after=None, limit=5
    )
    assert [a.reason for a in held] == ["released: the member is deactivated"]


# -- ending tasks -------------------------------------------------------------------------------


async def test_a_cancelled_task_cancels_every_place(under_test: StoreUnderTest) -> None:
    store = under_test.store
    hood = await new_hood(store)
    task = await posted(store, hood, headcount=2)
    claimed, proposed = await new_member(store, hood), await new_member(store, hood)
    await store.claim(task.id, claimed, SERVICE, NOW, allow)
    await propose(store, task.id, proposed)
    t = await store.cancel_task(task.id, "resident moved", hood.staff, allow, NOW)
    assert (t.status, t.places_taken, t.accepted, t.cancel_reason) == (
        TaskStatus.CANCELLED,
        0,
        0,
        "resident moved",
    )
    states = await store.list_assignments(
        task_id=task.id, member_id="", states=[], after=None, limit=5
    )
    assert {a.state for a in states} == {AssignmentState.CANCELLED}
    assert await refusal(store.cancel_task(task.id, "again", hood.staff, allow, NOW)) == (
        "TASK_STATE"
    )


async def test_a_completed_task_records_hours_and_no_shows(under_test: StoreUnderTest) -> None:
    store = under_test.store
    hood = await new_hood(store)
    task = await posted(store, hood, headcount=3)
    came, missed, asked = [await new_member(store, hood) for _ in range(3)]
    await store.claim(task.id, came, SERVICE, NOW, allow)
    await store.claim(task.id, missed, SERVICE, NOW, allow)
    await propose(store, task.id, asked)
    outcomes = (Outcome(came, 2.0, False), Outcome(missed, 0.0, True))
    too_soon = store.complete_task(task.id, outcomes, 5, "ok", hood.staff, NOW, allow)
    assert await refusal(too_soon) == "NOT_STARTED"
    served = task.window.start + timedelta(hours=1)
    t, done = await store.complete_task(task.id, outcomes, 5, " thanks ", hood.staff, served, allow)
    assert (t.status, t.places_taken) == (TaskStatus.COMPLETED, 2)
    assert {(a.member_id, a.state) for a in done} == {
        (came, AssignmentState.COMPLETED),
        (missed, AssignmentState.NO_SHOW),
    }
    record = await store.member_record(came, served)
    assert (record.hours_total, record.tasks_done, record.upcoming) == (2.0, 1, 0)
    assert (await store.member_record(missed, served)).no_shows == 1
    assert "linli.tasks.task.completed" in await under_test.subjects()


async def test_due_tasks_close_when_someone_accepted_and_expire_when_nobody_did(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    start = NOW + timedelta(days=5, hours=3)
    taken = await posted(store, hood, headcount=2, window=fixed(start))
    empty = await posted(store, hood, window=fixed(start))
    member, asked = await new_member(store, hood), await new_member(store, hood)
    await store.claim(taken.id, member, SERVICE, NOW, allow)
    await propose(store, taken.id, asked)
    await propose(store, empty.id, asked)
    assert await store.close_due_tasks(start) >= 2
    t1, t2 = await store.get_task(taken.id), await store.get_task(empty.id)
    assert t1 is not None and (t1.status, t1.places_taken) == (TaskStatus.CLOSED, 1)
    assert t2 is not None and (t2.status, t2.places_taken) == (TaskStatus.EXPIRED, 0)
    subjects = await under_test.subjects()
    assert "linli.tasks.task.closed" in subjects and "linli.tasks.task.expired" in subjects


# -- reads --------------------------------------------------------------------------------------


async def test_lists_keep_to_their_scope_and_page_in_start_order(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood, other = await new_hood(store), await new_hood(store)
    starts = [NOW + timedelta(days=d, hours=1) for d in (3, 1, 2)]
    mine = [await posted(store, hood, window=fixed(s)) for s in starts]
    await posted(store, other)

    async def page(after: tuple[datetime, str] | None, scope: Scope) -> list[Task]:
        return await store.list_tasks(
            scope,
            community_id="",
            statuses=[],
            beneficiary=None,
            skill="",
            start_after=None,
            start_before=None,
            after=after,
            limit=2,
        )

    scope = Scope(community_ids=[hood.community])
    first = await page(None, scope)
    rest = await page((first[-1].window.start, first[-1].id), scope)
    expected = sorted(mine, key=lambda t: t.window.start)
    assert [t.id for t in first + rest] == [t.id for t in expected]
    member = Scope(member_community=other.community, member_street=other.street)
    assert all(t.community_id == other.community for t in await page(None, member))


async def test_nearby_finds_open_tasks_in_reach_nearest_first(under_test: StoreUnderTest) -> None:
    store = under_test.store
    hood = await new_hood(store)
    near = await posted(store, hood)
    taken = await posted(store, hood)
    await store.claim(taken.id, await new_member(store, hood), SERVICE, NOW, allow)
    scope = Scope(community_ids=[hood.community])
    found = await store.nearby(scope, near.location, 500, 10, NOW, exact=True)
    assert near.id in {t.id for t in found} and taken.id not in {t.id for t in found}
    assert all(t.distance_m <= 500 for t in found)


async def test_a_member_is_entitled_to_the_exact_place_of_tasks_they_were_accepted_on(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    claimed, proposed = await posted(store, hood), await posted(store, hood)
    member = await new_member(store, hood)
    await store.claim(claimed.id, member, SERVICE, NOW, allow)
    await propose(store, proposed.id, member)
    assert await store.held_tasks(member, [claimed.id, proposed.id]) == {claimed.id}
    assert await store.member_known(member) and not await store.member_known("nobody")
    assert await store.unit_exists(hood.unit) and not await store.unit_exists("no-unit")
    async with store.transaction() as conn:
        assert await store.street_of(conn, hood.community) == hood.street
        view = await store.member_view(conn, member)
    assert view is not None and view.community_id == hood.community


async def test_an_older_member_snapshot_never_overwrites_a_newer_one(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood, moved_to = await new_hood(store), await new_hood(store)
    member = await new_member(store, moved_to, version=NOW)
    await new_member(store, hood, version=NOW - timedelta(hours=1), member_id=member)
    view = await store.member_view(None, member)
    assert view is not None and view.community_id == moved_to.community


async def test_a_failed_change_leaves_nothing_behind(under_test: StoreUnderTest) -> None:
    store = under_test.store
    hood = await new_hood(store)
    task = await posted(store, hood)
    before = len(await under_test.subjects())
    with pytest.raises(RuntimeError):
        async with store.transaction() as conn:
            await store.propose(
                conn, "run-x", task.id, await new_member(store, hood), None, NOW, TTL
            )
            raise RuntimeError("the caller's work failed")
    t = await store.get_task(task.id)
    assert t is not None and t.places_taken == 0
    assert len(await under_test.subjects()) == before


# -- a member's export and erasure ------------------------------------------------------------


async def test_a_members_words_are_forgotten_and_their_copy_and_feedback_read_back(
    under_test: StoreUnderTest,
) -> None:
    store = under_test.store
    hood = await new_hood(store)
    task = await posted(store, hood, headcount=2)
    me, other = await new_member(store, hood), await new_member(store, hood)
    a, _ = await store.claim(task.id, me, SERVICE, NOW, allow)
    b, _ = await store.claim(task.id, other, SERVICE, NOW, allow)
    await store.change_assignment(a.id, AssignmentState.WITHDRAWN, SERVICE, NOW, allow, "王芳病了")
    await store.change_assignment(b.id, AssignmentState.WITHDRAWN, SERVICE, NOW, allow, "出差")
    copy = await store.member_copy(me)
    assert copy is not None
    assert (copy["community_id"], copy["active"], copy["reported_in"]) == (
        hood.community,
        True,
        True,
    )
    assert await store.member_copy(str(uuid.uuid4())) is None
    async with store.transaction() as conn:
        await store.forget_member_text(conn, me)
    mine = await store.get_assignment(a.id)
    theirs = await store.get_assignment(b.id)
    assert mine is not None and mine.reason == ""
    assert theirs is not None and theirs.reason == "出差"
    assert await store.feedback_on([task.id]) == {}
