"""The points service's gRPC servicer: proto in, use case, proto out."""

from __future__ import annotations

from grpc import aio

from linli.v1 import points_pb2 as pb
from linli.v1 import points_pb2_grpc
from services.common.auth import current_principal
from services.common.checks import text_id_arg, uuid_arg
from services.common.errors import invalid
from services.common.interceptors import methods
from services.common.protoconv import export_part
from services.common.subjects import POINTS
from services.points import convert
from services.points.domain.redemption import check_redemption
from services.points.service import Points

_SERVICE = pb.DESCRIPTOR.services_by_name["PointsService"]
# What a member may never call: refused at the door, before the request is looked at.
STAFF_ONLY = methods(_SERVICE, "RedeemPoints", "ReversePoints", "GetCommunityPoints")


class PointsApi(points_pb2_grpc.PointsServiceServicer):
    def __init__(self, points: Points) -> None:
        self.p = points

    async def GetPointsBalance(
        self, request: pb.GetPointsBalanceRequest, context: aio.ServicerContext
    ) -> pb.GetPointsBalanceResponse:
        member_id = uuid_arg(request.member_id, "member_id")
        b = await self.p.balance(current_principal(), member_id)
        return pb.GetPointsBalanceResponse(
            member_id=b.member_id, balance=b.balance, earned_this_year=b.earned_this_year
        )

    async def ListPointsMovements(
        self, request: pb.ListPointsMovementsRequest, context: aio.ServicerContext
    ) -> pb.ListPointsMovementsResponse:
        member_id = uuid_arg(request.member_id, "member_id")
        rows, token = await self.p.movements(
            current_principal(), member_id, request.page_size, request.page_token
        )
        return pb.ListPointsMovementsResponse(
            movements=[convert.movement_to_proto(m) for m in rows], next_page_token=token
        )

    async def RedeemPoints(
        self, request: pb.RedeemPointsRequest, context: aio.ServicerContext
    ) -> pb.RedeemPointsResponse:
        r = check_redemption(
            request.request_id,
            uuid_arg(request.member_id, "member_id"),
            request.amount,
            request.item,
        )
        movement, balance = await self.p.redeem(current_principal(), r)
        return pb.RedeemPointsResponse(
            movement=convert.movement_to_proto(movement), balance=balance
        )

    async def ReversePoints(
        self, request: pb.ReversePointsRequest, context: aio.ServicerContext
    ) -> pb.ReversePointsResponse:
        movement_id = uuid_arg(request.movement_id, "movement_id")
        movement, balance = await self.p.reverse(current_principal(), movement_id, request.reason)
        return pb.ReversePointsResponse(
            movement=convert.movement_to_proto(movement), balance=balance
        )

    async def GetCommunityPoints(
        self, request: pb.GetCommunityPointsRequest, context: aio.ServicerContext
    ) -> pb.GetCommunityPointsResponse:
        community_id = text_id_arg(request.community_id, "community_id")
        if not community_id:
            raise invalid("community_id", "is required")
        t = await self.p.community(current_principal(), community_id)
        return convert.community_to_proto(t)

    async def ExportMemberData(
        self, request: pb.PointsServiceExportMemberDataRequest, context: aio.ServicerContext
    ) -> pb.PointsServiceExportMemberDataResponse:
        member_id = uuid_arg(request.member_id, "member_id")
        rows = await self.p.export_member(current_principal(), member_id)
        part = export_part(
            POINTS, member_id, {"movements": [convert.movement_export(m) for m in rows]}
        )
        return pb.PointsServiceExportMemberDataResponse(part=part)
