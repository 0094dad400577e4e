"""The notifications service's gRPC servicer: proto in, use case, proto out."""

from __future__ import annotations

from collections.abc import AsyncIterator

from grpc import aio

from linli.v1 import notifications_pb2 as pb
from linli.v1 import notifications_pb2_grpc
from services.common import audit_api
from services.common.auth import current_principal
from services.notifications import convert
from services.notifications.service import Notifications

# Every caller reads their own inbox; the audit log is for staff.
STAFF_ONLY = audit_api.STAFF_ONLY


class NotificationsApi(notifications_pb2_grpc.NotificationServiceServicer):
    def __init__(self, notifications: Notifications) -> None:
        self.n = notifications

    async def ListInboxItems(
        self, request: pb.ListInboxItemsRequest, context: aio.ServicerContext
    ) -> pb.ListInboxItemsResponse:
        items, token = await self.n.list_items(
            current_principal(),
            request.inbox_id,
            request.unread_only,
            request.page_size,
            request.page_token,
        )
        return pb.ListInboxItemsResponse(
            items=[convert.item_to_proto(i) for i in items], next_page_token=token
        )

    async def FollowInbox(
        self, request: pb.FollowInboxRequest, context: aio.ServicerContext
    ) -> AsyncIterator[pb.FollowInboxResponse]:
        async for item in self.n.follow(
            current_principal(), request.inbox_id, request.after_cursor
        ):
            yield pb.FollowInboxResponse(item=convert.item_to_proto(item))

    async def MarkItemsRead(
        self, request: pb.MarkItemsReadRequest, context: aio.ServicerContext
    ) -> pb.MarkItemsReadResponse:
        marked = await self.n.mark_read(
            current_principal(), request.inbox_id, list(request.cursors), request.up_to_cursor
        )
        return pb.MarkItemsReadResponse(marked=marked)

    async def GetUnreadCount(
        self, request: pb.GetUnreadCountRequest, context: aio.ServicerContext
    ) -> pb.GetUnreadCountResponse:
        return pb.GetUnreadCountResponse(
            unread=await self.n.unread(current_principal(), request.inbox_id)
        )

    async def SetDeliveryPreferences(
        self, request: pb.SetDeliveryPreferencesRequest, context: aio.ServicerContext
    ) -> pb.SetDeliveryPreferencesResponse:
        prefs = await self.n.set_preferences(
            current_principal(), convert.preferences_from_proto(request.preferences)
        )
        return pb.SetDeliveryPreferencesResponse(preferences=convert.preferences_to_proto(prefs))

    async def GetDeliveryPreferences(
        self, request: pb.GetDeliveryPreferencesRequest, context: aio.ServicerContext
    ) -> pb.GetDeliveryPreferencesResponse:
        prefs = await self.n.preferences(current_principal())
        return pb.GetDeliveryPreferencesResponse(preferences=convert.preferences_to_proto(prefs))
