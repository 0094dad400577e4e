"""The affairs ledger as a street office keeps it: every item of a List call, and the workbook
(.xlsx) in the columns offices use, one row per item. The resident is shown as the service
answered: masked unless the caller handles the item."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from google.protobuf import timestamp_pb2
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from linli.v1 import affairs_pb2 as pb
from services.client import Metadata, Stubs, pages
from services.common.protoconv import time_from_proto
from services.common.values import LOCAL_TZ

COLUMNS = (
    "序号",
    "来源/网格",
    "反映人",
    "诉求内容",
    "类别",
    "受理时间",
    "办理阶段",
    "承办单位",
    "时限",
    "是否超期",
    "办理结果",
    "群众评价",
    "销号时间",
)
WIDTHS = (6, 22, 24, 40, 12, 17, 14, 18, 17, 9, 40, 9, 17)
SOURCES = {
    "grid": "网格",
    "building_group": "楼院党小组",
    "visit": "入户走访",
    "phone": "来电",
    "hotline": "热线",
}
CATEGORIES = {
    pb.ITEM_CATEGORY_HOUSING: "住房维修",
    pb.ITEM_CATEGORY_ENVIRONMENT: "环境卫生",
    pb.ITEM_CATEGORY_PARKING: "停车交通",
    pb.ITEM_CATEGORY_SAFETY: "安全隐患",
    pb.ITEM_CATEGORY_NEIGHBOURS: "邻里纠纷",
    pb.ITEM_CATEGORY_CARE: "老少残贫服务",
    pb.ITEM_CATEGORY_OTHER: "其他",
}
STAGES = {
    pb.ITEM_STAGE_OPEN: "已受理",
    pb.ITEM_STAGE_IN_COMMUNITY: "社区办理中",
    pb.ITEM_STAGE_ESCALATED: "已上报街道",
    pb.ITEM_STAGE_ROUTED: "街道交办中",
    pb.ITEM_STAGE_RESOLVED: "已办结待评价",
    pb.ITEM_STAGE_CLOSED: "已销号",
    pb.ITEM_STAGE_MERGED: "已并案",
}
ANSWERS = {pb.RESIDENT_ANSWER_SATISFIED: "满意", pb.RESIDENT_ANSWER_NOT_SATISFIED: "不满意"}


async def ledger_items(stubs: Stubs, md: Metadata, request: pb.ListItemsRequest) -> list[pb.Item]:
    """Every item the request's filters take, newest first."""
    request.page_size = request.page_size or 1000
    return await pages(stubs.affairs.ListItems, request, "items", md)


def _when(t: timestamp_pb2.Timestamp, present: bool) -> str:
    return time_from_proto(t).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if present else ""


def who(item: pb.Item) -> str:
    """The resident as the ledger shows them (masked unless the caller handles the item)."""
    c = item.contact
    parts = [c.name, c.phone] + ([f"（{c.on_behalf_by}代反映）"] if c.on_behalf_by else [])
    return " ".join(p for p in parts if p)


def handled_by(item: pb.Item) -> str:
    if item.HasField("handler"):
        return item.handler.name
    return "社区" + (f"（{item.assignee}）" if item.assignee else "")


def row(n: int, item: pb.Item) -> list[object]:
    return [
        n,
        f"{SOURCES.get(item.source, item.source)}/{item.grid_id}",
        who(item),
        item.summary,
        CATEGORIES.get(item.category, ""),
        _when(item.create_time, item.HasField("create_time")),
        STAGES.get(item.stage, ""),
        handled_by(item),
        _when(item.due_time, item.HasField("due_time")),
        "是" if item.ever_overdue else "否",
        item.outcome,
        ANSWERS.get(item.answer, ""),
        _when(item.close_time, item.HasField("close_time")),
    ]


def write_workbook(items: Sequence[pb.Item], path: Path, title: str = "台账") -> None:
    """The ledger as an .xlsx workbook: a header row, one row per item, oldest first."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title[:31]
    ws.append(list(COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center")
    ordered = sorted(items, key=lambda i: (i.create_time.seconds, i.create_time.nanos, i.id))
    for n, item in enumerate(ordered, start=1):
        ws.append(row(n, item))
    for i, width in enumerate(WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{len(ordered) + 1}"
    wb.save(path)
