"""Every TaskService RPC, every field of its request set to an edge value one at a time, for a
staff member, an administrator and a member: no call answers INTERNAL or UNKNOWN. Edge values
are fixed (not drawn at random), so the test fails for a cause, never by chance."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor, field_mask_pb2, message, message_factory
from grpc import aio

from linli.v1 import tasks_pb2
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from tests.integration.tasks_support import Neighbourhood, make_neighbourhood, post, wish

pytestmark = pytest.mark.integration

FD = descriptor.FieldDescriptor
STRINGS = ["", "\x00", "a\x00b", "x" * 5000, "00000000-0000-0000-0000-000000000000", "🙂\u202e"]
INTS = [-1, 0, 2**31 - 1, -(2**31)]
INTS64 = [-(2**63), 2**63 - 1, 253_402_300_800, -62_135_596_801]
FLOATS = [math.nan, math.inf, -math.inf, 1e308, -1.0, 0.0]
ENUMS = [0, 99, -5]


def edge_values(field: descriptor.FieldDescriptor) -> list[Any]:
    if field.type == FD.TYPE_STRING:
        return STRINGS
    if field.type in (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32):
        return INTS
    if field.type in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64):
        return INTS64
    if field.type in (FD.TYPE_UINT32, FD.TYPE_FIXED32):
        return [0, 2**32 - 1]
    if field.type in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
        return [0, 2**64 - 1]
    if field.type in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return FLOATS
    if field.type == FD.TYPE_BOOL:
        return [True]
    if field.type == FD.TYPE_ENUM:
        return ENUMS
    return []


def variants(base: message.Message, depth: int = 0) -> Iterator[message.Message]:
    """Copies of `base`, each with one (possibly nested) field set to an edge value."""
    for field in base.DESCRIPTOR.fields:
        if field.type == FD.TYPE_MESSAGE:
            if depth >= 3:
                continue
            if field.is_repeated:
                # One more element: empty, then with each edge value in turn.
                element = message_factory.GetMessageClass(field.message_type)()
                for changed in [element, *variants(element, depth + 1)]:
                    out = type(base)()
                    out.CopyFrom(base)
                    getattr(out, field.name).append(changed)
                    yield out
                continue
            inner = getattr(base, field.name)
            for changed in variants(inner, depth + 1):
                out = type(base)()
                out.CopyFrom(base)
                getattr(out, field.name).CopyFrom(changed)
                yield out
            continue
        for value in edge_values(field):
            out = type(base)()
            out.CopyFrom(base)
            if field.is_repeated:
                getattr(out, field.name).append(value)
            else:
                setattr(out, field.name, value)
            yield out


@pytest.fixture(scope="module")
async def hood(stub, tasks_rt: ServiceRuntime, settings: RegistrySettings) -> Neighbourhood:  # type: ignore[no-untyped-def]
    return await make_neighbourhood(stub, tasks_rt, settings, members=2, outsiders=1)


async def test_no_bad_request_to_any_rpc_answers_internal_or_unknown(
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    task = await post(task_stub, hood.staff, wish(hood.home, headcount=3))
    changing = await post(task_stub, hood.staff, wish(hood.home, headcount=3))
    bases: dict[str, message.Message] = {
        "PostWish": tasks_pb2.PostWishRequest(request_id="r-edge", wish=wish(hood.home)),
        "CreateRole": tasks_pb2.CreateRoleRequest(
            request_id="r-edge-role",
            role=tasks_pb2.VolunteerRole(
                community_id=hood.home,
                title="阅览室值守",
                beneficiary_group=1,  # type: ignore[arg-type]
                location=wish(hood.home).location,
                headcount=2,
                effort_hours=1,
                once=tasks_pb2.OneOffSchedule(window=wish(hood.home).window),
            ),
        ),
        "GetRole": tasks_pb2.GetRoleRequest(id=task.id),
        "ListRoles": tasks_pb2.ListRolesRequest(community_id=hood.home),
        "EndRole": tasks_pb2.EndRoleRequest(id=task.id),
        "GetTask": tasks_pb2.GetTaskRequest(id=task.id),
        "ListTasks": tasks_pb2.ListTasksRequest(community_id=hood.home),
        "SearchNearbyTasks": tasks_pb2.SearchNearbyTasksRequest(near=wish(hood.home).location),
        "CancelTask": tasks_pb2.CancelTaskRequest(id=task.id, reason="测试"),
        "CompleteTask": tasks_pb2.CompleteTaskRequest(
            id=task.id, feedback=tasks_pb2.Feedback(score=5)
        ),
        "ClaimTask": tasks_pb2.ClaimTaskRequest(task_id=task.id),
        "WithdrawAssignment": tasks_pb2.WithdrawAssignmentRequest(assignment_id=task.id),
        "AcceptProposal": tasks_pb2.AcceptProposalRequest(assignment_id=task.id),
        "DeclineProposal": tasks_pb2.DeclineProposalRequest(assignment_id=task.id),
        "ListAssignments": tasks_pb2.ListAssignmentsRequest(task_id=task.id),
        "GetMemberRecord": tasks_pb2.GetMemberRecordRequest(member_id=hood.members[0]),
        "ExportMemberData": tasks_pb2.TaskServiceExportMemberDataRequest(member_id=hood.members[0]),
        "UpdateTask": tasks_pb2.UpdateTaskRequest(
            task=tasks_pb2.Task(
                id=changing.id,
                title="改期",
                window=wish(hood.home).window,
                location=wish(hood.home).location,
                headcount=2,
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["title", "window", "location"]),
            reason="测试",
        ),
        "JoinStandby": tasks_pb2.JoinStandbyRequest(task_id=task.id),
        "LeaveStandby": tasks_pb2.LeaveStandbyRequest(task_id=task.id),
        "ListStandby": tasks_pb2.ListStandbyRequest(task_id=task.id),
        "ConfirmAssignment": tasks_pb2.ConfirmAssignmentRequest(assignment_id=task.id),
        "ReleaseAssignment": tasks_pb2.ReleaseAssignmentRequest(assignment_id=task.id),
        "GetMemberCalendar": tasks_pb2.GetMemberCalendarRequest(member_id=hood.members[0]),
    }
    service = tasks_pb2.DESCRIPTOR.services_by_name["TaskService"]
    assert set(bases) == {m.name for m in service.methods}
    broken: list[str] = []
    calls = 0
    for name, base in bases.items():
        method = getattr(task_stub, name)
        for request in variants(base):
            for md in (hood.staff, hood.admin, hood.as_member(hood.members[0])):
                calls += 1
                try:
                    await method(request, metadata=md)
                except aio.AioRpcError as e:
                    if e.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                        broken.append(f"{name} {str(request)[:160]!r}: {e.code().name}")
    assert calls > 1000
    assert not broken, "\n".join(broken[:20])
