"""The affairs service's gRPC servicer: proto in, use case, proto out."""

from __future__ import annotations

from grpc import aio

from linli.v1 import affairs_pb2 as pb
from linli.v1 import affairs_pb2_grpc
from services.affairs import convert
from services.affairs.domain.items import Item
from services.affairs.service import Affairs
from services.common import paging
from services.common.auth import current_principal
from services.common.errors import invalid
from services.common.interceptors import methods
from services.common.protoconv import time_from_proto

_SERVICE = pb.DESCRIPTOR.services_by_name["AffairsService"]
# The ledger is the staff's: a member may call nothing of it.
STAFF_ONLY = methods(_SERVICE, *(m.name for m in _SERVICE.methods))


def _item(shown: tuple[Item, bool]) -> pb.Item:
    item, masked = shown
    return convert.item_to_proto(item, masked=masked)


def _required(value: str, field: str) -> str:
    if not value:
        raise invalid(field, "is required")
    return value


class AffairsApi(affairs_pb2_grpc.AffairsServiceServicer):
    def __init__(self, affairs: Affairs) -> None:
        self.a = affairs

    async def CreateItem(
        self, request: pb.CreateItemRequest, context: aio.ServicerContext
    ) -> pb.CreateItemResponse:
        shown = await self.a.create(
            current_principal(), request.request_id, convert.draft_from_proto(request.item)
        )
        return pb.CreateItemResponse(item=_item(shown))

    async def GetItem(
        self, request: pb.GetItemRequest, context: aio.ServicerContext
    ) -> pb.GetItemResponse:
        shown = await self.a.get(current_principal(), _required(request.id, "id"))
        return pb.GetItemResponse(item=_item(shown))

    async def ListItems(
        self, request: pb.ListItemsRequest, context: aio.ServicerContext
    ) -> pb.ListItemsResponse:
        asked: dict[str, object] = {
            "community_id": request.community_id,
            "street_id": request.street_id,
            "grid_id": request.grid_id,
            "category": convert.category(request.category, "category"),
            "stage": convert.stage(request.stage),
            "overdue_only": request.overdue_only,
        }
        cursor = paging.cursor(request.page_size, request.page_token, asked, paging.time_uuid_key)
        found = await self.a.list_items(current_principal(), asked, cursor.after, cursor.fetch)
        shown, token = cursor.page(found, lambda s: paging.time_token(s[0].created_at, s[0].id))
        return pb.ListItemsResponse(
            items=[convert.item_to_proto(i, masked=m, history=False) for i, m in shown],
            next_page_token=token,
        )

    async def UpdateItem(
        self, request: pb.UpdateItemRequest, context: aio.ServicerContext
    ) -> pb.UpdateItemResponse:
        draft = convert.draft_from_proto(request.item)
        shown = await self.a.edit(
            current_principal(),
            _required(request.item.id, "item.id"),
            request.request_id,
            draft,
            list(request.update_mask.paths),
        )
        return pb.UpdateItemResponse(item=_item(shown))

    async def AssignItem(
        self, request: pb.AssignItemRequest, context: aio.ServicerContext
    ) -> pb.AssignItemResponse:
        shown = await self.a.assign(
            current_principal(), _required(request.id, "id"), request.request_id, request.assignee
        )
        return pb.AssignItemResponse(item=_item(shown))

    async def LinkTask(
        self, request: pb.LinkTaskRequest, context: aio.ServicerContext
    ) -> pb.LinkTaskResponse:
        shown = await self.a.link_task(
            current_principal(), _required(request.id, "id"), request.request_id, request.task_id
        )
        return pb.LinkTaskResponse(item=_item(shown))

    async def ResolveItem(
        self, request: pb.ResolveItemRequest, context: aio.ServicerContext
    ) -> pb.ResolveItemResponse:
        shown = await self.a.resolve(
            current_principal(), _required(request.id, "id"), request.request_id, request.outcome
        )
        return pb.ResolveItemResponse(item=_item(shown))

    async def EscalateItem(
        self, request: pb.EscalateItemRequest, context: aio.ServicerContext
    ) -> pb.EscalateItemResponse:
        shown = await self.a.escalate(
            current_principal(), _required(request.id, "id"), request.request_id, request.reason
        )
        return pb.EscalateItemResponse(item=_item(shown))

    async def RouteItem(
        self, request: pb.RouteItemRequest, context: aio.ServicerContext
    ) -> pb.RouteItemResponse:
        if not request.HasField("handler"):
            raise invalid("handler", "is required")
        due = time_from_proto(request.due_time) if request.HasField("due_time") else None
        shown = await self.a.route(
            current_principal(),
            _required(request.id, "id"),
            request.request_id,
            convert.handler_from_proto(request.handler),
            due,
            request.note,
        )
        return pb.RouteItemResponse(item=_item(shown))

    async def ReturnItem(
        self, request: pb.ReturnItemRequest, context: aio.ServicerContext
    ) -> pb.ReturnItemResponse:
        shown = await self.a.send_back(
            current_principal(), _required(request.id, "id"), request.request_id, request.guidance
        )
        return pb.ReturnItemResponse(item=_item(shown))

    async def MergeItems(
        self, request: pb.MergeItemsRequest, context: aio.ServicerContext
    ) -> pb.MergeItemsResponse:
        shown = await self.a.merge(
            current_principal(),
            request.request_id,
            _required(request.into_id, "into_id"),
            list(request.item_ids),
            request.note,
        )
        return pb.MergeItemsResponse(item=_item(shown))

    async def RecordConsultation(
        self, request: pb.RecordConsultationRequest, context: aio.ServicerContext
    ) -> pb.RecordConsultationResponse:
        if not request.HasField("consultation"):
            raise invalid("consultation", "is required")
        shown = await self.a.consult(
            current_principal(),
            _required(request.id, "id"),
            request.request_id,
            convert.consultation_from_proto(request.consultation),
        )
        return pb.RecordConsultationResponse(item=_item(shown))

    async def RecordResidentAnswer(
        self, request: pb.RecordResidentAnswerRequest, context: aio.ServicerContext
    ) -> pb.RecordResidentAnswerResponse:
        shown = await self.a.answer(
            current_principal(),
            _required(request.id, "id"),
            request.request_id,
            convert.answer(request.answer),
            request.note,
        )
        return pb.RecordResidentAnswerResponse(item=_item(shown))

    async def GetLedgerFigures(
        self, request: pb.GetLedgerFiguresRequest, context: aio.ServicerContext
    ) -> pb.GetLedgerFiguresResponse:
        start = time_from_proto(request.start_time) if request.HasField("start_time") else None
        end = time_from_proto(request.end_time) if request.HasField("end_time") else None
        communities, streets, total = await self.a.figures(
            current_principal(), request.street_id, start, end
        )
        return pb.GetLedgerFiguresResponse(
            communities=[convert.figures_to_proto(f) for f in communities],
            streets=[convert.figures_to_proto(f) for f in streets],
            total=convert.figures_to_proto(total),
        )
