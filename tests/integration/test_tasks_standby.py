"""The member's month in the task service over real servers: standby lists and the freed place
offered to them first (matching running), confirm or release with either policy for no answer,
staff's changes and the member's calendar, and a move that releases places."""

from __future__ import annotations

from datetime import timedelta

import grpc
import icalendar
import pytest
from google.protobuf import field_mask_pb2
from grpc import aio

from linli.v1 import registry_pb2, tasks_pb2
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from tests.integration.conftest import MovableClock, code
from tests.integration.errors import bad_request_fields, error_reason
from tests.integration.tasks_support import (
    Neighbourhood,
    matched_neighbourhood,
    post,
    soon,
    until,
    window,
    wish,
)
from tests.support import request_id

pytestmark = pytest.mark.integration

PROPOSED = tasks_pb2.ASSIGNMENT_STATE_PROPOSED
ACCEPTED = tasks_pb2.ASSIGNMENT_STATE_ACCEPTED
WITHDRAWN = tasks_pb2.ASSIGNMENT_STATE_WITHDRAWN


@pytest.fixture
async def hood(
    stub,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,  # type: ignore[no-untyped-def]
    settings: RegistrySettings,
) -> Neighbourhood:
    return await matched_neighbourhood(stub, tasks_rt, matching_rt, settings, 4, 1)


async def full_task(task_stub, hood: Neighbourhood, days: float = 1.5):  # type: ignore[no-untyped-def]
    """A one-place wish (no skill asked) taken by the hood's first member."""
    task = await post(
        task_stub, hood.staff, wish(hood.home, start=soon(days), headcount=1, skills=())
    )
    claimed = await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(hood.members[0])
    )
    return claimed.task, claimed.assignment


async def assignments(task_stub, hood: Neighbourhood, task_id: str):  # type: ignore[no-untyped-def]
    reply = await task_stub.ListAssignments(
        tasks_pb2.ListAssignmentsRequest(task_id=task_id), metadata=hood.staff
    )
    return list(reply.assignments)


async def join(task_stub, hood: Neighbourhood, task_id: str, member: str):  # type: ignore[no-untyped-def]
    return await task_stub.JoinStandby(
        tasks_pb2.JoinStandbyRequest(task_id=task_id), metadata=hood.as_member(member)
    )


async def refused(call) -> aio.AioRpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(aio.AioRpcError) as err:
        await call
    return err.value


async def seen_waiting(matching_rt: ServiceRuntime, task_id: str, n: int) -> None:
    world = matching_rt.matching.world  # type: ignore[attr-defined]

    async def known() -> bool:
        return len(world.standby.get(task_id, {})) == n

    await until(known)


# -- standby ---------------------------------------------------------------------------------


async def test_only_a_member_who_could_claim_a_full_task_joins_its_standby_list(
    task_stub, hood: Neighbourhood
) -> None:  # type: ignore[no-untyped-def]
    task, _ = await full_task(task_stub, hood)
    waiting = hood.members[1]

    entry = (await join(task_stub, hood, task.id, waiting)).entry
    again = (await join(task_stub, hood, task.id, waiting)).entry

    assert (entry.task_id, entry.member_id) == (task.id, waiting)
    assert again == entry
    mine = await task_stub.ListStandby(
        tasks_pb2.ListStandbyRequest(), metadata=hood.as_member(waiting)
    )
    assert [e.task_id for e in mine.entries] == [task.id]
    staff_view = await task_stub.ListStandby(
        tasks_pb2.ListStandbyRequest(task_id=task.id), metadata=hood.staff
    )
    assert [e.member_id for e in staff_view.entries] == [waiting]
    everywhere = await task_stub.ListStandby(tasks_pb2.ListStandbyRequest(), metadata=hood.staff)
    assert (task.id, waiting) in {(e.task_id, e.member_id) for e in everywhere.entries}
    neighbours = await task_stub.ListStandby(
        tasks_pb2.ListStandbyRequest(), metadata=hood.other_staff
    )
    assert task.id not in {e.task_id for e in neighbours.entries}
    holder = await refused(join(task_stub, hood, task.id, hood.members[0]))
    assert code(holder) == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(holder) == ("CLAIM_REFUSED", {"refusal": "ALREADY_HOLDS"})
    outsider = await refused(join(task_stub, hood, task.id, hood.outsiders[0]))
    assert code(outsider) == grpc.StatusCode.PERMISSION_DENIED
    foreign_staff = await refused(
        task_stub.ListStandby(
            tasks_pb2.ListStandbyRequest(task_id=task.id), metadata=hood.other_staff
        )
    )
    assert code(foreign_staff) == grpc.StatusCode.PERMISSION_DENIED
    open_task = await post(task_stub, hood.staff, wish(hood.home, start=soon(3), headcount=2))
    not_full = await refused(join(task_stub, hood, open_task.id, waiting))
    assert error_reason(not_full)[0] == "TASK_NOT_FULL"
    left = await task_stub.LeaveStandby(
        tasks_pb2.LeaveStandbyRequest(task_id=task.id), metadata=hood.as_member(waiting)
    )
    assert left.left
    after = await task_stub.ListStandby(
        tasks_pb2.ListStandbyRequest(task_id=task.id), metadata=hood.staff
    )
    assert list(after.entries) == []


