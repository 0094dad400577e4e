"""The registry's RPCs of a member's standing: report-ins accepted or refused by staff, and
certificates of skills that need proof. Proto in, use case, proto out."""

from __future__ import annotations

from grpc import aio

from linli.v1 import registry_pb2 as pb
from services.common.auth import current_principal
from services.common.protoconv import time_from_proto
from services.registry import convert
from services.registry.convert import member_id_arg
from services.registry.service import Registry


class QualificationApi:
    r: Registry

    async def AcceptReportIn(
        self, request: pb.AcceptReportInRequest, context: aio.ServicerContext
    ) -> pb.AcceptReportInResponse:
        member_id = member_id_arg(request.member_id, "member_id")
        member = await self.r.accept_report_in(current_principal(), member_id)
        return pb.AcceptReportInResponse(member=convert.member_answer(member))

    async def RefuseReportIn(
        self, request: pb.RefuseReportInRequest, context: aio.ServicerContext
    ) -> pb.RefuseReportInResponse:
        member_id = member_id_arg(request.member_id, "member_id")
        member = await self.r.refuse_report_in(current_principal(), member_id, request.reason)
        return pb.RefuseReportInResponse(member=convert.member_answer(member))

    async def VerifySkill(
        self, request: pb.VerifySkillRequest, context: aio.ServicerContext
    ) -> pb.VerifySkillResponse:
        member_id = member_id_arg(request.member_id, "member_id")
        expires = time_from_proto(request.expire_time) if request.HasField("expire_time") else None
        member = await self.r.verify_skill(
            current_principal(), member_id, request.skill, request.certificate_number, expires
        )
        return pb.VerifySkillResponse(member=convert.member_answer(member))

    async def WithdrawSkillVerification(
        self, request: pb.WithdrawSkillVerificationRequest, context: aio.ServicerContext
    ) -> pb.WithdrawSkillVerificationResponse:
        member_id = member_id_arg(request.member_id, "member_id")
        member = await self.r.withdraw_verification(
            current_principal(), member_id, request.skill, request.reason
        )
        return pb.WithdrawSkillVerificationResponse(member=convert.member_answer(member))
