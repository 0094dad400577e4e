"""The task service's gRPC servicer: proto in, use case, proto out. Errors are mapped by the
server interceptor (services/common/interceptors.py)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from grpc import aio

from linli.v1 import tasks_pb2 as pb
from linli.v1 import tasks_pb2_grpc
from services.common import audit_api, paging
from services.common.auth import current_principal
from services.common.errors import invalid
from services.common.interceptors import methods
from services.common.protoconv import export_part, latlng_from_proto
from services.common.subjects import TASKS
from services.tasks import convert
from services.tasks.domain import Outcome
from services.tasks.queries import TaskQueries
from services.tasks.service import Tasks

# What a member may never call: refused at the door, before the request is looked at.
STAFF_ONLY = audit_api.STAFF_ONLY | methods(
    pb.DESCRIPTOR.services_by_name["TaskService"],
    "PostWish",
    "CreateRole",
    "EndRole",
    "CancelTask",
    "CompleteTask",
    "UpdateTask",
)

T = TypeVar("T")


def _community(value: str, field: str = "community_id") -> str:
    """A community id used as a filter: never sent to the database unless it could be one."""
    if value and (len(value) > 64 or not value.isprintable()):
        raise invalid(field, "is not a community id")
    return value


def _enums(values: Sequence[int], known: Mapping[Any, T], field: str) -> list[T]:
    """Enum values from a repeated field; an unknown (or unspecified) one is refused by name,
    never silently dropped (a filter that drops it would answer more than was asked)."""
    out = []
    for i, value in enumerate(values):
        if value not in known:
            raise invalid(f"{field}[{i}]", f"unknown value {value}")
        out.append(known[value])
    return out


def _required(value: str, field: str) -> str:
    """A required id of a task, role or assignment: a UUID, else INVALID_ARGUMENT naming the
    field (the value is not echoed: it may be huge, and it is never sent to the database)."""
    if not value:
        raise invalid(field, "is required")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise invalid(field, "is not an id this service issued") from None


def _member_id(value: str) -> str:
    """An optional member id in the one spelling tokens and records use (lower case, hyphens), so
    that a member naming themselves in capitals is still themselves; what is not a UUID is left
    for the rules to refuse by name."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value


