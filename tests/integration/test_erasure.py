"""A member's export and erasure across the running services: the export file holds every
service's part; once erased, nothing of the person is in any answer, any kept event or any
read model, while the hours served in their community still add up."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf import message
from grpc import aio
from nats.js.errors import NotFoundError

from linli.v1 import common_pb2, events_pb2, matching_pb2, registry_pb2, tasks_pb2
from services.common.auth import Role
from services.common.eventbus import unseal
from services.common.eventkeys import KeyRing
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from services.common.subjects import MEMBER_EVENTS
from services.registry.domain.erasure import ERASED_NAME
from services.registry.events import about
from tests.integration.cli_support import linli, where
from tests.integration.conftest import MovableClock, code
from tests.integration.errors import bad_request_fields
from tests.integration.tasks_support import (
    Neighbourhood,
    matched_neighbourhood,
    post,
    soon,
    until,
    wish,
)
from tests.support import token

pytestmark = pytest.mark.integration


@pytest.fixture
async def hood(
    stub,  # type: ignore[no-untyped-def]
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
    settings: RegistrySettings,
) -> Neighbourhood:
    return await matched_neighbourhood(
        stub, tasks_rt, matching_rt, settings, members=3, outsiders=1
    )


async def served(task_stub, hood: Neighbourhood, clock: MovableClock) -> tasks_pb2.Task:  # type: ignore[no-untyped-def]
    """A task two members served, 2 and 1.5 hours, completed by the community's staff."""
    start = soon(1)
    task = await post(task_stub, hood.staff, wish(hood.home, start=start, headcount=2))
    for m in hood.members[:2]:
        await task_stub.ClaimTask(
            tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(m)
        )
    clock.offset = start - datetime.now(UTC) + timedelta(hours=3)
    try:
        await task_stub.CompleteTask(
            tasks_pb2.CompleteTaskRequest(
                id=task.id,
                feedback=tasks_pb2.Feedback(score=5, comment="谢谢两位"),
                outcomes=[
                    tasks_pb2.AssignmentOutcome(member_id=hood.members[0], hours=2.0),
                    tasks_pb2.AssignmentOutcome(member_id=hood.members[1], hours=1.5),
                ],
            ),
            metadata=hood.staff,
        )
    finally:
        clock.offset = timedelta()
    return task  # type: ignore[no-any-return]


async def hours_of(task_stub, hood: Neighbourhood, task_id: str) -> float:  # type: ignore[no-untyped-def]
    reply = await task_stub.ListAssignments(
        tasks_pb2.ListAssignmentsRequest(task_id=task_id), metadata=hood.admin
    )
    return sum(a.hours for a in reply.assignments)


async def test_an_export_file_holds_every_services_part(
    stub,  # type: ignore[no-untyped-def]
    task_stub,
    registry: ServiceRuntime,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
    points_rt: ServiceRuntime,
    hood: Neighbourhood,
    clock: MovableClock,
    settings: RegistrySettings,
    tmp_path: Path,
) -> None:
    task = await served(task_stub, hood, clock)
    me = hood.members[0]
    record = (
        await stub.GetMember(registry_pb2.GetMemberRequest(id=me), metadata=hood.admin)
    ).member
    out = tmp_path / "export.json"
    rc, _, stderr = await linli(
        "member",
        "export",
        me,
        "--out",
        str(out),
        env=where(registry, tasks_rt, matching_rt, points=points_rt)
        | {"LINLI_TOKEN": token(settings, Role.MEMBER, me)},
    )
    assert rc == 0, stderr
    assert out.stat().st_mode & 0o077 == 0  # the owner's only
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["member_id"] == me
    parts = document["parts"]
    assert set(parts) == {"registry", "tasks", "matching", "points"}
    assert parts["registry"]["data"]["member"]["phone"] == record.phone
    assert parts["registry"]["data"]["member"]["home"]["latitude"] == record.home.latitude
    mine = parts["tasks"]["data"]["assignments"]
    assert [(a["task_id"], a["hours"]) for a in mine] == [(task.id, 2.0)]
    assert mine[0]["task"]["address"] == ""  # the resident's address is not the member's
    assert parts["tasks"]["data"]["feedback"][task.id]["comment"] == "谢谢两位"
    assert parts["tasks"]["data"]["record"]["hours_total"] == 2.0
    assert parts["matching"]["data"]["member"]["community_id"] == hood.home


