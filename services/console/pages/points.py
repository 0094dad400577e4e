"""Recording what a member received for their points (积分兑换) at the service station: the
points service books it once per form (a request id made when the form is drawn) and refuses
what the balance does not cover."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from grpc import StatusCode, aio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linli.v1 import points_pb2
from services.console.pages.checkin import by_field
from services.console.pages.members import member_id, show_member
from services.console.web import api, checked_form, see_other


def hundredths(value: str) -> int:
    """Points as typed ("2.5") in the ledger's hundredths; what does not parse is 0, for the
    service to name the field."""
    try:
        return int((Decimal(value.strip()) * 100).to_integral_value())
    except (InvalidOperation, ValueError):
        return 0


async def redeem(request: Request) -> Response:
    form = await checked_form(request)
    a, _ = await api(request)
    mid = member_id(request)
    try:
        await a(
            a.stubs.points.RedeemPoints,
            points_pb2.RedeemPointsRequest(
                request_id=str(form.get("request_id", "")),
                member_id=mid,
                amount=hundredths(str(form.get("amount", ""))),
                item=str(form.get("item", "")),
            ),
        )
    except aio.AioRpcError as e:
        if e.code() not in (StatusCode.INVALID_ARGUMENT, StatusCode.FAILED_PRECONDITION):
            raise
        names = {"amount": "redeem-amount", "item": "redeem-item"}
        return await show_member(request, 400, by_field(e, names))
    return see_other(f"/members/{mid}#points")


ROUTES = [Route("/members/{member_id}/points/redeem", redeem, methods=["POST"])]