class TasksApi(tasks_pb2_grpc.TaskServiceServicer):
    def __init__(self, tasks: Tasks, queries: TaskQueries) -> None:
        self.t = tasks
        self.q = queries

    async def PostWish(
        self, request: pb.PostWishRequest, context: aio.ServicerContext
    ) -> pb.PostWishResponse:
        wish, task = await self.t.post_wish(
            current_principal(), request.request_id, convert.wish_draft_from_proto(request.wish)
        )
        return pb.PostWishResponse(
            wish=convert.wish_answer(wish, private=True),
            task=convert.task_answer(task, private=True),
        )

    async def CreateRole(
        self, request: pb.CreateRoleRequest, context: aio.ServicerContext
    ) -> pb.CreateRoleResponse:
        role, generated = await self.t.create_role(
            current_principal(), request.request_id, convert.role_draft_from_proto(request.role)
        )
        return pb.CreateRoleResponse(role=convert.role_to_proto(role), tasks_generated=generated)

    async def GetRole(
        self, request: pb.GetRoleRequest, context: aio.ServicerContext
    ) -> pb.GetRoleResponse:
        role = await self.q.get_role(current_principal(), _required(request.id, "id"))
        return pb.GetRoleResponse(role=convert.role_to_proto(role))

    async def ListRoles(
        self, request: pb.ListRolesRequest, context: aio.ServicerContext
    ) -> pb.ListRolesResponse:
        filters = {"community_id": _community(request.community_id)}
        cursor = paging.cursor(request.page_size, request.page_token, filters, paging.uuid_key)
        roles, token = cursor.page(
            await self.q.list_roles(
                current_principal(), request.community_id, cursor.after, cursor.fetch
            ),
            lambda r: r.id,
        )
        return pb.ListRolesResponse(
            roles=[convert.role_to_proto(r) for r in roles], next_page_token=token
        )

    async def EndRole(
        self, request: pb.EndRoleRequest, context: aio.ServicerContext
    ) -> pb.EndRoleResponse:
        role, cancelled = await self.t.end_role(
            current_principal(), _required(request.id, "id"), request.reason
        )
        return pb.EndRoleResponse(role=convert.role_to_proto(role), tasks_cancelled=cancelled)

    async def GetTask(
        self, request: pb.GetTaskRequest, context: aio.ServicerContext
    ) -> pb.GetTaskResponse:
        task, private = await self.q.get_task(current_principal(), _required(request.id, "id"))
        return pb.GetTaskResponse(task=convert.task_answer(task, private=private))

    async def ListTasks(
        self, request: pb.ListTasksRequest, context: aio.ServicerContext
    ) -> pb.ListTasksResponse:
        statuses = _enums(request.statuses, convert.STATUS_FROM_PROTO, "statuses")
        beneficiary = None
        if request.beneficiary_group:
            beneficiary = _enums(
                [request.beneficiary_group], convert.BENEFICIARY_FROM_PROTO, "beneficiary_group"
            )[0]
        start_after = (
            convert.filter_time_from_proto(request.start_after, "start_after")
            if request.HasField("start_after")
            else None
        )
        start_before = (
            convert.filter_time_from_proto(request.start_before, "start_before")
            if request.HasField("start_before")
            else None
        )
        filters = {
            "community_id": _community(request.community_id),
            "statuses": list(request.statuses),
            "beneficiary": request.beneficiary_group,
            "skill": request.skill,
            "start_after": request.start_after.ToJsonString()
            if request.HasField("start_after")
            else "",
            "start_before": request.start_before.ToJsonString()
            if request.HasField("start_before")
            else "",
        }
        cursor = paging.cursor(request.page_size, request.page_token, filters, paging.time_uuid_key)
        rows = await self.q.list_tasks(
            current_principal(),
            community_id=request.community_id,
            statuses=statuses,
            beneficiary=beneficiary,
            skill=request.skill,
            start_after=start_after,
            start_before=start_before,
            after=cursor.after,
            limit=cursor.fetch,
        )
        shown, token = cursor.page(rows, lambda r: paging.time_token(r[0].window.start, r[0].id))
        return pb.ListTasksResponse(
            tasks=[convert.task_answer(t, private=p) for t, p in shown], next_page_token=token
        )

    async def SearchNearbyTasks(
        self, request: pb.SearchNearbyTasksRequest, context: aio.ServicerContext
    ) -> pb.SearchNearbyTasksResponse:
        rows = await self.q.nearby(
            current_principal(),
            latlng_from_proto(request.near, request.HasField("near")),
            request.radius_m,
            request.limit,
        )
        return pb.SearchNearbyTasksResponse(
            tasks=[convert.task_answer(t, private=p) for t, p in rows]
        )

    async def CancelTask(
        self, request: pb.CancelTaskRequest, context: aio.ServicerContext
    ) -> pb.CancelTaskResponse:
        task = await self.t.cancel_task(
            current_principal(), _required(request.id, "id"), request.reason
        )
        return pb.CancelTaskResponse(task=convert.task_answer(task, private=True))

    async def CompleteTask(
        self, request: pb.CompleteTaskRequest, context: aio.ServicerContext
    ) -> pb.CompleteTaskResponse:
        task, assignments = await self.t.complete_task(
            current_principal(),
            _required(request.id, "id"),
            tuple(Outcome(_member_id(o.member_id), o.hours, o.no_show) for o in request.outcomes),
            request.feedback.score,
            request.feedback.comment,
        )
        return pb.CompleteTaskResponse(
            task=convert.task_answer(task, private=True),
            assignments=[convert.assignment_to_proto(a) for a in assignments],
        )

    async def ClaimTask(
        self, request: pb.ClaimTaskRequest, context: aio.ServicerContext
    ) -> pb.ClaimTaskResponse:
        assignment, task = await self.t.claim(
            current_principal(),
            _required(request.task_id, "task_id"),
            _member_id(request.member_id),
        )
        return pb.ClaimTaskResponse(
            assignment=convert.assignment_to_proto(assignment),
            task=convert.task_answer(task, private=True),
        )

    async def WithdrawAssignment(
        self, request: pb.WithdrawAssignmentRequest, context: aio.ServicerContext
    ) -> pb.WithdrawAssignmentResponse:
        a = await self.t.withdraw(
            current_principal(), _required(request.assignment_id, "assignment_id"), request.reason
        )
        return pb.WithdrawAssignmentResponse(assignment=convert.assignment_to_proto(a))

    async def AcceptProposal(
        self, request: pb.AcceptProposalRequest, context: aio.ServicerContext
    ) -> pb.AcceptProposalResponse:
        a = await self.t.accept(
            current_principal(), _required(request.assignment_id, "assignment_id")
        )
        return pb.AcceptProposalResponse(assignment=convert.assignment_to_proto(a))

    async def DeclineProposal(
        self, request: pb.DeclineProposalRequest, context: aio.ServicerContext
    ) -> pb.DeclineProposalResponse:
        a = await self.t.decline(
            current_principal(), _required(request.assignment_id, "assignment_id"), request.reason
        )
        return pb.DeclineProposalResponse(assignment=convert.assignment_to_proto(a))

    async def ListAssignments(
        self, request: pb.ListAssignmentsRequest, context: aio.ServicerContext
    ) -> pb.ListAssignmentsResponse:
        states = _enums(request.states, convert.STATE_FROM_PROTO, "states")
        filters = {
            "task_id": request.task_id,
            "member_id": request.member_id,
            "states": list(request.states),
        }
        task_id = _required(request.task_id, "task_id") if request.task_id else ""
        member_id = _member_id(request.member_id)
        cursor = paging.cursor(request.page_size, request.page_token, filters, paging.time_uuid_key)
        items = await self.q.list_assignments(
            current_principal(),
            task_id=task_id,
            member_id=member_id,
            states=states,
            after=cursor.after,
            limit=cursor.fetch,
        )
        shown, token = cursor.page(items, lambda a: paging.time_token(a.created_at, a.id))
        return pb.ListAssignmentsResponse(
            assignments=[convert.assignment_to_proto(a) for a in shown], next_page_token=token
        )

    async def GetMemberRecord(
        self, request: pb.GetMemberRecordRequest, context: aio.ServicerContext
    ) -> pb.GetMemberRecordResponse:
        record = await self.q.member_record(
            current_principal(), _required(request.member_id, "member_id")
        )
        return pb.GetMemberRecordResponse(record=convert.record_to_proto(record))

    async def ExportMemberData(
        self, request: pb.TaskServiceExportMemberDataRequest, context: aio.ServicerContext
    ) -> pb.TaskServiceExportMemberDataResponse:
        member_id = _required(request.member_id, "member_id")
        export = await self.q.export_member(current_principal(), member_id)
        part = export_part(TASKS, member_id, convert.member_export(export))
        return pb.TaskServiceExportMemberDataResponse(part=part)

    async def UpdateTask(
        self, request: pb.UpdateTaskRequest, context: aio.ServicerContext
    ) -> pb.UpdateTaskResponse:
        task = await self.t.update_task(
            current_principal(),
            _required(request.task.id, "task.id"),
            convert.task_patch_from_proto(request.task),
            list(request.update_mask.paths),
            request.reason,
        )
        return pb.UpdateTaskResponse(task=convert.task_answer(task, private=True))

    async def JoinStandby(
        self, request: pb.JoinStandbyRequest, context: aio.ServicerContext
    ) -> pb.JoinStandbyResponse:
        entry = await self.t.join_standby(
            current_principal(),
            _required(request.task_id, "task_id"),
            _member_id(request.member_id),
        )
        return pb.JoinStandbyResponse(entry=convert.standby_to_proto(entry))

    async def LeaveStandby(
        self, request: pb.LeaveStandbyRequest, context: aio.ServicerContext
    ) -> pb.LeaveStandbyResponse:
        left = await self.t.leave_standby(
            current_principal(),
            _required(request.task_id, "task_id"),
            _member_id(request.member_id),
        )
        return pb.LeaveStandbyResponse(left=left)

    async def ListStandby(
        self, request: pb.ListStandbyRequest, context: aio.ServicerContext
    ) -> pb.ListStandbyResponse:
        task_id = _required(request.task_id, "task_id") if request.task_id else ""
        entries = await self.t.list_standby(current_principal(), task_id)
        return pb.ListStandbyResponse(entries=[convert.standby_to_proto(e) for e in entries])

    async def ConfirmAssignment(
        self, request: pb.ConfirmAssignmentRequest, context: aio.ServicerContext
    ) -> pb.ConfirmAssignmentResponse:
        a = await self.t.confirm(
            current_principal(), _required(request.assignment_id, "assignment_id")
        )
        return pb.ConfirmAssignmentResponse(assignment=convert.assignment_to_proto(a))

    async def ReleaseAssignment(
        self, request: pb.ReleaseAssignmentRequest, context: aio.ServicerContext
    ) -> pb.ReleaseAssignmentResponse:
        a = await self.t.release(
            current_principal(), _required(request.assignment_id, "assignment_id")
        )
        return pb.ReleaseAssignmentResponse(assignment=convert.assignment_to_proto(a))

    async def GetMemberCalendar(
        self, request: pb.GetMemberCalendarRequest, context: aio.ServicerContext
    ) -> pb.GetMemberCalendarResponse:
        member_id = _required(request.member_id, "member_id") if request.member_id else ""
        ics = await self.t.member_calendar(current_principal(), member_id)
        return pb.GetMemberCalendarResponse(ics=ics)
