"""A task: its place, who holds its places, proposals and their answers, its standby list,
completion with each member's hours and the resident's feedback (or a cancellation), and the
hours records to confirm or correct. A task the user may not see answers the same page as a task
that does not exist."""

from __future__ import annotations

import uuid

from grpc import StatusCode, aio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linli.v1 import attendance_pb2, registry_pb2, tasks_pb2
from services.client import assignments_of, gather, pages
from services.console import maps
from services.console.pages.scope import grids
from services.console.pages.today import places
from services.console.web import Api, NotThere, api, checked_form, errors_for, page, see_other

DONE_WITH = (
    tasks_pb2.TASK_STATUS_COMPLETED,
    tasks_pb2.TASK_STATUS_CANCELLED,
    tasks_pb2.TASK_STATUS_EXPIRED,
)


def task_id(request: Request) -> str:
    value = str(request.path_params["task_id"])
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotThere from None


async def names_of(a: Api, ids: set[str]) -> dict[str, str]:
    """Members' names as the registry shows them to this user (the short id where it does not)."""

    async def one(member: str) -> tuple[str, str]:
        try:
            got = await a(a.stubs.registry.GetMember, registry_pb2.GetMemberRequest(id=member))
        except aio.AioRpcError as e:
            if e.code() not in (StatusCode.NOT_FOUND, StatusCode.PERMISSION_DENIED):
                raise
            return member, member[:8]
        return member, got.member.name

    return dict(await gather(sorted(ids), one, 8))


async def hours_of(
    a: Api, task: tasks_pb2.Task
) -> tuple[list[attendance_pb2.HoursRecord], dict[str, attendance_pb2.HoursProposal]]:
    """The task's hours records (newest first) and, once it is completed, each checked-in
    member's proposal."""
    records = await pages(
        a.stubs.attendance.ListHoursRecords,
        attendance_pb2.ListHoursRecordsRequest(task_id=task.id, page_size=100),
        "records",
        a.md,
    )
    if task.status != tasks_pb2.TASK_STATUS_COMPLETED:
        return records, {}
    proposed = await a(
        a.stubs.attendance.ListHoursProposals,
        attendance_pb2.ListHoursProposalsRequest(task_id=task.id),
    )
    return records, {p.member_id: p for p in proposed.proposals}


CURRENT = (attendance_pb2.HOURS_RECORD_STATE_REQUESTED, attendance_pb2.HOURS_RECORD_STATE_CONFIRMED)


async def show_task(
    request: Request, a: Api, tid: str, status: int = 200, errors: dict[str, str] | None = None
) -> Response:
    """The task's page; a refused form is drawn again with the service's field errors."""
    task = (await a(a.stubs.tasks.GetTask, tasks_pb2.GetTaskRequest(id=tid))).task
    held = await assignments_of(a.stubs, a.md, tid)
    standby = (
        await a(a.stubs.tasks.ListStandby, tasks_pb2.ListStandbyRequest(task_id=tid))
    ).entries
    records, proposals = await hours_of(a, task)
    names = await names_of(
        a,
        {h.member_id for h in held}
        | {e.member_id for e in standby}
        | {r.member_id for r in records},
    )
    recorded = {r.member_id for r in records if r.state in CURRENT}
    community = (
        await a(
            a.stubs.registry.GetCommunity,
            registry_pb2.GetCommunityRequest(id=task.community_id),
        )
    ).community
    the_map = maps.draw(
        [community],
        await grids(a, task.community_id),
        places([task]),
        label=task.title,
        links=False,
    )
    accepted = [h for h in held if h.state == tasks_pb2.ASSIGNMENT_STATE_ACCEPTED]
    done = tasks_pb2.ASSIGNMENT_STATE_COMPLETED
    to_confirm = [h for h in held if h.state == done and h.member_id not in recorded]
    return page(
        request,
        "task.html",
        status,
        section="today",
        task=task,
        held=held,
        accepted=accepted,
        standby=standby,
        records=records,
        proposals=proposals,
        to_confirm=to_confirm,
        names=names,
        community=community,
        the_map=the_map,
        open_to_complete=task.status not in DONE_WITH and bool(accepted),
        open_to_cancel=task.status not in DONE_WITH,
        errors=errors or {},
        posted=request.query_params.get("posted") == "1",
    )


async def show(request: Request) -> Response:
    a, _ = await api(request)
    return await show_task(request, a, task_id(request))


async def complete(request: Request) -> Response:
    form = await checked_form(request)
    a, _ = await api(request)
    tid = task_id(request)
    outcomes = []
    for member in form.getlist("member"):
        m = str(member)
        try:
            hours = float(str(form.get(f"hours-{m}", "0")))
        except ValueError:
            hours = 0.0  # the service names the field
        outcomes.append(
            tasks_pb2.AssignmentOutcome(
                member_id=m, hours=hours, no_show=form.get(f"no_show-{m}") == "on"
            )
        )
    try:
        score = int(str(form.get("score", "0")))
    except ValueError:
        score = 0
    try:
        await a(
            a.stubs.tasks.CompleteTask,
            tasks_pb2.CompleteTaskRequest(
                id=tid,
                outcomes=outcomes,
                feedback=tasks_pb2.Feedback(score=score, comment=str(form.get("comment", ""))),
            ),
        )
    except aio.AioRpcError as e:
        if e.code() not in (StatusCode.INVALID_ARGUMENT, StatusCode.FAILED_PRECONDITION):
            raise
        errors = errors_for(e, "", ("outcomes", "feedback"))
        return await show_task(request, a, tid, 400, errors)
    return see_other(f"/tasks/{tid}")


async def cancel(request: Request) -> Response:
    form = await checked_form(request)
    a, _ = await api(request)
    tid = task_id(request)
    try:
        await a(
            a.stubs.tasks.CancelTask,
            tasks_pb2.CancelTaskRequest(id=tid, reason=str(form.get("reason", ""))),
        )
    except aio.AioRpcError as e:
        if e.code() not in (StatusCode.INVALID_ARGUMENT, StatusCode.FAILED_PRECONDITION):
            raise
        return await show_task(request, a, tid, 400, errors_for(e, "", ("reason",)))
    return see_other(f"/tasks/{tid}")


ROUTES = [
    Route("/tasks/{task_id}", show, methods=["GET"]),
    Route("/tasks/{task_id}/complete", complete, methods=["POST"]),
    Route("/tasks/{task_id}/cancel", cancel, methods=["POST"]),
]