async def test_a_released_place_is_offered_to_the_standby_member_first(
    task_stub, matching_rt: ServiceRuntime, hood: Neighbourhood
) -> None:  # type: ignore[no-untyped-def]
    task, held = await full_task(task_stub, hood)
    waiting = hood.members[1]
    await join(task_stub, hood, task.id, waiting)
    await seen_waiting(matching_rt, task.id, 1)

    released = await task_stub.ReleaseAssignment(
        tasks_pb2.ReleaseAssignmentRequest(assignment_id=held.id),
        metadata=hood.as_member(hood.members[0]),
    )

    assert (released.assignment.state, released.assignment.reason) == (WITHDRAWN, "released")

    async def offered() -> bool:
        return any(a.state == PROPOSED for a in await assignments(task_stub, hood, task.id))

    await until(offered, timeout=30)
    proposed = [a for a in await assignments(task_stub, hood, task.id) if a.state == PROPOSED]
    assert [(a.member_id, a.source) for a in proposed] == [
        (waiting, tasks_pb2.ASSIGNMENT_SOURCE_STANDBY)
    ]
    # Taking the place ended the member's wait.
    await seen_waiting(matching_rt, task.id, 0)
    listed = await task_stub.ListStandby(
        tasks_pb2.ListStandbyRequest(task_id=task.id), metadata=hood.staff
    )
    assert list(listed.entries) == []


# -- confirm or release ----------------------------------------------------------------------


async def test_a_member_confirms_and_another_member_cannot_answer_for_them(
    task_stub, tasks_rt: ServiceRuntime, clock: MovableClock, hood: Neighbourhood
) -> None:  # type: ignore[no-untyped-def]
    task, held = await full_task(task_stub, hood)
    await tasks_rt.tasks.remind(now=clock())  # type: ignore[attr-defined]
    asked = (await assignments(task_stub, hood, task.id))[0]
    assert asked.HasField("confirm_request_time")
    assert asked.answer_by_time.ToDatetime() <= task.window.start.ToDatetime()

    other = hood.as_member(hood.members[1])
    missing = "00000000-0000-4000-8000-000000000000"
    for call, kind in (
        (task_stub.ConfirmAssignment, tasks_pb2.ConfirmAssignmentRequest),
        (task_stub.ReleaseAssignment, tasks_pb2.ReleaseAssignmentRequest),
    ):
        foreign = await refused(call(kind(assignment_id=held.id), metadata=other))
        unknown = await refused(call(kind(assignment_id=missing), metadata=other))
        assert code(foreign) == code(unknown) == grpc.StatusCode.PERMISSION_DENIED
        assert foreign.details() == unknown.details()

    confirmed = await task_stub.ConfirmAssignment(
        tasks_pb2.ConfirmAssignmentRequest(assignment_id=held.id),
        metadata=hood.as_member(hood.members[0]),
    )
    assert confirmed.assignment.state == ACCEPTED
    assert confirmed.assignment.HasField("confirm_time")
    # Confirmed in time: nothing happens at the answer's hour.
    late = asked.answer_by_time.ToDatetime().replace(tzinfo=clock().tzinfo) + timedelta(minutes=1)
    await tasks_rt.tasks.remind(now=late)  # type: ignore[attr-defined]
    (still,) = await assignments(task_stub, hood, task.id)
    assert still.state == ACCEPTED