async def test_staff_may_not_export_a_member_and_members_only_themselves(
    stub,  # type: ignore[no-untyped-def]
    task_stub,
    match_stub,
    hood: Neighbourhood,
) -> None:
    me, other = hood.members[0], hood.members[1]
    for call, kind in (
        (stub.ExportMemberData, registry_pb2.RegistryServiceExportMemberDataRequest),
        (task_stub.ExportMemberData, tasks_pb2.TaskServiceExportMemberDataRequest),
        (match_stub.ExportMemberData, matching_pb2.MatchingServiceExportMemberDataRequest),
    ):
        with pytest.raises(aio.AioRpcError) as err:
            await call(kind(member_id=me), metadata=hood.staff)
        assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(aio.AioRpcError) as err:
            await call(kind(member_id=me), metadata=hood.as_member(other))
        assert code(err.value) == grpc.StatusCode.NOT_FOUND
        with pytest.raises(aio.AioRpcError) as err:
            await call(kind(member_id="x"), metadata=hood.admin)
        assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT
        assert set(bad_request_fields(err.value)) == {"member_id"}


async def test_an_erased_member_is_in_no_answer_and_their_hours_still_count(
    stub,  # type: ignore[no-untyped-def]
    task_stub,
    match_stub,
    registry: ServiceRuntime,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,
    clock: MovableClock,
) -> None:
    task = await served(task_stub, hood, clock)
    me = hood.members[0]
    record = (
        await stub.GetMember(registry_pb2.GetMemberRequest(id=me), metadata=hood.admin)
    ).member
    before = await hours_of(task_stub, hood, task.id)
    assert before == 3.5

    # Staff may not erase; the member may.
    with pytest.raises(aio.AioRpcError) as err:
        await stub.EraseMember(registry_pb2.EraseMemberRequest(member_id=me), metadata=hood.staff)
    assert code(err.value) == grpc.StatusCode.PERMISSION_DENIED
    erased = await stub.EraseMember(
        registry_pb2.EraseMemberRequest(member_id=me, reason="本人申请注销"),
        metadata=hood.as_member(me),
    )
    assert erased.member_id == me and erased.HasField("erase_time")

    world = matching_rt.matching.world  # type: ignore[attr-defined]
    store = tasks_rt.queries.store  # type: ignore[attr-defined]

    async def forgotten() -> bool:
        row = world.members.get(me)
        copy = await store.member_copy(me)
        return (
            row is not None
            and not row.active
            and row.lat is None
            and copy is not None
            and not copy["active"]
            and copy["home_lat"] is None
        )

    await until(forgotten)

    # The figures: the task's hours, the member's id on their assignment, all still there.
    assert await hours_of(task_stub, hood, task.id) == before

    # No answer of any service holds the person.
    # (The test members share a name and a home; the phone is each one's own.)
    secrets = [record.phone]
    answers: list[message.Message] = []
    for md in (hood.admin, hood.staff, hood.street_admin):
        listed = await stub.ListMembers(
            registry_pb2.ListMembersRequest(community_id=hood.home), metadata=md
        )
        assert me not in {m.id for m in listed.members}
        answers.append(listed)
        answers.append(
            await task_stub.ListTasks(
                tasks_pb2.ListTasksRequest(community_id=hood.home), metadata=md
            )
        )
        answers.append(await task_stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=md))
        answers.append(
            await task_stub.ListAssignments(
                tasks_pb2.ListAssignmentsRequest(task_id=task.id), metadata=md
            )
        )
        answers.append(
            await match_stub.ListMatchRuns(
                matching_pb2.ListMatchRunsRequest(community_id=hood.home), metadata=md
            )
        )
    answers.append(
        await task_stub.SearchNearbyTasks(
            tasks_pb2.SearchNearbyTasksRequest(
                near=common_pb2.LatLng(
                    latitude=record.home.latitude, longitude=record.home.longitude
                ),
                radius_m=3000,
            ),
            metadata=hood.as_member(hood.members[1]),
        )
    )
    # Their record is kept under the id alone: the hours, and nothing of the person.
    kept = await task_stub.GetMemberRecord(
        tasks_pb2.GetMemberRecordRequest(member_id=me), metadata=hood.admin
    )
    assert kept.record.hours_total == 2.0
    answers.append(kept)
    try:
        offered = await match_stub.SuggestTasks(
            matching_pb2.SuggestTasksRequest(member_id=me), metadata=hood.admin
        )
        assert list(offered.tasks) == []  # nothing is ever offered to them again
        answers.append(offered)
    except aio.AioRpcError as e:  # an inactive member may be refused suggestions outright
        assert record.phone not in (e.details() or "")
    fresh = await post(task_stub, hood.staff, wish(hood.home, start=soon(2)))

    async def seen() -> bool:
        return fresh.id in world.tasks

    await until(seen)
    suggested = await match_stub.SuggestMembers(
        matching_pb2.SuggestMembersRequest(task_id=fresh.id, limit=50), metadata=hood.staff
    )
    assert me not in {s.member_id for s in suggested.members}
    answers.append(suggested)
    for answer in answers:
        text = answer.SerializeToString()
        for secret in secrets:
            assert secret.encode() not in text, (type(answer).__name__, secret)

    for md in (hood.admin, hood.as_member(me)):
        for call, request in (
            (stub.GetMember, registry_pb2.GetMemberRequest(id=me)),
            (
                stub.ExportMemberData,
                registry_pb2.RegistryServiceExportMemberDataRequest(member_id=me),
            ),
            (stub.EraseMember, registry_pb2.EraseMemberRequest(member_id=me)),
            (
                stub.ReportIn,
                registry_pb2.ReportInRequest(
                    member_id=me, community_id=hood.home, grid_id=hood.home_grid
                ),
            ),
        ):
            with pytest.raises(aio.AioRpcError) as err:
                await call(request, metadata=md)
            assert code(err.value) == grpc.StatusCode.NOT_FOUND, call

    # The audit log keeps what was done and read, naming a pseudonym instead of them.
    for rt in (registry, tasks_rt, matching_rt):
        named = "SELECT count(*) FROM audit_entry WHERE member_id = $1 OR actor = $1"
        assert await rt.pool.fetchval(named, me) == 0, rt.schema
    pseudonymous = "SELECT count(*) FROM audit_entry WHERE member_id LIKE 'erased-%'"
    assert await registry.pool.fetchval(pseudonymous) >= 1

    # Neither the registry's kept events nor any read model holds them.
    for rt in (registry, tasks_rt, matching_rt):
        rows = await rt.pool.fetch("SELECT envelope FROM outbox")
        assert all(record.phone.encode() not in r["envelope"] for r in rows)
    snapshots = 0
    for r in await registry.pool.fetch("SELECT envelope FROM outbox"):
        env = events_pb2.EventEnvelope.FromString(r["envelope"])
        for kind in (events_pb2.MemberRegistered, events_pb2.MemberReportedIn):
            if env.payload.Is(kind.DESCRIPTOR):
                e = kind()
                env.payload.Unpack(e)
                if e.member.id == me:
                    assert e.member.name == ERASED_NAME and not e.member.HasField("home")
                    snapshots += 1
    assert snapshots >= 1
    exported = await task_stub.ExportMemberData(
        tasks_pb2.TaskServiceExportMemberDataRequest(member_id=me), metadata=hood.admin
    )
    data = json.loads(exported.part.data_json)
    assert data["member"]["skills"] == [] and data["member"]["home_lat"] is None
    assert [a["hours"] for a in data["assignments"]] == [2.0]


async def test_the_streams_old_snapshots_of_an_erased_member_are_deleted(
    stub,  # type: ignore[no-untyped-def]
    registry: ServiceRuntime,
    hood: Neighbourhood,
    settings: RegistrySettings,
) -> None:
    me = hood.members[0]
    js = registry.js
    keys = KeyRing.from_settings(settings)

    async def snapshots(member_id: str) -> int:
        found, seq = 0, 1
        while True:
            try:
                msg = await js.get_msg(
                    settings.stream_name, seq=seq, subject=MEMBER_EVENTS, next=True
                )
            except NotFoundError:
                return found
            seq = (msg.seq or seq) + 1
            env = unseal(events_pb2.EventEnvelope.FromString(msg.data or b""), keys)
            found += about(env, member_id)

    assert await snapshots(me) >= 1
    await stub.EraseMember(registry_pb2.EraseMemberRequest(member_id=me), metadata=hood.admin)

    async def gone() -> bool:
        return await snapshots(me) == 0

    await until(gone)
    # Others' snapshots stay.
    assert await snapshots(hood.members[1]) >= 1
