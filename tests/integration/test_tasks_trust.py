"""The task service under races, bad input and members leaving: over real gRPC, PostgreSQL and
NATS, with the registry feeding its members and units."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc import aio
from nats.aio.client import Client as NatsClient

from linli.v1 import common_pb2, events_pb2, registry_pb2, tasks_pb2
from services.common import eventbus
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from tests.integration.conftest import code
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

OK = grpc.StatusCode.OK
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
async def hood(stub, tasks_rt: ServiceRuntime, settings: RegistrySettings) -> Neighbourhood:  # type: ignore[no-untyped-def]
    return await make_neighbourhood(stub, tasks_rt, settings)


def error_info(err: aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info
    return None


async def outcome(call: Awaitable[Any]) -> tuple[grpc.StatusCode, Any]:
    """The call's status and its reply (or the error)."""
    try:
        return OK, await call
    except aio.AioRpcError as e:
        return e.code(), e


def weekly_role(community: str, title: str = "四点半学校课业辅导", unit: str = "") -> Any:
    first = datetime.now(UTC).date() + timedelta(days=1)
    return tasks_pb2.VolunteerRole(
        community_id=community,
        unit_id=unit,
        title=title,
        beneficiary_group=common_pb2.BENEFICIARY_GROUP_CHILD,
        location=common_pb2.LatLng(latitude=36.9805, longitude=117.1705),
        headcount=3,
        effort_hours=1.5,
        weekly=tasks_pb2.WeeklySchedule(
            days=[1, 2, 3, 4, 5],  # type: ignore[list-item]
            start_minute=16 * 60 + 30,
            end_minute=18 * 60,
            first_date=common_pb2.Date(year=first.year, month=first.month, day=first.day),
        ),
    )


# -- one request_id, one request -------------------------------------------------------------------


