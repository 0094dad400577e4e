"""The report's points section (积分): per community, the points its account has issued, what its
members redeemed, and how many hold points, to date."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from grpc import aio

from linli.v1 import points_pb2
from services.client import Metadata, Stubs, gather

if TYPE_CHECKING:  # the page's data, which holds this section's rows
    from services.report.data import Data

# A system without the points service (or a caller it does not answer) gets a report without
# the section, rather than no report.
_ABSENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.NOT_FOUND)


async def collect(
    stubs: Stubs, md: Metadata, community_ids: list[str]
) -> list[points_pb2.GetCommunityPointsResponse]:
    try:
        points = stubs.points
    except LookupError:
        return []

    async def one(c: str) -> points_pb2.GetCommunityPointsResponse | None:
        try:
            return await points.GetCommunityPoints(  # type: ignore[no-any-return]
                points_pb2.GetCommunityPointsRequest(community_id=c), metadata=md, timeout=10
            )
        except aio.AioRpcError as e:
            if e.code() in _ABSENT or e.code() == grpc.StatusCode.PERMISSION_DENIED:
                return None
            raise

    found = await gather(community_ids, one, 4)
    return [f for f in found if f is not None]


def render(d: Data) -> str:
    """The section's HTML ("" when the points service gave nothing)."""
    from services.report.render import esc, table

    if not d.points:
        return ""
    names = {c.id: c.name for c in d.communities}
    rows = [
        [
            esc(names.get(p.community_id, p.community_id)),
            esc(p.community_id),
            f"{p.issued / 100:,.2f}",
            f"{p.redeemed / 100:,.2f}",
            f"{p.outstanding / 100:,.2f}",
            f"{p.members_with_points:,}",
        ]
        for p in d.points
    ]
    headers = ["community", "id", "earned", "redeemed", "held", "members with points"]
    return (
        '<h2>Points 积分</h2>\n<p class="muted">To date, in points: earned by confirmed hours '
        "(net of corrections), redeemed at the service station, held now.</p>\n"
        + table(headers, rows, "points")
    )
