"""The month's points (积分): once staff confirmed the hours, members hold points; at a few
communities' service stations staff record a redemption or two (a haircut voucher, a bag of
rice), as the district's points schemes do."""

from __future__ import annotations

import asyncio
import random
import uuid

from grpc import aio

from dev.cast import Month, People
from linli.v1 import points_pb2, registry_pb2
from services.client import Stubs, gather

# What a community's service station offers for points, and its price in hundredths of a point.
ITEMS = (("理发券", 300), ("大米一袋", 500), ("洗衣液", 200), ("图书一本", 400))
# How long the points service may take to book the month's confirmed hours.
SETTLE_S = 20.0
# Members whose balance is asked (the first by id): enough for a few stations' redemptions.
SAMPLE = 400


async def balances(stubs: Stubs, actors: People, month: Month) -> dict[str, int]:
    """Balances of a sample of members, asked as staff of their community."""
    members = sorted((m for m in month.members.values() if m.community_id), key=lambda m: m.id)
    members = members[:SAMPLE]

    async def one(m: registry_pb2.Member) -> tuple[str, int]:
        member_id, community = m.id, m.community_id
        try:
            got = await stubs.points.GetPointsBalance(
                points_pb2.GetPointsBalanceRequest(member_id=member_id),
                metadata=actors.staff(community),
            )
        except aio.AioRpcError:
            return member_id, 0
        return member_id, got.balance

    return dict(await gather(members, one, 8))


async def redeem_some(stubs: Stubs, actors: People, month: Month, rng: random.Random) -> int:
    """Wait for the month's hours to become points, then redeem at a few stations; returns how
    many redemptions were recorded (none when nobody holds enough)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_S
    held: dict[str, int] = {}
    while loop.time() < deadline:
        held = {m: b for m, b in (await balances(stubs, actors, month)).items() if b > 0}
        if held:
            break
        await asyncio.sleep(2.0)
    done = 0
    by_community: dict[str, list[str]] = {}
    for member_id in sorted(held):
        by_community.setdefault(month.members[member_id].community_id, []).append(member_id)
    for community in sorted(by_community)[:4]:
        item, price = rng.choice(ITEMS)
        rich = [m for m in by_community[community] if held[m] >= price]
        for member_id in rich[:2]:
            await stubs.points.RedeemPoints(
                points_pb2.RedeemPointsRequest(
                    request_id=str(uuid.uuid4()), member_id=member_id, amount=price, item=item
                ),
                metadata=actors.staff(community),
            )
            done += 1
    return done