async def test_one_request_id_sent_at_once_with_different_wishes_posts_one_and_refuses_the_rest(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    for _ in range(8):
        rid = request_id()
        results = await asyncio.gather(
            *(
                outcome(
                    task_stub.PostWish(
                        tasks_pb2.PostWishRequest(
                            request_id=rid, wish=wish(hood.home, title=f"代购蔬菜第{i}份")
                        ),
                        metadata=hood.staff,
                    )
                )
                for i in range(6)
            )
        )
        codes = [c for c, _ in results]
        assert codes.count(OK) == 1, codes
        for c, err in results:
            if c is not OK:
                assert c == grpc.StatusCode.FAILED_PRECONDITION
                info = error_info(err)
                assert info is not None and info.metadata["field"] == "request_id"


async def test_one_request_id_sent_at_once_with_the_same_wish_answers_one_record(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    for _ in range(5):
        rid, body = request_id(), wish(hood.home)
        results = await asyncio.gather(
            *(
                outcome(
                    task_stub.PostWish(
                        tasks_pb2.PostWishRequest(request_id=rid, wish=body), metadata=hood.staff
                    )
                )
                for _ in range(6)
            )
        )
        assert all(c is OK for c, _ in results), [c for c, _ in results]
        assert len({(r.wish.id, r.task.id) for _, r in results}) == 1


async def test_one_request_id_sent_at_once_with_different_roles_creates_one_and_refuses_the_rest(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    for _ in range(5):
        rid = request_id()
        results = await asyncio.gather(
            *(
                outcome(
                    task_stub.CreateRole(
                        tasks_pb2.CreateRoleRequest(
                            request_id=rid, role=weekly_role(hood.home, title=f"课业辅导{i}")
                        ),
                        metadata=hood.staff,
                    )
                )
                for i in range(5)
            )
        )
        codes = [c for c, _ in results]
        assert codes.count(OK) == 1, codes
        assert all(c in (OK, grpc.StatusCode.FAILED_PRECONDITION) for c in codes)


async def test_a_repeated_create_role_answers_what_the_first_call_answered(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    rid, body = request_id(), weekly_role(hood.home)
    first = await task_stub.CreateRole(
        tasks_pb2.CreateRoleRequest(request_id=rid, role=body), metadata=hood.staff
    )
    assert first.tasks_generated > 0
    again = await task_stub.CreateRole(
        tasks_pb2.CreateRoleRequest(request_id=rid, role=body), metadata=hood.staff
    )
    assert again == first
    rid = request_id()
    results = await asyncio.gather(
        *(
            task_stub.CreateRole(
                tasks_pb2.CreateRoleRequest(request_id=rid, role=body), metadata=hood.staff
            )
            for _ in range(5)
        )
    )
    assert len({r.SerializeToString(deterministic=True) for r in results}) == 1
    assert results[0].tasks_generated == first.tasks_generated


# -- one member's concurrent claims ----------------------------------------------------------------


async def test_one_members_concurrent_claims_on_overlapping_tasks_never_deadlock(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    seen: list[grpc.StatusCode] = []
    for round_ in range(3):
        for i, member in enumerate(hood.members):
            start = soon(5 + round_ * 10 + i)
            tasks = [
                await post(
                    task_stub,
                    hood.staff,
                    wish(hood.home, start=start + timedelta(minutes=10 * k), headcount=5),
                )
                for k in range(6)
            ]
            md = hood.as_member(member)
            results = await asyncio.gather(
                *(
                    outcome(
                        task_stub.ClaimTask(tasks_pb2.ClaimTaskRequest(task_id=t.id), metadata=md)
                    )
                    for t in tasks * 3
                )
            )
            codes = [c for c, _ in results]
            seen += codes
            # Exactly one of the overlapping tasks is taken; every other claim is refused for
            # a reason (never aborted by a deadlock).
            assert codes.count(OK) == 1, codes
            assert set(codes) == {OK, grpc.StatusCode.FAILED_PRECONDITION}, codes
            refusals = {error_info(e).metadata["refusal"] for c, e in results if c is not OK}  # type: ignore[union-attr]
            assert refusals <= {"TIME_CONFLICT", "ALREADY_HOLDS"}
            mine = await task_stub.ListAssignments(
                tasks_pb2.ListAssignmentsRequest(
                    member_id=member, states=[tasks_pb2.ASSIGNMENT_STATE_ACCEPTED]
                ),
                metadata=hood.admin,
            )
            assert len([a for a in mine.assignments if a.task_id in {t.id for t in tasks}]) == 1
    assert grpc.StatusCode.ABORTED not in seen


async def test_a_members_claims_queue_behind_their_member_row_so_locks_never_cross(
    task_stub,
    hood: Neighbourhood,
    tasks_rt: ServiceRuntime,  # type: ignore[no-untyped-def]
) -> None:
    """Every writer locks the member before any task: two claims by one member on overlapping
    tasks then never both wait on the other's row in the exclusion constraint (a deadlock that
    happens only when both inserts land at the same instant, so it is shown by its cause)."""
    member = hood.members[1]
    task = await post(task_stub, hood.staff, wish(hood.home, start=soon(30)))
    async with tasks_rt.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM member WHERE id = $1::uuid FOR UPDATE", member)
        claim = asyncio.ensure_future(
            task_stub.ClaimTask(
                tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(member)
            )
        )
        done, _ = await asyncio.wait({claim}, timeout=2.0)
        assert not done  # the claim waits for the member's row, before it locks the task
    reply = await claim
    assert reply.assignment.state == tasks_pb2.ASSIGNMENT_STATE_ACCEPTED


async def test_one_members_concurrent_accepts_of_overlapping_proposals_never_deadlock(
    task_stub,
    hood: Neighbourhood,
    nats_client: NatsClient,  # type: ignore[no-untyped-def]
) -> None:
    member = hood.members[2]
    start = soon(40)
    tasks = [
        await post(task_stub, hood.staff, wish(hood.home, start=start + timedelta(minutes=15 * k)))
        for k in range(4)
    ]
    for t in tasks:
        await publish_proposal(nats_client, t.id, member)

    async def all_proposed() -> bool:
        return all([await places(task_stub, hood, t.id) == 1 for t in tasks])

    await until(all_proposed)
    held = await task_stub.ListAssignments(
        tasks_pb2.ListAssignmentsRequest(
            member_id=member, states=[tasks_pb2.ASSIGNMENT_STATE_PROPOSED]
        ),
        metadata=hood.admin,
    )
    ids = [a.id for a in held.assignments if a.task_id in {t.id for t in tasks}]
    assert len(ids) == 4
    md = hood.as_member(member)
    results = await asyncio.gather(
        *(
            outcome(
                task_stub.AcceptProposal(
                    tasks_pb2.AcceptProposalRequest(assignment_id=i), metadata=md
                )
            )
            for i in ids * 2
        )
    )
    codes = [c for c, _ in results]
    assert codes.count(OK) == 1, codes
    assert set(codes) == {OK, grpc.StatusCode.FAILED_PRECONDITION}, codes


async def test_claims_on_separate_times_all_succeed_side_by_side(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    start = soon(20)
    tasks = [
        await post(task_stub, hood.staff, wish(hood.home, start=start + timedelta(days=i)))
        for i in range(4)
    ]
    md = hood.as_member(hood.members[0])
    results = await asyncio.gather(
        *(
            outcome(task_stub.ClaimTask(tasks_pb2.ClaimTaskRequest(task_id=t.id), metadata=md))
            for t in tasks
        )
    )
    assert [c for c, _ in results] == [OK] * 4


# -- precise refusals ------------------------------------------------------------------------------


async def test_a_refused_claim_says_why_in_a_machine_readable_refusal(
    stub,
    task_stub,
    hood: Neighbourhood,
    tasks_rt: ServiceRuntime,  # type: ignore[no-untyped-def]
) -> None:
    start = soon(3)
    full = await post(task_stub, hood.staff, wish(hood.home, start=start, headcount=1))
    clash = await post(task_stub, hood.staff, wish(hood.home, start=start + timedelta(hours=1)))
    a, b, gone = hood.members[0], hood.members[1], hood.members[2]
    await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=full.id), metadata=hood.as_member(a)
    )

    async def refusal(task_id: str, member_id: str) -> str:
        with pytest.raises(aio.AioRpcError) as err:
            await task_stub.ClaimTask(
                tasks_pb2.ClaimTaskRequest(task_id=task_id, member_id=member_id),
                metadata=hood.service,
            )
        assert code(err.value) == grpc.StatusCode.FAILED_PRECONDITION
        info = error_info(err.value)
        assert info is not None and info.reason == "CLAIM_REFUSED"
        return info.metadata["refusal"]

    assert await refusal(full.id, b) == "TASK_FULL"
    assert await refusal(full.id, a) == "ALREADY_HOLDS"
    assert await refusal(clash.id, a) == "TIME_CONFLICT"
    assert await refusal(clash.id, hood.outsiders[0]) == "OUT_OF_SCOPE"
    assert await refusal(clash.id, "00000000-0000-0000-0000-00000000abcd") == "MEMBER_UNKNOWN"
    await stub.DeactivateMember(
        registry_pb2.DeactivateMemberRequest(member_id=gone), metadata=hood.admin
    )

    async def caught_up() -> bool:
        view = await tasks_rt.tasks.store.member_view(None, gone)  # type: ignore[attr-defined]
        return view is not None and not view.active

    await until(caught_up)
    assert await refusal(clash.id, gone) == "MEMBER_INACTIVE"


async def test_the_record_of_a_member_nobody_knows_is_not_found(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.GetMemberRecord(
            tasks_pb2.GetMemberRecordRequest(member_id="00000000-0000-0000-0000-00000000beef"),
            metadata=hood.admin,
        )
    assert code(err.value) == grpc.StatusCode.NOT_FOUND
    known = await task_stub.GetMemberRecord(
        tasks_pb2.GetMemberRecordRequest(member_id=hood.members[0]), metadata=hood.admin
    )
    assert known.record.member_id == hood.members[0]


# -- validation at the door ------------------------------------------------------------------------


async def invalid_fields(call: Awaitable[Any]) -> dict[str, str]:
    with pytest.raises(aio.AioRpcError) as err:
        await call
    assert code(err.value) == INVALID, err.value.details()
    return bad_request_fields(err.value)


async def test_times_out_of_range_or_too_far_ahead_are_refused_by_name(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    for seconds, nanos in ((2**62, 0), (-(2**62), 0), (253_402_300_799, 0), (1_800_000_000, -1)):
        late = tasks_pb2.ListTasksRequest(community_id=hood.home)
        late.start_after.seconds, late.start_after.nanos = seconds, nanos
        fields = await invalid_fields(task_stub.ListTasks(late, metadata=hood.staff))
        assert "start_after" in fields
        early = tasks_pb2.ListTasksRequest(community_id=hood.home)
        early.start_before.seconds, early.start_before.nanos = seconds, nanos
        fields = await invalid_fields(task_stub.ListTasks(early, metadata=hood.staff))
        assert "start_before" in fields

    last_day = datetime(9999, 12, 31, 10, tzinfo=UTC)
    doomsday = wish(hood.home, start=last_day)
    fields = await invalid_fields(
        task_stub.PostWish(
            tasks_pb2.PostWishRequest(request_id=request_id(), wish=doomsday), metadata=hood.staff
        )
    )
    assert "wish.window.start" in fields
    next_year = wish(hood.home, start=soon(400))
    fields = await invalid_fields(
        task_stub.PostWish(
            tasks_pb2.PostWishRequest(request_id=request_id(), wish=next_year), metadata=hood.staff
        )
    )
    assert "wish.window.start" in fields
    flexible = wish(hood.home)
    flexible.window.CopyFrom(tasks_pb2.TimeWindow(end=stamp(last_day), flexible=True))
    fields = await invalid_fields(
        task_stub.PostWish(
            tasks_pb2.PostWishRequest(request_id=request_id(), wish=flexible), metadata=hood.staff
        )
    )
    assert "wish.window.end" in fields
    once = weekly_role(hood.home)
    once.once.CopyFrom(tasks_pb2.OneOffSchedule(window=window(last_day, hours=3)))
    fields = await invalid_fields(
        task_stub.CreateRole(
            tasks_pb2.CreateRoleRequest(request_id=request_id(), role=once), metadata=hood.staff
        )
    )
    assert "role.once.window.start" in fields


async def test_unknown_enum_values_are_refused_by_name(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    for request, field in (
        (tasks_pb2.ListTasksRequest(statuses=[tasks_pb2.TASK_STATUS_OPEN, 99]), "statuses[1]"),  # type: ignore[list-item]
        (tasks_pb2.ListTasksRequest(statuses=[0]), "statuses[0]"),  # type: ignore[list-item]
        (tasks_pb2.ListTasksRequest(beneficiary_group=77), "beneficiary_group"),  # type: ignore[arg-type]
    ):
        fields = await invalid_fields(task_stub.ListTasks(request, metadata=hood.staff))
        assert field in fields
    fields = await invalid_fields(
        task_stub.ListAssignments(
            tasks_pb2.ListAssignmentsRequest(member_id=hood.members[0], states=[42]),  # type: ignore[list-item]
            metadata=hood.admin,
        )
    )
    assert "states[0]" in fields


async def test_a_role_names_a_unit_the_registry_knows(
    task_stub,
    hood: Neighbourhood,
    tasks_rt: ServiceRuntime,  # type: ignore[no-untyped-def]
) -> None:
    fields = await invalid_fields(
        task_stub.CreateRole(
            tasks_pb2.CreateRoleRequest(
                request_id=request_id(), role=weekly_role(hood.home, unit="u-nobody-knows")
            ),
            metadata=hood.staff,
        )
    )
    assert "role.unit_id" in fields

    async def known() -> bool:
        return bool(await tasks_rt.tasks.store.unit_exists(hood.unit))  # type: ignore[attr-defined]

    await until(known)
    made = await task_stub.CreateRole(
        tasks_pb2.CreateRoleRequest(
            request_id=request_id(), role=weekly_role(hood.home, unit=hood.unit)
        ),
        metadata=hood.staff,
    )
    assert made.role.unit_id == hood.unit


async def test_nul_and_control_characters_never_reach_the_database(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    nul = "a\x00b"
    bodies = []
    for field in ("title", "description", "address", "community_id"):
        w = wish(hood.home)
        setattr(w, field, nul)
        bodies.append((w, f"wish.{field}"))
    for w, field in bodies:
        fields = await invalid_fields(
            task_stub.PostWish(
                tasks_pb2.PostWishRequest(request_id=request_id(), wish=w), metadata=hood.admin
            )
        )
        assert field in fields
    role = weekly_role(hood.home, unit=nul)
    fields = await invalid_fields(
        task_stub.CreateRole(
            tasks_pb2.CreateRoleRequest(request_id=request_id(), role=role), metadata=hood.admin
        )
    )
    assert "role.unit_id" in fields
    fields = await invalid_fields(
        task_stub.PostWish(
            tasks_pb2.PostWishRequest(request_id=nul, wish=wish(hood.home)), metadata=hood.admin
        )
    )
    assert "request_id" in fields
    for call in (
        task_stub.ListTasks(tasks_pb2.ListTasksRequest(community_id=nul), metadata=hood.admin),
        task_stub.ListRoles(tasks_pb2.ListRolesRequest(community_id=nul), metadata=hood.admin),
        task_stub.ListTasks(tasks_pb2.ListTasksRequest(skill=nul), metadata=hood.admin),
    ):
        assert await invalid_fields(call)
    task = await post(task_stub, hood.staff, wish(hood.home))
    fields = await invalid_fields(
        task_stub.CancelTask(
            tasks_pb2.CancelTaskRequest(id=task.id, reason=nul), metadata=hood.staff
        )
    )
    assert "reason" in fields


async def test_a_member_may_not_post_or_manage_and_learns_nothing_of_the_fields(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    broken = wish(hood.home, start=datetime(9999, 12, 31, tzinfo=UTC), headcount=0)
    broken.title = ""
    md = hood.as_member(hood.members[0])
    task = await post(task_stub, hood.staff, wish(hood.home))
    for call in (
        task_stub.PostWish(tasks_pb2.PostWishRequest(request_id="", wish=broken), metadata=md),
        task_stub.PostWish(
            tasks_pb2.PostWishRequest(request_id=request_id(), wish=broken), metadata=md
        ),
        task_stub.CreateRole(
            tasks_pb2.CreateRoleRequest(request_id=request_id(), role=tasks_pb2.VolunteerRole()),
            metadata=md,
        ),
        task_stub.CancelTask(tasks_pb2.CancelTaskRequest(id=task.id, reason=""), metadata=md),
        task_stub.EndRole(tasks_pb2.EndRoleRequest(id=task.id, reason="x" * 999), metadata=md),
    ):
        with pytest.raises(aio.AioRpcError) as err:
            await call
        assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED
        assert not bad_request_fields(err.value)


# -- members leaving -------------------------------------------------------------------------------


async def publish_proposal(
    nats_client: NatsClient, task_id: str, member_id: str, run: str = "run-leaving"
) -> None:
    env = eventbus.envelope(
        source="matching",
        subj="linli.matching.proposal.made",
        payload=events_pb2.ProposalMade(
            match_run_id=run, task_id=task_id, member_id=member_id, rank=1
        ),
        actor=None,
    )
    eventbus.seal(env, KEYS)
    await nats_client.jetstream().publish(
        "linli.matching.proposal.made", env.SerializeToString(), headers={"Nats-Msg-Id": env.id}
    )


def withdrawn_of(member_id: str, task_id: str):  # type: ignore[no-untyped-def]
    def match(env: events_pb2.EventEnvelope) -> bool:
        changed = events_pb2.AssignmentChanged()
        return (
            env.payload.Unpack(changed)
            and changed.assignment.member_id == member_id
            and changed.task.id == task_id
            and changed.assignment.state == tasks_pb2.ASSIGNMENT_STATE_WITHDRAWN
        )

    return match


async def places(task_stub, hood: Neighbourhood, task_id: str) -> int:  # type: ignore[no-untyped-def]
    got = await task_stub.GetTask(tasks_pb2.GetTaskRequest(id=task_id), metadata=hood.admin)
    return got.task.places_taken  # type: ignore[no-any-return]


async def test_a_deactivated_member_frees_every_place_they_held_for_re_offer(
    stub,
    task_stub,
    hood: Neighbourhood,
    tasks_rt: ServiceRuntime,
    nats_client: NatsClient,  # type: ignore[no-untyped-def]
) -> None:
    member = hood.members[4]
    claimed = await post(task_stub, hood.staff, wish(hood.home, start=soon(6)))
    proposed = await post(task_stub, hood.staff, wish(hood.home, start=soon(7)))
    await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=claimed.id), metadata=hood.as_member(member)
    )
    await publish_proposal(nats_client, proposed.id, member)

    async def proposal_held() -> bool:
        return await places(task_stub, hood, proposed.id) == 1

    await until(proposal_held)

    await stub.DeactivateMember(
        registry_pb2.DeactivateMemberRequest(member_id=member), metadata=hood.admin
    )

    async def freed() -> bool:
        return (
            await places(task_stub, hood, claimed.id) == 0
            and await places(task_stub, hood, proposed.id) == 0
        )

    await until(freed)
    held = await task_stub.ListAssignments(
        tasks_pb2.ListAssignmentsRequest(member_id=member), metadata=hood.admin
    )
    assert {a.state for a in held.assignments} == {tasks_pb2.ASSIGNMENT_STATE_WITHDRAWN}
    js = nats_client.jetstream()
    for task in (claimed, proposed):
        found = await wait_for_events(
            js, "linli.tasks.assignment.withdrawn", withdrawn_of(member, task.id), 1, timeout=60
        )
        assert len(found) == 1
    after = await task_stub.GetTask(tasks_pb2.GetTaskRequest(id=claimed.id), metadata=hood.admin)
    assert after.task.status == tasks_pb2.TASK_STATUS_OPEN

    # Should the member come back (the registry announcing them active again), nothing is
    # re-held: their places stay free for whoever takes them.
    snapshot = (
        await stub.GetMember(registry_pb2.GetMemberRequest(id=member), metadata=hood.admin)
    ).member
    snapshot.status = registry_pb2.MEMBER_STATUS_ACTIVE
    snapshot.update_time.FromDatetime(datetime.now(UTC) + timedelta(seconds=1))
    env = eventbus.envelope(
        source="registry",
        subj="linli.registry.member.updated",
        payload=events_pb2.MemberUpdated(member=snapshot),
        actor=None,
    )
    eventbus.seal(env, KEYS)
    await js.publish(
        "linli.registry.member.updated", env.SerializeToString(), headers={"Nats-Msg-Id": env.id}
    )

    async def back() -> bool:
        view = await tasks_rt.tasks.store.member_view(None, member)  # type: ignore[attr-defined]
        return view is not None and view.active

    await until(back)
    assert await places(task_stub, hood, claimed.id) == 0
    assert await places(task_stub, hood, proposed.id) == 0
    held = await task_stub.ListAssignments(
        tasks_pb2.ListAssignmentsRequest(member_id=member), metadata=hood.admin
    )
    assert {a.state for a in held.assignments} == {tasks_pb2.ASSIGNMENT_STATE_WITHDRAWN}


async def test_a_member_who_moves_community_keeps_only_the_places_they_can_still_take(
    stub,
    task_stub,
    hood: Neighbourhood,
    tasks_rt: ServiceRuntime,
    nats_client: NatsClient,  # type: ignore[no-untyped-def]
) -> None:
    member = hood.members[5]
    local = await post(task_stub, hood.staff, wish(hood.home, start=soon(8)))
    street_role = weekly_role(hood.home, title="创卫：街道环境整治")
    street_role.street_wide = True
    street_role.ClearField("weekly")
    street_role.once.CopyFrom(tasks_pb2.OneOffSchedule(window=window(soon(9), hours=3)))
    created = await task_stub.CreateRole(
        tasks_pb2.CreateRoleRequest(request_id=request_id(), role=street_role),
        metadata=hood.street_admin,
    )
    listed = await task_stub.ListTasks(
        tasks_pb2.ListTasksRequest(community_id=hood.home), metadata=hood.staff
    )
    street_task = next(t for t in listed.tasks if t.source_id == created.role.id)
    md = hood.as_member(member)
    for t in (local, street_task):
        await task_stub.ClaimTask(tasks_pb2.ClaimTaskRequest(task_id=t.id), metadata=md)

    await stub.ReportIn(
        registry_pb2.ReportInRequest(
            member_id=member, community_id=hood.other, grid_id=hood.other_grid
        ),
        metadata=hood.admin,
    )

    async def moved() -> bool:
        view = await tasks_rt.tasks.store.member_view(None, member)  # type: ignore[attr-defined]
        return view is not None and view.community_id == hood.other

    await until(moved)

    async def released() -> bool:
        return await places(task_stub, hood, local.id) == 0

    await until(released)
    assert await places(task_stub, hood, street_task.id) == 1
    held = await task_stub.ListAssignments(
        tasks_pb2.ListAssignmentsRequest(member_id=member), metadata=hood.admin
    )
    states = {a.task_id: a.state for a in held.assignments}
    assert states == {
        local.id: tasks_pb2.ASSIGNMENT_STATE_WITHDRAWN,
        street_task.id: tasks_pb2.ASSIGNMENT_STATE_ACCEPTED,
    }
    found = await wait_for_events(
        nats_client.jetstream(),
        "linli.tasks.assignment.withdrawn",
        withdrawn_of(member, local.id),
        1,
        timeout=60,
    )
    assert len(found) == 1


async def test_a_withdrawal_announces_the_member_and_the_task_for_re_offer(
    task_stub,
    hood: Neighbourhood,
    nats_client: NatsClient,  # type: ignore[no-untyped-def]
) -> None:
    member = hood.members[3]
    task = await post(task_stub, hood.staff, wish(hood.home, start=soon(10)))
    md = hood.as_member(member)
    claimed = await task_stub.ClaimTask(tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=md)
    await task_stub.WithdrawAssignment(
        tasks_pb2.WithdrawAssignmentRequest(assignment_id=claimed.assignment.id, reason="出差"),
        metadata=md,
    )
    found = await wait_for_events(
        nats_client.jetstream(),
        "linli.tasks.assignment.withdrawn",
        withdrawn_of(member, task.id),
        1,
        timeout=60,
    )
    assert len(found) == 1
    changed = events_pb2.AssignmentChanged()
    found[0].payload.Unpack(changed)
    assert changed.assignment.id == claimed.assignment.id
    assert changed.task.places_taken == 0 and changed.task.status == tasks_pb2.TASK_STATUS_OPEN


async def test_ids_that_are_not_ids_are_refused_by_name_without_echoing_them(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    huge = "x" * 10_000 + "\x00"
    for md in (hood.admin, hood.staff, hood.as_member(hood.members[0])):
        for call, field in (
            (task_stub.GetTask(tasks_pb2.GetTaskRequest(id=huge), metadata=md), "id"),
            (task_stub.GetRole(tasks_pb2.GetRoleRequest(id=huge), metadata=md), "id"),
            (
                task_stub.ClaimTask(tasks_pb2.ClaimTaskRequest(task_id=huge), metadata=md),
                "task_id",
            ),
            (
                task_stub.AcceptProposal(
                    tasks_pb2.AcceptProposalRequest(assignment_id=huge), metadata=md
                ),
                "assignment_id",
            ),
            (
                task_stub.ListAssignments(
                    tasks_pb2.ListAssignmentsRequest(task_id=huge), metadata=md
                ),
                "task_id",
            ),
        ):
            with pytest.raises(aio.AioRpcError) as err:
                await call
            assert code(err.value) == INVALID
            assert field in bad_request_fields(err.value)
            assert len(err.value.details() or "") < 500
            trailer = sum(len(v) for _, v in err.value.trailing_metadata() or ())
            assert trailer < 2000


async def test_a_proposal_with_a_malformed_run_id_is_rejected_and_the_next_one_applies(
    task_stub,
    hood: Neighbourhood,
    nats_client: NatsClient,  # type: ignore[no-untyped-def]
) -> None:
    task = await post(task_stub, hood.staff, wish(hood.home, start=soon(12), headcount=2))
    await publish_proposal(nats_client, task.id, hood.members[0], run="run\x00bad")
    await publish_proposal(nats_client, task.id, hood.members[1], run="run-good")

    async def proposed() -> bool:
        return await places(task_stub, hood, task.id) == 1

    await until(proposed)

    def rejected(env: events_pb2.EventEnvelope) -> bool:
        r = events_pb2.ProposalRejected()
        return env.payload.Unpack(r) and r.task_id == task.id and r.member_id == hood.members[0]

    found = await wait_for_events(
        nats_client.jetstream(), "linli.tasks.proposal.rejected", rejected, 1, timeout=60
    )
    assert len(found) == 1
