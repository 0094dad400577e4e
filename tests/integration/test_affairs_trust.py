"""Who may see and do what in the ledger, over real servers: an item of another community is not
found exactly as a missing one; the resident's contact reaches only the community's staff and the
account the item is routed to, and is noted in the audit log when it does; the street's moves are
the street's; members reach nothing; bad input names its field and is never INTERNAL."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2

from linli.v1 import affairs_pb2 as pb
from linli.v1 import audit_pb2, audit_pb2_grpc
from services.common.settings import AffairsSettings
from tests.integration.affairs_support import (
    Street,
    affairs,
    affairs_clock,
    affairs_rt,
    affairs_settings,
    concern,
    log,
    make_street,
)
from tests.integration.errors import bad_request_fields
from tests.support import request_id

__all__ = ["affairs", "affairs_clock", "affairs_rt", "affairs_settings"]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def street(stub, affairs_rt, affairs_settings: AffairsSettings) -> Street:  # type: ignore[no-untyped-def]
    return await make_street(stub, affairs_rt, affairs_settings)


async def refusal(call) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call
    return e.value.code(), e.value.details() or ""


async def test_staff_of_another_community_get_not_found_exactly_as_for_a_missing_item(
    affairs, street: Street
) -> None:  # type: ignore[no-untyped-def]
    item = await log(affairs, street.staff, concern(street.home, street.home_grid))
    missing = str(uuid.uuid4())
    for who in (street.neighbour_staff, street.far_staff, street.far_admin):
        answers = []
        for item_id in (item.id, missing):
            code, details = await refusal(
                affairs.GetItem(pb.GetItemRequest(id=item_id), metadata=who)
            )
            answers.append((code, details.replace(item_id, "<id>")))
            code, details = await refusal(
                affairs.ResolveItem(
                    pb.ResolveItemRequest(id=item_id, request_id=request_id(), outcome="x"),
                    metadata=who,
                )
            )
            answers.append((code, details.replace(item_id, "<id>")))
        assert answers[:2] == answers[2:]
        assert {c for c, _ in answers} == {grpc.StatusCode.NOT_FOUND}
    # Nor does the ledger show it to them.
    listed = await affairs.ListItems(pb.ListItemsRequest(), metadata=street.neighbour_staff)
    assert item.id not in {i.id for i in listed.items}


async def test_the_contact_reaches_only_those_who_handle_the_item(
    affairs, street: Street, affairs_rt
) -> None:  # type: ignore[no-untyped-def]
    item = await log(affairs, street.staff, concern(street.home, street.home_grid))
    await affairs.EscalateItem(
        pb.EscalateItemRequest(id=item.id, request_id=request_id(), reason="需街道协调"),
        metadata=street.staff,
    )
    await affairs.RouteItem(
        pb.RouteItemRequest(
            id=item.id,
            request_id=request_id(),
            handler=pb.Handler(
                kind=pb.HANDLER_KIND_DEPARTMENT, name="区城管局", subject=street.handler_subject
            ),
        ),
        metadata=street.street_admin,
    )
    shown = {}
    for name, md in (
        ("staff", street.staff),
        ("handler", street.handler),
        ("street", street.street_admin),
        ("district", street.admin),
    ):
        got = (await affairs.GetItem(pb.GetItemRequest(id=item.id), metadata=md)).item
        shown[name] = (got.contact.phone, got.contact.masked)
        listed = await affairs.ListItems(pb.ListItemsRequest(community_id=street.home), metadata=md)
        [row] = [i for i in listed.items if i.id == item.id]
        assert (row.contact.phone, row.contact.masked) == shown[name]
        assert "孙丽" not in row.contact.name or not row.contact.masked
    assert shown == {
        "staff": ("19900004444", False),
        "handler": ("19900004444", False),
        "street": ("199****4444", True),
        "district": ("199****4444", True),
    }
    # Each full contact shown is in the audit log, with who saw it.
    audit = audit_pb2_grpc.AuditServiceStub(
        grpc.aio.insecure_channel(f"127.0.0.1:{affairs_rt.port}")
    )
    entries = await audit.ListAuditEntries(
        audit_pb2.ListAuditEntriesRequest(page_size=1000), metadata=street.admin
    )
    reveals = [e for e in entries.entries if e.task_id == f"item:{item.id}" and e.revealed]
    assert len(reveals) >= 4


async def test_the_streets_moves_are_the_streets_and_members_reach_nothing(
    affairs, street: Street
) -> None:  # type: ignore[no-untyped-def]
    item = await log(affairs, street.staff, concern(street.home, street.home_grid))
    await affairs.EscalateItem(
        pb.EscalateItemRequest(id=item.id, request_id=request_id(), reason="需街道协调"),
        metadata=street.staff,
    )
    route = pb.RouteItemRequest(
        id=item.id,
        request_id=request_id(),
        handler=pb.Handler(kind=pb.HANDLER_KIND_DEPARTMENT, name="区城管局"),
    )
    code, _ = await refusal(affairs.RouteItem(route, metadata=street.staff))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = await refusal(
        affairs.ReturnItem(
            pb.ReturnItemRequest(id=item.id, request_id=request_id(), guidance="自己办"),
            metadata=street.staff,
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = await refusal(
        affairs.CreateItem(
            pb.CreateItemRequest(
                request_id=request_id(), item=concern(street.home, street.home_grid)
            ),
            metadata=street.member,
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = await refusal(affairs.ListItems(pb.ListItemsRequest(), metadata=street.member))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    # Logging for a community not theirs is refused, whether or not it exists.
    for community in (street.neighbour, "c-nowhere"):
        code, _ = await refusal(
            affairs.CreateItem(
                pb.CreateItemRequest(request_id=request_id(), item=concern(community, "g")),
                metadata=street.staff,
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_bad_input_names_each_field_and_is_never_internal(affairs, street: Street) -> None:  # type: ignore[no-untyped-def]
    item = await log(affairs, street.staff, concern(street.home, street.home_grid))
    bad_item = pb.Item(
        community_id=street.home,
        grid_id="",
        summary="",
        category=pb.ITEM_CATEGORY_SAFETY,
        place="x" * 500,
        source="pigeon",
        contact=pb.Contact(name="", phone="123"),
    )
    staff, street_md = street.staff, street.street_admin
    cases = [
        (
            affairs.CreateItem(pb.CreateItemRequest(item=bad_item), metadata=staff),
            {
                "request_id",
                "item.grid_id",
                "item.summary",
                "item.urgency",
                "item.place",
                "item.source",
                "item.contact.name",
                "item.contact.phone",
            },
        ),
        (
            affairs.CreateItem(
                pb.CreateItemRequest(
                    request_id=request_id(),
                    item=pb.Item(community_id=street.home, category=99),  # type: ignore[arg-type]
                ),
                metadata=staff,
            ),
            {"item.category"},
        ),
        (affairs.GetItem(pb.GetItemRequest(id="not-an-id"), metadata=staff), {"id"}),
        (affairs.GetItem(pb.GetItemRequest(), metadata=staff), {"id"}),
        (
            affairs.ResolveItem(
                pb.ResolveItemRequest(id=item.id, request_id=request_id()), metadata=staff
            ),
            {"outcome"},
        ),
        (
            affairs.RecordResidentAnswer(
                pb.RecordResidentAnswerRequest(id=item.id, request_id=request_id()),
                metadata=staff,
            ),
            {"answer"},
        ),
        (
            affairs.UpdateItem(
                pb.UpdateItemRequest(
                    item=pb.Item(id=item.id),
                    update_mask=field_mask_pb2.FieldMask(paths=["stage"]),
                    request_id=request_id(),
                ),
                metadata=staff,
            ),
            {"update_mask.paths"},
        ),
        (
            affairs.ListItems(pb.ListItemsRequest(page_token="forged"), metadata=staff),
            {"page_token"},
        ),
        (
            affairs.MergeItems(
                pb.MergeItemsRequest(request_id=request_id(), into_id=item.id, item_ids=["x"]),
                metadata=street_md,
            ),
            {"item_ids[0]"},
        ),
        (
            affairs.AssignItem(pb.AssignItemRequest(id=item.id, assignee="a"), metadata=staff),
            {"request_id"},
        ),
    ]
    for call, fields in cases:
        assert fields <= set(await _bad(call))


async def _bad(call) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
    return bad_request_fields(e.value)


async def test_no_log_line_of_the_ledger_holds_a_residents_name_or_phone(
    affairs, street: Street
) -> None:  # type: ignore[no-untyped-def]
    import io
    import logging

    from services.common import logs

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.formatter("affairs", "json"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        item = await log(
            affairs, street.staff, concern(street.home, street.home_grid, phone="19900007777")
        )
        await affairs.GetItem(pb.GetItemRequest(id=item.id), metadata=street.staff)
        await refusal(
            affairs.CreateItem(
                pb.CreateItemRequest(
                    request_id=request_id(),
                    item=pb.Item(contact=pb.Contact(name="测试·孙丽", phone="19900007777")),
                ),
                metadata=street.staff,
            )
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    text = out.getvalue()
    assert text and "19900007777" not in text and "孙丽" not in text
