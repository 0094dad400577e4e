"""The signed-in staff member's inbox: what the notifications service wrote for their account
(places left empty or released, report-ins and hours to decide, certificates expiring), newest
first, each linked to what it is about, and marked read one by one or all at once."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linli.v1 import notifications_pb2
from services.console.web import api, checked_form, page, see_other


async def inbox(request: Request) -> Response:
    a, _ = await api(request)
    unread_only = request.query_params.get("unread") == "1"
    got = await a(
        a.stubs.notifications.ListInboxItems,
        notifications_pb2.ListInboxItemsRequest(unread_only=unread_only, page_size=100),
    )
    return page(
        request,
        "inbox.html",
        section="inbox",
        items=list(got.items),
        unread_only=unread_only,
        more=bool(got.next_page_token),
    )


async def mark_read(request: Request) -> Response:
    form = await checked_form(request)
    a, _ = await api(request)
    cursors = [int(str(c)) for c in form.getlist("cursor") if str(c).isdigit()]
    up_to = str(form.get("up_to", ""))
    await a(
        a.stubs.notifications.MarkItemsRead,
        notifications_pb2.MarkItemsReadRequest(
            cursors=cursors, up_to_cursor=int(up_to) if up_to.isdigit() else 0
        ),
    )
    return see_other("/inbox")


ROUTES = [
    Route("/inbox", inbox, methods=["GET"]),
    Route("/inbox/read", mark_read, methods=["POST"]),
]
