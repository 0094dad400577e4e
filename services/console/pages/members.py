"""Members: who reported in to the community (and the report-ins waiting for the staff), who is
active this month, each member's record and certificates, and the printable service record a
member's work unit receives (the half-yearly 报到 feedback)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from grpc import StatusCode, aio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linli.v1 import points_pb2, registry_pb2, tasks_pb2
from services.client import gather, members_of, pages
from services.console.pages.scope import scope
from services.console.web import Api, NotThere, api, page


async def record_of(a: Api, member: str) -> tasks_pb2.MemberRecord:
    try:
        return (
            await a(
                a.stubs.tasks.GetMemberRecord,
                tasks_pb2.GetMemberRecordRequest(member_id=member),
            )
        ).record
    except aio.AioRpcError as e:
        if e.code() != StatusCode.NOT_FOUND:
            raise
        return tasks_pb2.MemberRecord(member_id=member)  # not known to the task service yet


async def members_page(request: Request) -> Response:
    return await show_members(request)


async def show_members(
    request: Request, status: int = 200, errors: dict[str, str] | None = None
) -> Response:
    """The community's members and its queue of report-ins to decide; a refused decision is
    drawn again with the service's field errors."""
    a, s = await api(request)
    sc = await scope(request, a, s)
    members = await members_of(a.stubs, a.md, sc.current.id)
    pending = await pages(
        a.stubs.registry.ListMembers,
        registry_pb2.ListMembersRequest(
            community_id=sc.current.id,
            report_in_state=registry_pb2.REPORT_IN_STATE_PENDING,
            page_size=1000,
        ),
        "members",
        a.md,
    )
    waiting = {m.id for m in pending}
    members = [m for m in members if m.id not in waiting]
    records = dict(
        zip(
            [m.id for m in members],
            await gather([m.id for m in members], lambda m: record_of(a, m), 8),
            strict=True,
        )
    )
    active = [m for m in members if records[m.id].hours_this_month > 0 or records[m.id].upcoming]
    grids = {
        g.id: g.name
        for g in await pages(
            a.stubs.registry.ListGrids,
            registry_pb2.ListGridsRequest(community_id=sc.current.id, page_size=1000),
            "grids",
            a.md,
        )
    }
    members.sort(key=lambda m: (-records[m.id].hours_this_month, m.name))
    return page(
        request,
        "members.html",
        status,
        section="members",
        sc=sc,
        pending=pending,
        errors=errors or {},
        members=members,
        records=records,
        active=active,
        grids=grids,
    )


@dataclass
class Points:
    balance: int  # hundredths of a point, as the ledger keeps them
    earned_this_year: int
    movements: list[points_pb2.PointsMovement]


async def points_of(a: Api, member: str) -> Points | None:
    """The member's points as the ledger shows them to this user; None where it shows none
    (the member's report-in not accepted by this user's community, or no points service)."""
    try:
        got = await a(
            a.stubs.points.GetPointsBalance, points_pb2.GetPointsBalanceRequest(member_id=member)
        )
        moved = await a(
            a.stubs.points.ListPointsMovements,
            points_pb2.ListPointsMovementsRequest(member_id=member, page_size=50),
        )
    except LookupError:
        return None
    except aio.AioRpcError as e:
        if e.code() not in (StatusCode.NOT_FOUND, StatusCode.PERMISSION_DENIED):
            raise
        return None
    return Points(got.balance, got.earned_this_year, list(moved.movements))


def member_id(request: Request) -> str:
    try:
        return str(uuid.UUID(str(request.path_params["member_id"])))
    except ValueError:
        raise NotThere from None


async def _member(request: Request) -> dict[str, Any]:
    a, _ = await api(request)
    mid = member_id(request)
    member = (await a(a.stubs.registry.GetMember, registry_pb2.GetMemberRequest(id=mid))).member
    record = await record_of(a, mid)
    held = await pages(
        a.stubs.tasks.ListAssignments,
        tasks_pb2.ListAssignmentsRequest(member_id=mid, page_size=1000),
        "assignments",
        a.md,
    )

    async def task(tid: str) -> tasks_pb2.Task | None:
        try:
            return (await a(a.stubs.tasks.GetTask, tasks_pb2.GetTaskRequest(id=tid))).task
        except aio.AioRpcError as e:
            if e.code() not in (StatusCode.NOT_FOUND, StatusCode.PERMISSION_DENIED):
                raise
            return None

    tasks = dict(
        zip(
            [h.task_id for h in held], await gather([h.task_id for h in held], task, 8), strict=True
        )
    )
    unit = None
    if member.unit_id:
        try:
            unit = (
                await a(a.stubs.registry.GetUnit, registry_pb2.GetUnitRequest(id=member.unit_id))
            ).unit
        except aio.AioRpcError as e:
            if e.code() not in (StatusCode.NOT_FOUND, StatusCode.PERMISSION_DENIED):
                raise
    community = None
    if member.community_id:
        community = (
            await a(
                a.stubs.registry.GetCommunity,
                registry_pb2.GetCommunityRequest(id=member.community_id),
            )
        ).community
    done = [
        h
        for h in held
        if h.state == tasks_pb2.ASSIGNMENT_STATE_COMPLETED and tasks.get(h.task_id) is not None
    ]
    return {
        "member": member,
        "record": record,
        "held": held,
        "done": done,
        "tasks": tasks,
        "unit": unit,
        "community": community,
    }


async def member_page(request: Request) -> Response:
    return await show_member(request)


async def show_member(
    request: Request, status: int = 200, errors: dict[str, str] | None = None
) -> Response:
    """A member's page; a refused certificate is drawn again with the service's field errors."""
    a, _ = await api(request)
    proof = {
        k.code: k
        for k in (await a(a.stubs.registry.ListSkills, registry_pb2.ListSkillsRequest())).skills
        if k.requires_proof
    }
    return page(
        request,
        "member.html",
        status,
        section="members",
        proof=proof,
        points=await points_of(a, member_id(request)),
        request_id=uuid.uuid4().hex,
        errors=errors or {},
        **await _member(request),
    )


async def service_record(request: Request) -> Response:
    return page(request, "record.html", section="members", **await _member(request))


ROUTES = [
    Route("/members", members_page, methods=["GET"]),
    Route("/members/{member_id}", member_page, methods=["GET"]),
    Route("/members/{member_id}/record", service_record, methods=["GET"]),
]
