"""A member's standing, decided by the community's staff: the report-ins waiting for them
(accept, or refuse with a reason for the member) and the certificates of skills that need proof
(verify with number and expiry, or withdraw). The registry decides; a refusal lands beside its
field."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from grpc import StatusCode, aio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linli.v1 import registry_pb2
from services.common.protoconv import ts
from services.common.values import LOCAL_TZ
from services.console.pages.checkin import by_field
from services.console.pages.members import member_id, show_member, show_members
from services.console.web import NotThere, api, checked_form, see_other

REFUSED = (StatusCode.INVALID_ARGUMENT, StatusCode.FAILED_PRECONDITION)
SKILL = re.compile(r"[a-z_]{1,40}")


def skill_of(request: Request) -> str:
    value = str(request.path_params["skill"])
    if not SKILL.fullmatch(value):
        raise NotThere
    return value


def expiry(value: str) -> datetime | None:
    """A certificate valid through the date written on it: it ends at the next local midnight.
    None when the date does not parse (the service then names the field)."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return None
    return datetime.combine(day + timedelta(days=1), time(), LOCAL_TZ)


async def report_in(request: Request) -> Response:
    form = await checked_form(request)
    a, _ = await api(request)
    mid = member_id(request)
    community = request.query_params.get("community", "")
    try:
        if form.get("decision") == "accept":
            await a(
                a.stubs.registry.AcceptReportIn,
                registry_pb2.AcceptReportInRequest(member_id=mid),
            )
        else:
            await a(
                a.stubs.registry.RefuseReportIn,
                registry_pb2.RefuseReportInRequest(
                    member_id=mid, reason=str(form.get("reason", ""))
                ),
            )
    except aio.AioRpcError as e:
        if e.code() not in REFUSED:
            raise
        return await show_members(request, 400, by_field(e, {"reason": f"reason-{mid}"}))
    return see_other(f"/members?community={community}" if community else "/members")


async def verify(request: Request) -> Response:
    form = await checked_form(request)
    a, _ = await api(request)
    mid, skill = member_id(request), skill_of(request)
    until = expiry(str(form.get("expiry", "")))
    try:
        await a(
            a.stubs.registry.VerifySkill,
            registry_pb2.VerifySkillRequest(
                member_id=mid,
                skill=skill,
                certificate_number=str(form.get("number", "")),
                expire_time=ts(until),
            ),
        )
    except aio.AioRpcError as e:
        if e.code() not in REFUSED:
            raise
        names = {
            "certificate_number": f"number-{skill}",
            "expire_time": f"expiry-{skill}",
            "skill": f"number-{skill}",
        }
        return await show_member(request, 400, by_field(e, names))
    return see_other(f"/members/{mid}#certificates")


async def withdraw(request: Request) -> Response:
    form = await checked_form(request)
    a, _ = await api(request)
    mid, skill = member_id(request), skill_of(request)
    try:
        await a(
            a.stubs.registry.WithdrawSkillVerification,
            registry_pb2.WithdrawSkillVerificationRequest(
                member_id=mid, skill=skill, reason=str(form.get("reason", ""))
            ),
        )
    except aio.AioRpcError as e:
        if e.code() not in REFUSED:
            raise
        return await show_member(request, 400, by_field(e, {"reason": f"withdraw-{skill}"}))
    return see_other(f"/members/{mid}#certificates")


ROUTES = [
    Route("/members/{member_id}/report-in", report_in, methods=["POST"]),
    Route("/members/{member_id}/skills/{skill}/verify", verify, methods=["POST"]),
    Route("/members/{member_id}/skills/{skill}/withdraw", withdraw, methods=["POST"]),
]
