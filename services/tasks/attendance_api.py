"""The attendance servicer (linli.v1.AttendanceService, served by the task process): proto in,
use case, proto out. Errors are mapped by the server interceptor."""

from __future__ import annotations

import io

import segno
from grpc import aio

from linli.v1 import attendance_pb2 as pb
from linli.v1 import attendance_pb2_grpc
from services.common import paging
from services.common.auth import current_principal
from services.common.errors import invalid
from services.common.interceptors import methods
from services.common.protoconv import latlng_from_proto, ts
from services.tasks import attendance_convert as convert
from services.tasks.api import _community, _member_id, _required
from services.tasks.attendance import AttendanceCases
from services.tasks.domain.attendance import Purpose
from services.tasks.domain.hours import Decision

# What a member may never call: refused at the door, before the request is looked at.
STAFF_ONLY = methods(
    pb.DESCRIPTOR.services_by_name["AttendanceService"],
    "GetCheckInCode",
    "ListHoursProposals",
    "ConfirmHours",
    "ApproveHoursRequest",
    "RefuseHoursRequest",
    "CorrectHours",
)
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["AttendanceService"].full_name


def qr_svg(text: str) -> str:
    """The QR code of `text` as an SVG document (medium error correction: a phone's screen,
    read at an angle)."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=4, xmldecl=False)
    return out.getvalue().decode()


def _purpose(value: int) -> Purpose:
    found = convert.PURPOSE_FROM_PROTO.get(value)  # type: ignore[call-overload]
    if found is None:
        raise invalid("purpose", "must be CHECK_IN or CHECK_OUT")
    return found


class AttendanceApi(attendance_pb2_grpc.AttendanceServiceServicer):
    def __init__(self, cases: AttendanceCases) -> None:
        self.a = cases

    async def GetCheckInCode(
        self, request: pb.GetCheckInCodeRequest, context: aio.ServicerContext
    ) -> pb.GetCheckInCodeResponse:
        code, text = await self.a.check_in_code(
            current_principal(), _required(request.task_id, "task_id"), _purpose(request.purpose)
        )
        return pb.GetCheckInCodeResponse(
            code=code.code,
            qr_text=text,
            qr_svg=qr_svg(text),
            valid_until=ts(code.valid_until),
            step_seconds=self.a.rules.step_s,
        )

    async def _check(
        self, request: pb.CheckInRequest | pb.CheckOutRequest, purpose: Purpose
    ) -> pb.Attendance:
        if len(request.code) > 64:
            raise invalid("code", "is not a check-in code")
        done = await self.a.check(
            current_principal(),
            _required(request.task_id, "task_id"),
            _member_id(request.member_id),
            purpose,
            request.code,
            latlng_from_proto(request.location, request.HasField("location")),
        )
        return convert.attendance_to_proto(done)

    async def CheckIn(
        self, request: pb.CheckInRequest, context: aio.ServicerContext
    ) -> pb.CheckInResponse:
        return pb.CheckInResponse(attendance=await self._check(request, Purpose.CHECK_IN))

    async def CheckOut(
        self, request: pb.CheckOutRequest, context: aio.ServicerContext
    ) -> pb.CheckOutResponse:
        return pb.CheckOutResponse(attendance=await self._check(request, Purpose.CHECK_OUT))

    async def ListHoursProposals(
        self, request: pb.ListHoursProposalsRequest, context: aio.ServicerContext
    ) -> pb.ListHoursProposalsResponse:
        found = await self.a.proposals(current_principal(), _required(request.task_id, "task_id"))
        return pb.ListHoursProposalsResponse(
            proposals=[convert.proposal_to_proto(p) for p in found]
        )

    async def ConfirmHours(
        self, request: pb.ConfirmHoursRequest, context: aio.ServicerContext
    ) -> pb.ConfirmHoursResponse:
        decisions = [
            Decision(
                _member_id(d.member_id), d.minutes if d.HasField("minutes") else None, d.reason
            )
            for d in request.decisions
        ]
        records = await self.a.confirm(
            current_principal(), _required(request.task_id, "task_id"), decisions
        )
        return pb.ConfirmHoursResponse(records=[convert.record_to_proto(r) for r in records])

    async def RequestHours(
        self, request: pb.RequestHoursRequest, context: aio.ServicerContext
    ) -> pb.RequestHoursResponse:
        record = await self.a.request(
            current_principal(),
            _required(request.task_id, "task_id"),
            _member_id(request.member_id),
            request.minutes,
            request.reason,
        )
        return pb.RequestHoursResponse(record=convert.record_to_proto(record))

    async def ApproveHoursRequest(
        self, request: pb.ApproveHoursRequestRequest, context: aio.ServicerContext
    ) -> pb.ApproveHoursRequestResponse:
        record = await self.a.approve(
            current_principal(), _required(request.record_id, "record_id")
        )
        return pb.ApproveHoursRequestResponse(record=convert.record_to_proto(record))

    async def RefuseHoursRequest(
        self, request: pb.RefuseHoursRequestRequest, context: aio.ServicerContext
    ) -> pb.RefuseHoursRequestResponse:
        record = await self.a.refuse(
            current_principal(), _required(request.record_id, "record_id"), request.reason
        )
        return pb.RefuseHoursRequestResponse(record=convert.record_to_proto(record))

    async def CorrectHours(
        self, request: pb.CorrectHoursRequest, context: aio.ServicerContext
    ) -> pb.CorrectHoursResponse:
        record = await self.a.correct(
            current_principal(),
            _required(request.record_id, "record_id"),
            request.minutes,
            request.reason,
        )
        return pb.CorrectHoursResponse(record=convert.record_to_proto(record))

    async def ListHoursRecords(
        self, request: pb.ListHoursRecordsRequest, context: aio.ServicerContext
    ) -> pb.ListHoursRecordsResponse:
        filters = {
            "member_id": request.member_id,
            "task_id": request.task_id,
            "community_id": request.community_id,
        }
        task_id = _required(request.task_id, "task_id") if request.task_id else ""
        cursor = paging.cursor(request.page_size, request.page_token, filters, paging.time_uuid_key)
        items = await self.a.list_records(
            current_principal(),
            member_id=_member_id(request.member_id),
            task_id=task_id,
            community_id=_community(request.community_id),
            after=cursor.after,
            limit=cursor.fetch,
        )
        shown, token = cursor.page(items, lambda r: paging.time_token(r.created_at, r.id))
        return pb.ListHoursRecordsResponse(
            records=[convert.record_to_proto(r) for r in shown], next_page_token=token
        )