async def test_no_answer_alerts_staff_and_keeps_the_place_by_default(
    task_stub, tasks_rt: ServiceRuntime, clock: MovableClock, hood: Neighbourhood, nats_client
) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.events import wait_for_events

    task, held = await full_task(task_stub, hood)
    await tasks_rt.tasks.remind(now=clock())  # type: ignore[attr-defined]
    (asked,) = await assignments(task_stub, hood, task.id)

    late = asked.answer_by_time.ToDatetime().replace(tzinfo=clock().tzinfo) + timedelta(minutes=1)
    await tasks_rt.tasks.remind(now=late)  # type: ignore[attr-defined]

    (kept,) = await assignments(task_stub, hood, task.id)
    assert kept.state == ACCEPTED
    found = await wait_for_events(
        nats_client.jetstream(),
        "linli.tasks.confirmation.overdue",
        lambda e: _assignment_of(e) == held.id,
        1,
    )
    assert len(found) == 1
    requested = await wait_for_events(
        nats_client.jetstream(),
        "linli.tasks.confirmation.requested",
        lambda e: _assignment_of(e) == held.id,
        1,
    )
    assert len(requested) == 1  # asked once, however often the loop runs


def _assignment_of(env) -> str:  # type: ignore[no-untyped-def]
    from linli.v1 import events_pb2

    for kind in (events_pb2.ConfirmationOverdue, events_pb2.ConfirmationRequested):
        payload = kind()
        if env.payload.Unpack(payload):
            return payload.assignment.id  # type: ignore[no-any-return]
    return ""


async def test_no_answer_frees_the_place_for_the_standby_list_when_the_role_says_release(
    task_stub,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
    clock: MovableClock,
    hood: Neighbourhood,
) -> None:  # type: ignore[no-untyped-def]
    start = soon(1.5)
    role = tasks_pb2.VolunteerRole(
        community_id=hood.home,
        title="消防安全巡查",
        beneficiary_group=wish(hood.home).beneficiary_group,
        location=wish(hood.home).location,
        headcount=1,
        effort_hours=2.0,
        once=tasks_pb2.OneOffSchedule(window=window(start)),
        no_answer=tasks_pb2.NO_ANSWER_POLICY_RELEASE,
    )
    created = await task_stub.CreateRole(
        tasks_pb2.CreateRoleRequest(request_id=request_id(), role=role), metadata=hood.staff
    )
    assert created.role.no_answer == tasks_pb2.NO_ANSWER_POLICY_RELEASE
    listed = await task_stub.ListTasks(
        tasks_pb2.ListTasksRequest(community_id=hood.home), metadata=hood.staff
    )
    (task,) = [t for t in listed.tasks if t.source_id == created.role.id]
    holder = hood.as_member(hood.members[0])
    held = (
        await task_stub.ClaimTask(tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=holder)
    ).assignment
    waiting = hood.members[2]
    await join(task_stub, hood, task.id, waiting)
    await seen_waiting(matching_rt, task.id, 1)
    await tasks_rt.tasks.remind(now=clock())  # type: ignore[attr-defined]
    (asked,) = await assignments(task_stub, hood, task.id)

    late = asked.answer_by_time.ToDatetime().replace(tzinfo=clock().tzinfo) + timedelta(minutes=1)
    await tasks_rt.tasks.remind(now=late)  # type: ignore[attr-defined]

    async def offered() -> bool:
        return any(a.state == PROPOSED for a in await assignments(task_stub, hood, task.id))

    await until(offered, timeout=30)
    by_id = {a.id: a for a in await assignments(task_stub, hood, task.id)}
    assert (by_id[held.id].state, by_id[held.id].reason) == (WITHDRAWN, "unconfirmed")
    assert [a.member_id for a in by_id.values() if a.state == PROPOSED] == [waiting]


# -- staff's changes and the calendar --------------------------------------------------------


def _events(ics: str) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(ics)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


async def test_a_moved_task_raises_its_calendar_sequence_and_a_cancelled_one_says_so(
    task_stub, hood: Neighbourhood
) -> None:  # type: ignore[no-untyped-def]
    task, held = await full_task(task_stub, hood, days=4)
    member = hood.as_member(hood.members[0])
    calendar = tasks_pb2.GetMemberCalendarRequest()
    uid = f"{held.id}@tasks.linli"
    before = _events((await task_stub.GetMemberCalendar(calendar, metadata=member)).ics)[uid]
    assert int(before["SEQUENCE"]) == 0
    assert before["DTSTART"].params["TZID"] == "Asia/Shanghai"
    assert str(before["STATUS"]) == "CONFIRMED"

    later = task.window.start.ToDatetime() + timedelta(hours=3)
    changed = await task_stub.UpdateTask(
        tasks_pb2.UpdateTaskRequest(
            task=tasks_pb2.Task(id=task.id, window=window(later)),
            update_mask=field_mask_pb2.FieldMask(paths=["window"]),
            reason="场地调整",
        ),
        metadata=hood.staff,
    )

    assert changed.task.revision == 1
    moved = _events((await task_stub.GetMemberCalendar(calendar, metadata=member)).ics)[uid]
    assert int(moved["SEQUENCE"]) == 1
    assert moved["DTSTART"].dt.replace(tzinfo=None) == later.replace(tzinfo=None) + timedelta(
        hours=8
    )
    await task_stub.CancelTask(
        tasks_pb2.CancelTaskRequest(id=task.id, reason="天气原因"), metadata=hood.staff
    )
    gone = _events((await task_stub.GetMemberCalendar(calendar, metadata=member)).ics)[uid]
    assert (str(gone["STATUS"]), int(gone["SEQUENCE"])) == ("CANCELLED", 2)
    stranger = await refused(
        task_stub.GetMemberCalendar(
            tasks_pb2.GetMemberCalendarRequest(member_id=hood.members[0]),
            metadata=hood.as_member(hood.members[1]),
        )
    )
    assert code(stranger) == grpc.StatusCode.PERMISSION_DENIED


