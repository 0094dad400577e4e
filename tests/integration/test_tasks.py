"""The task service over real gRPC, PostgreSQL and NATS, with the registry feeding its members."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from grpc import aio
from nats.aio.client import Client as NatsClient

from linli.v1 import common_pb2, events_pb2, registry_pb2, tasks_pb2
from services.common import eventbus
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from tests.integration.conftest import MovableClock, code
from tests.integration.errors import bad_request_fields
from tests.integration.events import KEYS, wait_for_events
from tests.integration.tasks_support import (
    Neighbourhood,
    make_neighbourhood,
    post,
    soon,
    stamp,
    until,
    window,
    wish,
)
from tests.support import request_id

pytestmark = pytest.mark.integration

OPEN, FILLED = tasks_pb2.TASK_STATUS_OPEN, tasks_pb2.TASK_STATUS_FILLED


@pytest.fixture
async def hood(stub, tasks_rt: ServiceRuntime, settings: RegistrySettings) -> Neighbourhood:  # type: ignore[no-untyped-def]
    return await make_neighbourhood(stub, tasks_rt, settings)


def about(task_id: str, kind: type):  # type: ignore[no-untyped-def]
    def match(env: events_pb2.EventEnvelope) -> bool:
        payload = kind()
        if not env.payload.Unpack(payload):
            return False
        task = payload.task if hasattr(payload, "task") else None
        return task is not None and task.id == task_id

    return match


# -- wishes ----------------------------------------------------------------------------------------


async def test_a_posted_wish_becomes_an_open_task_and_is_announced(
    task_stub,
    hood: Neighbourhood,
    nats_client: NatsClient,  # type: ignore[no-untyped-def]
) -> None:
    req = tasks_pb2.PostWishRequest(request_id=request_id(), wish=wish(hood.home, headcount=2))

    reply = await task_stub.PostWish(req, metadata=hood.staff)
    again = await task_stub.PostWish(req, metadata=hood.staff)

    task = reply.task
    assert task.status == OPEN and task.headcount == 2 and task.places_taken == 0
    assert task.kind == tasks_pb2.TASK_KIND_WISH and task.source_id == reply.wish.id
    assert task.street_id == hood.street and task.address == "清华园3号院2单元401"
    assert again.task.id == task.id and again.wish.id == reply.wish.id
    posted = await wait_for_events(
        nats_client.jetstream(), "linli.tasks.task.posted", about(task.id, events_pb2.TaskPosted), 1
    )
    assert len(posted) == 1


async def test_bad_wishes_name_every_field_and_write_nothing(
    task_stub,
    hood: Neighbourhood,
    tasks_rt: ServiceRuntime,  # type: ignore[no-untyped-def]
) -> None:
    past = datetime.now(UTC) - timedelta(days=1)
    cases = {
        "wish.title": wish(hood.home, title=""),
        "wish.headcount": wish(hood.home, headcount=101),
        "wish.effort_hours": wish(hood.home, hours=13),
        "wish.window.start": wish(hood.home, start=past),
        "wish.location": wish(hood.home, lat=31.23, lng=121.47),
        "wish.skills[0].skill": wish(hood.home, skills=("juggling",)),
        "wish.community_id": wish("no-such-community"),
    }
    overlong = wish(hood.home)
    overlong.title = "长" * 61
    cases["wish.title"] = overlong
    backwards = wish(hood.home)
    backwards.window.end.CopyFrom(stamp(soon() - timedelta(hours=5)))
    cases["wish.window.end"] = backwards
    zero = wish(hood.home, headcount=0)
    cases["wish.headcount"] = zero
    before = await tasks_rt.pool.fetchval("SELECT count(*) FROM task")
    for field, bad in cases.items():
        with pytest.raises(aio.AioRpcError) as err:
            await task_stub.PostWish(
                tasks_pb2.PostWishRequest(request_id=request_id(), wish=bad), metadata=hood.admin
            )
        assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in bad_request_fields(err.value), (field, bad_request_fields(err.value))
    assert await tasks_rt.pool.fetchval("SELECT count(*) FROM task") == before


async def test_a_flexible_wish_runs_from_posting_to_its_deadline(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    w = wish(hood.home)
    deadline = soon(5)
    w.window.CopyFrom(tasks_pb2.TimeWindow(end=stamp(deadline), flexible=True))

    task = await post(task_stub, hood.staff, w)

    assert task.window.flexible
    assert task.window.end.ToDatetime(UTC) == deadline
    assert abs(task.window.start.ToDatetime(UTC) - datetime.now(UTC)) < timedelta(minutes=1)


# -- roles -----------------------------------------------------------------------------------------


def four_thirty_school(community: str, unit: str = "") -> tasks_pb2.VolunteerRole:
    today = datetime.now(UTC).date()
    return tasks_pb2.VolunteerRole(
        community_id=community,
        unit_id=unit,
        title="四点半学校课业辅导",
        description="放学后到家长下班前，辅导作业",
        beneficiary_group=common_pb2.BENEFICIARY_GROUP_CHILD,
        location=common_pb2.LatLng(latitude=36.980, longitude=117.170),
        skills=[tasks_pb2.RequiredSkill(skill="tutoring", min_level=2)],
        headcount=3,
        effort_hours=1.5,
        weekly=tasks_pb2.WeeklySchedule(
            days=[1, 2, 3, 4, 5],
            start_minute=16 * 60 + 30,
            end_minute=18 * 60,
            first_date=common_pb2.Date(year=today.year, month=today.month, day=today.day),
        ),
    )


async def test_a_weekly_role_becomes_one_task_per_occurrence_without_duplicates(
    task_stub,
    hood: Neighbourhood,
    tasks_rt: ServiceRuntime,  # type: ignore[no-untyped-def]
) -> None:
    reply = await task_stub.CreateRole(
        tasks_pb2.CreateRoleRequest(request_id=request_id(), role=four_thirty_school(hood.home)),
        metadata=hood.staff,
    )

    # Four weeks of weekdays, less today's if 16:30 local has passed: 19 or 20 occurrences.
    assert reply.tasks_generated in (19, 20, 21)
    role_id = reply.role.id

    async def count() -> int:
        return int(
            await tasks_rt.pool.fetchval(
                "SELECT count(*) FROM task WHERE source_id = $1::uuid", role_id
            )
        )

    generated = await count()
    assert generated == reply.tasks_generated
    await tasks_rt.tasks.sweep()  # type: ignore[attr-defined]
    await tasks_rt.tasks.sweep()  # type: ignore[attr-defined]
    assert await count() == generated  # nothing new: the horizon has not moved

    later = datetime.now(UTC) + timedelta(days=7)
    await tasks_rt.tasks.store.generate_due(later, tasks_rt.tasks.horizon)  # type: ignore[attr-defined]
    await tasks_rt.tasks.store.generate_due(later, tasks_rt.tasks.horizon)  # type: ignore[attr-defined]
    assert await count() == generated + 5  # one more week of weekdays, once
    starts = await tasks_rt.pool.fetch(
        "SELECT window_start FROM task WHERE source_id = $1::uuid ORDER BY 1", role_id
    )
    local = [
        r["window_start"].astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
        for r in starts
    ]
    assert all(t.hour == 16 and t.minute == 30 and t.isoweekday() <= 5 for t in local)


async def test_a_one_off_dedication_day_is_one_task_for_forty(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    saturday = soon(6)
    role = tasks_pb2.VolunteerRole(
        community_id=hood.home,
        title="党员奉献日：清理小区环境",
        beneficiary_group=common_pb2.BENEFICIARY_GROUP_OTHER,
        location=common_pb2.LatLng(latitude=36.981, longitude=117.171),
        skills=[tasks_pb2.RequiredSkill(skill="sanitation", min_level=1)],
        headcount=40,
        effort_hours=3,
        once=tasks_pb2.OneOffSchedule(window=window(saturday, hours=4)),
    )

    reply = await task_stub.CreateRole(
        tasks_pb2.CreateRoleRequest(request_id=request_id(), role=role), metadata=hood.street_admin
    )

    assert reply.tasks_generated == 1
    tasks = await task_stub.ListTasks(
        tasks_pb2.ListTasksRequest(community_id=hood.home), metadata=hood.staff
    )
    mine = [t for t in tasks.tasks if t.source_id == reply.role.id]
    assert len(mine) == 1 and mine[0].headcount == 40


async def test_a_schedule_that_yields_no_occurrence_is_refused(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    role = four_thirty_school(hood.home)
    today = datetime.now(UTC).date()
    # A single Sunday-only week that contains no Sunday in the future... in the past instead.
    past = today - timedelta(days=30)
    role.weekly.first_date.CopyFrom(common_pb2.Date(year=past.year, month=past.month, day=past.day))
    role.weekly.last_date.CopyFrom(
        common_pb2.Date(year=past.year, month=past.month, day=past.day + 0)
    )
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.CreateRole(
            tasks_pb2.CreateRoleRequest(request_id=request_id(), role=role), metadata=hood.staff
        )
    assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT
    assert "role.weekly" in bad_request_fields(err.value)


# -- claims ----------------------------------------------------------------------------------------


async def test_a_member_claims_a_place_and_the_task_fills(
    task_stub,
    hood: Neighbourhood,
    nats_client: NatsClient,  # type: ignore[no-untyped-def]
) -> None:
    task = await post(task_stub, hood.staff, wish(hood.home, headcount=1))
    member = hood.members[0]

    reply = await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(member)
    )

    assert reply.assignment.state == tasks_pb2.ASSIGNMENT_STATE_ACCEPTED
    assert reply.assignment.member_id == member
    assert reply.task.status == FILLED and reply.task.places_taken == 1
    seen = (
        await task_stub.GetTask(
            tasks_pb2.GetTaskRequest(id=task.id), metadata=hood.as_member(member)
        )
    ).task
    assert seen.address and not seen.location_approximate  # the assigned member sees the place

    def claimed(env: events_pb2.EventEnvelope) -> bool:
        e = events_pb2.AssignmentChanged()
        return env.payload.Unpack(e) and e.task.id == task.id

    assert (
        len(
            await wait_for_events(
                nats_client.jetstream(), "linli.tasks.assignment.claimed", claimed, 1
            )
        )
        == 1
    )


async def test_of_fifty_parallel_claims_on_the_last_place_exactly_one_wins(
    stub,
    task_stub,
    tasks_rt: ServiceRuntime,
    settings: RegistrySettings,  # type: ignore[no-untyped-def]
) -> None:
    crowd = await make_neighbourhood(stub, tasks_rt, settings, members=50, outsiders=0)
    task = await post(task_stub, crowd.staff, wish(crowd.home, headcount=1))

    results = await asyncio.gather(
        *(
            task_stub.ClaimTask(
                tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=crowd.as_member(m)
            )
            for m in crowd.members
        ),
        return_exceptions=True,
    )

    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1 and len(losers) == 49
    assert all(code(e) == grpc.StatusCode.FAILED_PRECONDITION for e in losers)
    assert all("every place on the task is taken" in (e.details() or "") for e in losers)
    rows = await tasks_rt.pool.fetchval(
        "SELECT count(*) FROM assignment WHERE task_id = $1::uuid", task.id
    )
    assert rows == 1


async def test_claims_are_refused_with_the_reason(
    stub,
    task_stub,
    hood: Neighbourhood,
    tasks_rt: ServiceRuntime,  # type: ignore[no-untyped-def]
) -> None:
    start = soon(3)
    first = await post(task_stub, hood.staff, wish(hood.home, start=start, headcount=3))
    clash = await post(
        task_stub, hood.staff, wish(hood.home, start=start + timedelta(hours=1), headcount=3)
    )
    member, deactivated = hood.members[1], hood.members[2]
    await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=first.id), metadata=hood.as_member(member)
    )

    async def refused(task_id: str, who: str) -> str:
        with pytest.raises(aio.AioRpcError) as err:
            await task_stub.ClaimTask(
                tasks_pb2.ClaimTaskRequest(task_id=task_id), metadata=hood.as_member(who)
            )
        assert code(err.value) == grpc.StatusCode.FAILED_PRECONDITION
        return err.value.details() or ""

    assert "another accepted task at that time" in await refused(clash.id, member)
    assert "already has a place" in await refused(first.id, member)

    await stub.DeactivateMember(
        registry_pb2.DeactivateMemberRequest(member_id=deactivated), metadata=hood.admin
    )

    async def caught_up() -> bool:  # the read model follows the registry's events
        view = await tasks_rt.tasks.store.member_view(None, deactivated)  # type: ignore[attr-defined]
        return view is not None and not view.active

    await until(caught_up)
    assert "deactivated" in await refused(first.id, deactivated)


async def test_a_member_sees_and_claims_only_in_their_community(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    theirs = await post(task_stub, hood.other_staff, wish(hood.other))
    missing = "00000000-0000-0000-0000-000000000000"
    member = hood.as_member(hood.members[0])
    for task_id in (theirs.id, missing):
        for call in (
            task_stub.GetTask(tasks_pb2.GetTaskRequest(id=task_id), metadata=member),
            task_stub.ClaimTask(tasks_pb2.ClaimTaskRequest(task_id=task_id), metadata=member),
        ):
            with pytest.raises(aio.AioRpcError) as err:
                await call
            assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.ClaimTask(
            tasks_pb2.ClaimTaskRequest(task_id=theirs.id, member_id=hood.outsiders[0]),
            metadata=member,
        )
    assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED  # only as themselves


async def test_a_street_wide_role_is_open_to_the_whole_street(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    role = tasks_pb2.VolunteerRole(
        community_id=hood.home,
        title="创卫：街道环境整治",
        street_wide=True,
        beneficiary_group=common_pb2.BENEFICIARY_GROUP_OTHER,
        location=common_pb2.LatLng(latitude=36.985, longitude=117.175),
        headcount=10,
        effort_hours=2,
        once=tasks_pb2.OneOffSchedule(window=window(soon(4), hours=3)),
    )
    created = await task_stub.CreateRole(
        tasks_pb2.CreateRoleRequest(request_id=request_id(), role=role), metadata=hood.street_admin
    )
    tasks = await task_stub.ListTasks(
        tasks_pb2.ListTasksRequest(community_id=hood.home), metadata=hood.staff
    )
    task = next(t for t in tasks.tasks if t.source_id == created.role.id)

    reply = await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(hood.outsiders[0])
    )

    assert reply.assignment.state == tasks_pb2.ASSIGNMENT_STATE_ACCEPTED


async def test_withdrawing_before_the_start_opens_the_place_again(
    task_stub,
    hood: Neighbourhood,
    nats_client: NatsClient,  # type: ignore[no-untyped-def]
) -> None:
    task = await post(task_stub, hood.staff, wish(hood.home, headcount=1))
    member = hood.as_member(hood.members[3])
    claimed = await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=member
    )

    withdrawn = await task_stub.WithdrawAssignment(
        tasks_pb2.WithdrawAssignmentRequest(assignment_id=claimed.assignment.id, reason="临时出差"),
        metadata=member,
    )

    assert withdrawn.assignment.state == tasks_pb2.ASSIGNMENT_STATE_WITHDRAWN
    after = (
        await task_stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=hood.staff)
    ).task
    assert after.status == OPEN and after.places_taken == 0
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.WithdrawAssignment(
            tasks_pb2.WithdrawAssignmentRequest(assignment_id=claimed.assignment.id),
            metadata=member,
        )
    assert code(err.value) == grpc.StatusCode.FAILED_PRECONDITION
    assert "withdrawn" in (err.value.details() or "")  # names the current state


# -- proposals from matching -----------------------------------------------------------------------


async def propose(
    nats_client: NatsClient, task_id: str, member_id: str, run: str = "run-1"
) -> None:
    """Publish a proposal as the matching service does."""
    js = nats_client.jetstream()
    env = eventbus.envelope(
        source="matching",
        subj="linli.matching.proposal.made",
        payload=events_pb2.ProposalMade(
            match_run_id=run, task_id=task_id, member_id=member_id, rank=1
        ),
        actor=None,
    )
    eventbus.seal(env, KEYS)
    await js.publish(
        "linli.matching.proposal.made", env.SerializeToString(), headers={"Nats-Msg-Id": env.id}
    )


async def proposals(task_stub, hood: Neighbourhood, task_id: str) -> list[tasks_pb2.Assignment]:  # type: ignore[no-untyped-def]
    reply = await task_stub.ListAssignments(
        tasks_pb2.ListAssignmentsRequest(task_id=task_id), metadata=hood.staff
    )
    return list(reply.assignments)


async def test_a_proposal_holds_a_place_until_the_member_answers(
    task_stub,
    hood: Neighbourhood,
    nats_client: NatsClient,  # type: ignore[no-untyped-def]
) -> None:
    task = await post(task_stub, hood.staff, wish(hood.home, headcount=2))
    yes, no = hood.members[4], hood.members[5]
    await propose(nats_client, task.id, yes)
    await propose(nats_client, task.id, no)

    async def both_proposed() -> bool:
        return len(await proposals(task_stub, hood, task.id)) == 2

    await until(both_proposed)
    held = (await task_stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=hood.staff)).task
    assert held.places_taken == 2 and held.status == FILLED and held.accepted == 0
    by_member = {a.member_id: a for a in await proposals(task_stub, hood, task.id)}
    assert by_member[yes].state == tasks_pb2.ASSIGNMENT_STATE_PROPOSED
    assert by_member[yes].expire_time.seconds > 0

    accepted = await task_stub.AcceptProposal(
        tasks_pb2.AcceptProposalRequest(assignment_id=by_member[yes].id),
        metadata=hood.as_member(yes),
    )
    declined = await task_stub.DeclineProposal(
        tasks_pb2.DeclineProposalRequest(assignment_id=by_member[no].id, reason="那天值班"),
        metadata=hood.as_member(no),
    )

    assert accepted.assignment.state == tasks_pb2.ASSIGNMENT_STATE_ACCEPTED
    assert declined.assignment.state == tasks_pb2.ASSIGNMENT_STATE_DECLINED
    after = (
        await task_stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=hood.staff)
    ).task
    assert (after.places_taken, after.accepted, after.status) == (1, 1, OPEN)

    def declined_event(env: events_pb2.EventEnvelope) -> bool:
        e = events_pb2.AssignmentChanged()
        return env.payload.Unpack(e) and e.assignment.id == by_member[no].id

    assert (
        len(
            await wait_for_events(
                nats_client.jetstream(), "linli.tasks.assignment.declined", declined_event, 1
            )
        )
        == 1
    )
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.AcceptProposal(
            tasks_pb2.AcceptProposalRequest(assignment_id=by_member[no].id),
            metadata=hood.as_member(yes),
        )
    assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED  # not theirs


async def test_an_unanswered_proposal_expires_and_frees_its_place(
    task_stub,
    hood: Neighbourhood,
    nats_client: NatsClient,
    tasks_rt: ServiceRuntime,  # type: ignore[no-untyped-def]
) -> None:
    task = await post(task_stub, hood.staff, wish(hood.home, headcount=1))
    member = hood.members[0]
    await propose(nats_client, task.id, member)

    async def proposed() -> bool:
        return len(await proposals(task_stub, hood, task.id)) == 1

    await until(proposed)
    (assignment,) = await proposals(task_stub, hood, task.id)
    expiry = assignment.expire_time.ToDatetime(UTC)

    counts = await tasks_rt.tasks.sweep(now=expiry + timedelta(seconds=1))  # type: ignore[attr-defined]

    assert counts["proposals_expired"] >= 1
    (expired,) = await proposals(task_stub, hood, task.id)
    assert expired.state == tasks_pb2.ASSIGNMENT_STATE_EXPIRED
    after = (
        await task_stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=hood.staff)
    ).task
    assert after.places_taken == 0 and after.status == OPEN
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.AcceptProposal(
            tasks_pb2.AcceptProposalRequest(assignment_id=assignment.id),
            metadata=hood.as_member(member),
        )
    assert code(err.value) == grpc.StatusCode.FAILED_PRECONDITION

    def expired_event(env: events_pb2.EventEnvelope) -> bool:
        e = events_pb2.AssignmentChanged()
        return env.payload.Unpack(e) and e.assignment.id == assignment.id

    assert (
        len(
            await wait_for_events(
                nats_client.jetstream(), "linli.tasks.assignment.expired", expired_event, 1
            )
        )
        == 1
    )


async def test_a_proposal_for_a_full_task_is_rejected_with_an_event(
    task_stub,
    hood: Neighbourhood,
    nats_client: NatsClient,  # type: ignore[no-untyped-def]
) -> None:
    task = await post(task_stub, hood.staff, wish(hood.home, headcount=1))
    await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(hood.members[1])
    )
    await propose(nats_client, task.id, hood.members[2], run="run-full")

    def rejected(env: events_pb2.EventEnvelope) -> bool:
        e = events_pb2.ProposalRejected()
        return env.payload.Unpack(e) and e.task_id == task.id

    (event,) = await wait_for_events(
        nats_client.jetstream(), "linli.tasks.proposal.rejected", rejected, 1
    )
    payload = events_pb2.ProposalRejected()
    event.payload.Unpack(payload)
    assert payload.match_run_id == "run-full" and "taken" in payload.reason


# -- time passing, cancelling, completing ----------------------------------------------------------


async def test_an_unfilled_task_expires_when_its_time_passes(
    task_stub,
    hood: Neighbourhood,
    tasks_rt: ServiceRuntime,
    nats_client: NatsClient,  # type: ignore[no-untyped-def]
) -> None:
    start = soon(0.02)  # about half an hour from now
    empty = await post(task_stub, hood.staff, wish(hood.home, start=start))
    taken = await post(task_stub, hood.staff, wish(hood.home, start=start))
    await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=taken.id), metadata=hood.as_member(hood.members[0])
    )

    await tasks_rt.tasks.sweep(now=start + timedelta(seconds=1))  # type: ignore[attr-defined]

    get = lambda t: task_stub.GetTask(tasks_pb2.GetTaskRequest(id=t.id), metadata=hood.staff)  # noqa: E731
    assert (await get(empty)).task.status == tasks_pb2.TASK_STATUS_EXPIRED
    assert (await get(taken)).task.status == tasks_pb2.TASK_STATUS_CLOSED
    assert (
        len(
            await wait_for_events(
                nats_client.jetstream(),
                "linli.tasks.task.expired",
                about(empty.id, events_pb2.TaskExpired),
                1,
            )
        )
        == 1
    )


async def test_cancelling_cancels_its_assignments_and_only_staff_in_scope_may(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    task = await post(task_stub, hood.staff, wish(hood.home, headcount=2))
    claimed = await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(hood.members[1])
    )
    for md in (hood.other_staff, hood.as_member(hood.members[1])):
        with pytest.raises(aio.AioRpcError) as err:
            await task_stub.CancelTask(
                tasks_pb2.CancelTaskRequest(id=task.id, reason="x"), metadata=md
            )
        assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED

    reply = await task_stub.CancelTask(
        tasks_pb2.CancelTaskRequest(id=task.id, reason="居民已自行解决"), metadata=hood.street_admin
    )

    assert reply.task.status == tasks_pb2.TASK_STATUS_CANCELLED
    mine = await task_stub.ListAssignments(
        tasks_pb2.ListAssignmentsRequest(member_id=hood.members[1]),
        metadata=hood.as_member(hood.members[1]),
    )
    state = {a.id: a.state for a in mine.assignments}[claimed.assignment.id]
    assert state == tasks_pb2.ASSIGNMENT_STATE_CANCELLED
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.CancelTask(
            tasks_pb2.CancelTaskRequest(id=task.id, reason="again"), metadata=hood.staff
        )
    assert code(err.value) == grpc.StatusCode.FAILED_PRECONDITION
    assert "cancelled" in (err.value.details() or "")


async def test_completion_logs_hours_and_feedback_into_the_members_record(
    task_stub,
    hood: Neighbourhood,
    clock: MovableClock,
    nats_client: NatsClient,  # type: ignore[no-untyped-def]
) -> None:
    start = soon(1)
    task = await post(task_stub, hood.staff, wish(hood.home, start=start, headcount=2))
    did, skipped = hood.members[2], hood.members[3]
    for m in (did, skipped):
        await task_stub.ClaimTask(
            tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(m)
        )
    request = tasks_pb2.CompleteTaskRequest(
        id=task.id,
        feedback=tasks_pb2.Feedback(score=5, comment="非常感谢"),
        outcomes=[
            tasks_pb2.AssignmentOutcome(member_id=did, hours=2.5),
            tasks_pb2.AssignmentOutcome(member_id=skipped, no_show=True),
        ],
    )
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.CompleteTask(request, metadata=hood.staff)
    assert code(err.value) == grpc.StatusCode.FAILED_PRECONDITION  # not started yet

    clock.offset = start - datetime.now(UTC) + timedelta(hours=3)
    try:
        bad = tasks_pb2.CompleteTaskRequest()
        bad.CopyFrom(request)
        bad.feedback.score = 6
        bad.outcomes[0].hours = 30
        with pytest.raises(aio.AioRpcError) as err:
            await task_stub.CompleteTask(bad, metadata=hood.staff)
        assert {"feedback.score", "outcomes[0].hours"} <= set(bad_request_fields(err.value))

        reply = await task_stub.CompleteTask(request, metadata=hood.staff)
        record = (
            await task_stub.GetMemberRecord(
                tasks_pb2.GetMemberRecordRequest(member_id=did), metadata=hood.as_member(did)
            )
        ).record
    finally:
        clock.offset = timedelta()

    assert reply.task.status == tasks_pb2.TASK_STATUS_COMPLETED
    states = {a.member_id: (a.state, a.hours) for a in reply.assignments}
    assert states == {
        did: (tasks_pb2.ASSIGNMENT_STATE_COMPLETED, 2.5),
        skipped: (tasks_pb2.ASSIGNMENT_STATE_NO_SHOW, 0.0),
    }
    assert record.hours_total == 2.5 and record.tasks_done == 1
    other = (
        await task_stub.GetMemberRecord(
            tasks_pb2.GetMemberRecordRequest(member_id=skipped), metadata=hood.staff
        )
    ).record
    assert other.no_shows == 1 and other.hours_total == 0
    assert (
        len(
            await wait_for_events(
                nats_client.jetstream(),
                "linli.tasks.task.completed",
                about(task.id, events_pb2.TaskCompleted),
                1,
            )
        )
        == 1
    )
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.GetMemberRecord(
            tasks_pb2.GetMemberRecordRequest(member_id=did), metadata=hood.other_staff
        )
    assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED


# -- reading ---------------------------------------------------------------------------------------


async def test_near_me_lists_open_tasks_nearest_first_within_reach(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    near = await post(task_stub, hood.staff, wish(hood.home, lat=36.9801, lng=117.1701))
    middle = await post(task_stub, hood.staff, wish(hood.home, lat=36.9850, lng=117.1750))
    far = await post(task_stub, hood.staff, wish(hood.home, lat=37.0300, lng=117.2500))
    await post(task_stub, hood.other_staff, wish(hood.other, lat=36.9801, lng=117.1701))

    reply = await task_stub.SearchNearbyTasks(
        tasks_pb2.SearchNearbyTasksRequest(
            near=common_pb2.LatLng(latitude=36.98, longitude=117.17), radius_m=2000, limit=200
        ),
        metadata=hood.as_member(hood.members[5]),
    )

    ids = [t.id for t in reply.tasks]
    assert near.id in ids and middle.id in ids and far.id not in ids
    assert ids.index(near.id) < ids.index(middle.id)
    assert all(t.community_id == hood.home for t in reply.tasks)  # only what they may see
    distances = [t.distance_m for t in reply.tasks]
    assert distances == sorted(distances)
    # Measured to the wish's public, rounded place (36.981, 117.171), not to the resident's home.
    assert 130 < distances[0] < 160
    shown = next(t for t in reply.tasks if t.id == near.id)
    assert shown.location_approximate and not shown.address  # not assigned: no exact place


async def test_list_tasks_filters_and_pages_within_scope(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    base = soon(10)
    for i in range(7):
        await post(
            task_stub,
            hood.staff,
            wish(
                hood.home,
                start=base + timedelta(hours=3 * i),
                group=common_pb2.BENEFICIARY_GROUP_CHILD
                if i % 2
                else common_pb2.BENEFICIARY_GROUP_POOR,
            ),
        )
    seen: list[str] = []
    page_token = ""
    while True:
        page = await task_stub.ListTasks(
            tasks_pb2.ListTasksRequest(
                community_id=hood.home,
                start_after=stamp(base),
                page_size=3,
                beneficiary_group=common_pb2.BENEFICIARY_GROUP_CHILD,
                page_token=page_token,
            ),
            metadata=hood.staff,
        )
        seen += [t.id for t in page.tasks]
        page_token = page.next_page_token
        if not page_token:
            break
    assert len(seen) == len(set(seen)) == 3
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.ListTasks(
            tasks_pb2.ListTasksRequest(community_id=hood.home), metadata=hood.other_staff
        )
    assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED


async def test_staff_of_another_community_get_permission_denied_whether_or_not_it_exists(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    task = await post(task_stub, hood.staff, wish(hood.home))
    for task_id in (task.id, "00000000-0000-0000-0000-000000000000"):
        for call in (
            task_stub.GetTask(tasks_pb2.GetTaskRequest(id=task_id), metadata=hood.other_staff),
            task_stub.CancelTask(
                tasks_pb2.CancelTaskRequest(id=task_id, reason="x"), metadata=hood.other_staff
            ),
        ):
            with pytest.raises(aio.AioRpcError) as err:
                await call
            assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED, task_id
    # An id that could not be one is bad input, whoever asks: it tells nothing of what exists.
    for call in (
        task_stub.GetTask(tasks_pb2.GetTaskRequest(id="nonsense"), metadata=hood.other_staff),
        task_stub.CancelTask(
            tasks_pb2.CancelTaskRequest(id="nonsense", reason="x"), metadata=hood.other_staff
        ),
    ):
        with pytest.raises(aio.AioRpcError) as err:
            await call
        assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT
        assert "id" in bad_request_fields(err.value)
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.PostWish(
            tasks_pb2.PostWishRequest(request_id=request_id(), wish=wish(hood.home)),
            metadata=hood.other_staff,
        )
    assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.GetTask(
            tasks_pb2.GetTaskRequest(id="00000000-0000-0000-0000-000000000000"), metadata=hood.admin
        )
    assert code(err.value) == grpc.StatusCode.NOT_FOUND


async def test_a_member_proposed_for_the_last_place_may_claim_it(
    task_stub,
    hood: Neighbourhood,
    nats_client: NatsClient,  # type: ignore[no-untyped-def]
) -> None:
    task = await post(task_stub, hood.staff, wish(hood.home, headcount=1))
    member = hood.members[1]
    await propose(nats_client, task.id, member)

    async def proposed() -> bool:
        return len(await proposals(task_stub, hood, task.id)) == 1

    await until(proposed)
    reply = await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(member)
    )
    assert reply.assignment.state == tasks_pb2.ASSIGNMENT_STATE_ACCEPTED


async def test_a_member_finds_their_own_assignment_whatever_the_page_size(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    task = await post(task_stub, hood.staff, wish(hood.home, headcount=3))
    for m in hood.members[:3]:
        await task_stub.ClaimTask(
            tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(m)
        )
    mine = await task_stub.ListAssignments(
        tasks_pb2.ListAssignmentsRequest(task_id=task.id, page_size=1),
        metadata=hood.as_member(hood.members[2]),
    )
    assert [a.member_id for a in mine.assignments] == [hood.members[2]]


async def test_malformed_ids_times_and_dates_are_invalid_argument(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    for call, field in (
        (
            task_stub.GetMemberRecord(
                tasks_pb2.GetMemberRecordRequest(member_id="x"), metadata=hood.admin
            ),
            "member_id",
        ),
        (
            task_stub.ListAssignments(
                tasks_pb2.ListAssignmentsRequest(member_id="x"), metadata=hood.admin
            ),
            "member_id",
        ),
    ):
        with pytest.raises(aio.AioRpcError) as err:
            await call
        assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT
        assert field in bad_request_fields(err.value)
    far = wish(hood.home)
    far.window.start.seconds = 2**62
    far.window.end.seconds = 2**62
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.PostWish(
            tasks_pb2.PostWishRequest(request_id=request_id(), wish=far), metadata=hood.staff
        )
    assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT
    role = four_thirty_school(hood.home)
    role.weekly.first_date.month = 13
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.CreateRole(
            tasks_pb2.CreateRoleRequest(request_id=request_id(), role=role), metadata=hood.staff
        )
    assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT
    assert "role.weekly.first_date" in bad_request_fields(err.value)
