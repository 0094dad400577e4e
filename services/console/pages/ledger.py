"""The affairs ledger (台账) of a community: its items filtered by stage, category and overdue,
an item's page with its history and consultations, and the workbook the street office keeps
(.xlsx, the same columns as `linli ledger`). The resident is shown as the service answers."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linli.v1 import affairs_pb2
from services.client.ledger import (
    ANSWERS,
    CATEGORIES,
    STAGES,
    handled_by,
    ledger_items,
    write_workbook,
)
from services.client.ledger import who as contact_of
from services.console.pages.scope import scope
from services.console.web import NotThere, api, page

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def chosen(request: Request, name: str, table: Mapping[Any, str]) -> Any:
    """A filter's enum number from the query, 0 (any) when it names none of the table's."""
    value = request.query_params.get(name, "")
    return int(value) if value.isdigit() and int(value) in table else 0


async def _items(request: Request) -> dict[str, Any]:
    a, s = await api(request)
    sc = await scope(request, a, s)
    stage = chosen(request, "stage", STAGES)
    category = chosen(request, "category", CATEGORIES)
    overdue = request.query_params.get("overdue") == "1"
    items = await ledger_items(
        a.stubs,
        a.md,
        affairs_pb2.ListItemsRequest(
            community_id=sc.current.id, stage=stage, category=category, overdue_only=overdue
        ),
    )
    query = {"community": sc.current.id, "stage": stage, "category": category}
    return {
        "sc": sc,
        "items": items,
        "stage": stage,
        "category": category,
        "overdue": overdue,
        "query": urlencode({**query, **({"overdue": 1} if overdue else {})}),
    }


async def ledger(request: Request) -> Response:
    return page(
        request,
        "ledger.html",
        section="ledger",
        stages=STAGES,
        categories=CATEGORIES,
        who=contact_of,
        handled_by=handled_by,
        **await _items(request),
    )


async def workbook(request: Request) -> Response:
    found = await _items(request)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.xlsx"
        write_workbook(found["items"], path, f"{found['sc'].current.name}台账")
        body = path.read_bytes()
    name = f"ledger-{found['sc'].current.id}.xlsx"
    return Response(
        body, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


async def item(request: Request) -> Response:
    a, _ = await api(request)
    try:
        iid = str(uuid.UUID(str(request.path_params["item_id"])))
    except ValueError:
        raise NotThere from None
    got = (await a(a.stubs.affairs.GetItem, affairs_pb2.GetItemRequest(id=iid))).item
    return page(
        request,
        "ledger_item.html",
        section="ledger",
        item=got,
        stages=STAGES,
        categories=CATEGORIES,
        answers=ANSWERS,
        who=contact_of,
        handled_by=handled_by,
    )


ROUTES = [
    Route("/ledger", ledger, methods=["GET"]),
    Route("/ledger.xlsx", workbook, methods=["GET"]),
    Route("/ledger/items/{item_id}", item, methods=["GET"]),
]