async def test_staff_changes_are_checked_by_field_and_kept_to_their_scope(
    task_stub, hood: Neighbourhood, nats_client
) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.events import wait_for_events

    task, _ = await full_task(task_stub, hood, days=3)

    def update(paths: list[str], **fields: object) -> tasks_pb2.UpdateTaskRequest:
        return tasks_pb2.UpdateTaskRequest(
            task=tasks_pb2.Task(id=task.id, **fields),  # type: ignore[arg-type]
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        )

    below = await refused(
        task_stub.UpdateTask(update(["headcount"], headcount=0), metadata=hood.staff)
    )
    assert code(below) == grpc.StatusCode.INVALID_ARGUMENT
    assert "task.headcount" in bad_request_fields(below)
    unknown = await refused(task_stub.UpdateTask(update(["status"]), metadata=hood.staff))
    assert "update_mask.paths[0]" in bad_request_fields(unknown)
    foreign = await refused(
        task_stub.UpdateTask(update(["title"], title="别人的任务"), metadata=hood.other_staff)
    )
    missing = await refused(
        task_stub.UpdateTask(
            tasks_pb2.UpdateTaskRequest(
                task=tasks_pb2.Task(id="00000000-0000-4000-8000-000000000000", title="无"),
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            ),
            metadata=hood.other_staff,
        )
    )
    assert code(foreign) == code(missing) == grpc.StatusCode.PERMISSION_DENIED
    assert foreign.details() == missing.details()
    member = await refused(
        task_stub.UpdateTask(update(["title"], title="x"), metadata=hood.as_member(hood.members[0]))
    )
    assert code(member) == grpc.StatusCode.PERMISSION_DENIED

    grown = await task_stub.UpdateTask(
        update(["headcount", "title"], headcount=3, title="为独居老人代购蔬菜（两周）"),
        metadata=hood.staff,
    )

    assert (grown.task.headcount, grown.task.status) == (3, tasks_pb2.TASK_STATUS_OPEN)
    found = await wait_for_events(
        nats_client.jetstream(),
        "linli.tasks.task.changed",
        lambda e: task.id in e.payload.value.decode("latin-1"),
        1,
    )
    assert len(found) == 1


# -- moves -----------------------------------------------------------------------------------


async def test_a_member_who_moves_away_keeps_no_place_nor_standby_entry_there(
    stub, task_stub, matching_rt: ServiceRuntime, hood: Neighbourhood
) -> None:  # type: ignore[no-untyped-def]
    mover = hood.members[0]
    task, held = await full_task(task_stub, hood)
    other, _ = await _full_for(task_stub, hood, hood.members[1])
    await join(task_stub, hood, other.id, mover)

    await stub.ReportIn(
        registry_pb2.ReportInRequest(
            member_id=mover, community_id=hood.other, grid_id=hood.other_grid
        ),
        metadata=hood.as_member(mover),
    )

    async def released() -> bool:
        by_id = {a.id: a for a in await assignments(task_stub, hood, task.id)}
        return by_id[held.id].state == WITHDRAWN

    await until(released, timeout=30)
    by_id = {a.id: a for a in await assignments(task_stub, hood, task.id)}
    assert by_id[held.id].reason == "moved"
    waiting = await task_stub.ListStandby(
        tasks_pb2.ListStandbyRequest(task_id=other.id), metadata=hood.staff
    )
    assert list(waiting.entries) == []


async def _full_for(task_stub, hood: Neighbourhood, member: str):  # type: ignore[no-untyped-def]
    task = await post(task_stub, hood.staff, wish(hood.home, start=soon(5), headcount=1, skills=()))
    claimed = await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(member)
    )
    return claimed.task, claimed.assignment
