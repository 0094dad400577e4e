"""The report's section on the affairs ledger (台账): per community and per street, concerns
raised, solved in the community, escalated, solved in the street, overdue, the residents'
satisfaction and the median days to close, as the affairs service counts them."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import grpc
from grpc import aio

from linli.v1 import affairs_pb2 as pb
from services.client import Metadata, Stubs
from services.common.protoconv import ts

log = logging.getLogger(__name__)
HEADERS = [
    "street 街道",
    "community 社区",
    "raised 受理",
    "solved in community 社区办结",
    "escalated 上报街道",
    "solved in street 街道办结",
    "overdue 超期",
    "satisfied 满意率",
    "median days 办结天数",
]


async def figures(
    stubs: Stubs, md: Metadata, since: datetime | None
) -> pb.GetLedgerFiguresResponse | None:
    """The ledger's figures for items logged since `since` (all when None), as they stand now:
    close-outs go on past the period's end. None when the affairs service is not there (a system
    without it still has its report)."""
    request = pb.GetLedgerFiguresRequest(start_time=ts(since))
    try:
        reply = await stubs.affairs.GetLedgerFigures(request, metadata=md, timeout=30)
    except LookupError:
        return None
    except aio.AioRpcError as e:
        if e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise
        log.warning("the affairs service is not reachable: the report leaves the ledger out")
        return None
    return reply  # type: ignore[no-any-return]


def _row(f: pb.LedgerFigures, street: str, community: str) -> list[Any]:
    return [
        street,
        community,
        f.raised,
        f.solved_in_community,
        f.escalated,
        f.solved_in_street,
        f.overdue,
        f"{f.satisfaction_rate * 100:.0f} %" if f.closed or f.satisfaction_rate else "–",
        f"{f.median_days_to_close:.1f}" if f.closed else "–",
    ]


def rows(
    ledger: pb.GetLedgerFiguresResponse, streets: dict[str, str], communities: dict[str, str]
) -> list[list[Any]]:
    """One row per community, then one per street, then the whole."""
    out = [
        _row(f, streets.get(f.street_id, f.street_id), communities.get(f.scope_id, f.scope_id))
        for f in ledger.communities
    ]
    out += [_row(f, streets.get(f.scope_id, f.scope_id), "all 全街道") for f in ledger.streets]
    out.append(_row(ledger.total, "all 全区", ""))
    return out
