"""Check-in on site and hours: a task's rotating check-in code for the staff to show (its QR
code, redrawn each step), and the forms that confirm, correct, approve or refuse hours records.
What the rules allow is the attendance service's answer; a refusal lands beside its field."""

from __future__ import annotations

import base64
import time
import uuid

from grpc import StatusCode, aio
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linli.v1 import attendance_pb2
from services.common.protoconv import time_from_proto
from services.console.pages.task import show_task, task_id
from services.console.web import NotThere, api, checked_form, field_errors, page, see_other

PURPOSES = {
    "in": attendance_pb2.CHECK_IN_PURPOSE_CHECK_IN,
    "out": attendance_pb2.CHECK_IN_PURPOSE_CHECK_OUT,
}
REFUSED = (StatusCode.INVALID_ARGUMENT, StatusCode.FAILED_PRECONDITION)


def record_id(request: Request) -> str:
    try:
        return str(uuid.UUID(str(request.path_params["record_id"])))
    except ValueError:
        raise NotThere from None


def minutes_in(form: FormData, name: str) -> int | None:
    """The minutes typed, None when empty; what does not parse is sent as 0 for the service to
    name the field."""
    value = str(form.get(name, "")).strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return 0


def by_field(err: aio.AioRpcError, names: dict[str, str]) -> dict[str, str]:
    """The refusal's field errors under the form's field names (`names`: API path -> field);
    what names no field goes above the form."""
    found: dict[str, str] = {}
    for path, why in field_errors(err).items():
        home = names.get(path, "")
        found[home] = "; ".join(x for x in (found.get(home), why if home else f"{path} {why}") if x)
    return found or {"": err.details() or err.code().name}


async def code(request: Request) -> Response:
    """The code to show on site: the QR code as an image of the SVG the service draws (an SVG
    in an <img> runs nothing, and the CSP allows data: images), and a meta refresh when the
    next code takes over, so the page needs no script."""
    a, _ = await api(request)
    tid = task_id(request)
    purpose = request.query_params.get("purpose", "in")
    if purpose not in PURPOSES:
        raise NotThere
    got = await a(
        a.stubs.attendance.GetCheckInCode,
        attendance_pb2.GetCheckInCodeRequest(task_id=tid, purpose=PURPOSES[purpose]),
    )
    left = time_from_proto(got.valid_until).timestamp() - time.time()
    # The code shown stays accepted for one step after its own, so a refresh a little late
    # costs nothing, and a page never reloads in a tight loop.
    refresh = max(5, min(int(left) + 1, got.step_seconds or 60))
    svg = base64.b64encode(got.qr_svg.encode("utf-8")).decode("ascii")
    return page(
        request,
        "checkin.html",
        section="today",
        tid=tid,
        purpose=purpose,
        code=got.code,
        qr=f"data:image/svg+xml;base64,{svg}",
        refresh=refresh,
        step=got.step_seconds,
    )


async def confirm(request: Request) -> Response:
    form = await checked_form(request)
    a, _ = await api(request)
    tid = task_id(request)
    members = [str(m) for m in form.getlist("member")]
    decisions = []
    for i, m in enumerate(members):
        minutes = minutes_in(form, f"minutes-{i}")
        decisions.append(
            attendance_pb2.HoursDecision(
                member_id=m, minutes=minutes, reason=str(form.get(f"reason-{i}", ""))
            )
        )
    try:
        await a(
            a.stubs.attendance.ConfirmHours,
            attendance_pb2.ConfirmHoursRequest(task_id=tid, decisions=decisions),
        )
    except aio.AioRpcError as e:
        if e.code() not in REFUSED:
            raise
        names = {"decisions": "decisions"}
        for i in range(len(members)):
            for f in ("minutes", "reason", "member_id"):
                names[f"decisions[{i}].{f}"] = f"{f}-{i}" if f != "member_id" else "decisions"
        return await show_task(request, a, tid, 400, by_field(e, names))
    return see_other(f"/tasks/{tid}#hours")


async def correct(request: Request) -> Response:
    form = await checked_form(request)
    a, _ = await api(request)
    tid, rid = task_id(request), record_id(request)
    try:
        await a(
            a.stubs.attendance.CorrectHours,
            attendance_pb2.CorrectHoursRequest(
                record_id=rid,
                minutes=minutes_in(form, "minutes") or 0,
                reason=str(form.get("reason", "")),
            ),
        )
    except aio.AioRpcError as e:
        if e.code() not in REFUSED:
            raise
        names = {"minutes": f"minutes-{rid}", "reason": f"reason-{rid}"}
        return await show_task(request, a, tid, 400, by_field(e, names))
    return see_other(f"/tasks/{tid}#hours")


async def decide(request: Request) -> Response:
    """A member's request for hours: approved, or refused with a reason."""
    form = await checked_form(request)
    a, _ = await api(request)
    tid, rid = task_id(request), record_id(request)
    try:
        if form.get("approve") == "1":
            await a(
                a.stubs.attendance.ApproveHoursRequest,
                attendance_pb2.ApproveHoursRequestRequest(record_id=rid),
            )
        else:
            await a(
                a.stubs.attendance.RefuseHoursRequest,
                attendance_pb2.RefuseHoursRequestRequest(
                    record_id=rid, reason=str(form.get("reason", ""))
                ),
            )
    except aio.AioRpcError as e:
        if e.code() not in REFUSED:
            raise
        return await show_task(request, a, tid, 400, by_field(e, {"reason": f"reason-{rid}"}))
    return see_other(f"/tasks/{tid}#hours")


ROUTES = [
    Route("/tasks/{task_id}/code", code, methods=["GET"]),
    Route("/tasks/{task_id}/hours", confirm, methods=["POST"]),
    Route("/tasks/{task_id}/hours/{record_id}/correct", correct, methods=["POST"]),
    Route("/tasks/{task_id}/hours/{record_id}/decide", decide, methods=["POST"]),
]
