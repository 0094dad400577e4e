"""Trust in the points service: generated requests to every RPC, with every kind of caller, never
break a call (never INTERNAL or UNKNOWN, small trailers); and whoever may not see a member's
points learns nothing of them, not even whether the member exists."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import grpc
import pytest
from grpc import aio

from linli.v1 import points_pb2
from services.common.auth import Role
from services.common.settings import PointsSettings
from services.points.app import PointsRuntime
from tests.integration.conftest import District
from tests.integration.points_support import Member, hours, publish, until_balance
from tests.integration.test_fuzz import (
    CONCURRENCY,
    TRAILER_LIMIT,
    Call,
    Outcome,
    _identities,
    _one_of_each,
    plan,
    send,
)
from tests.support import auth, token

pytestmark = pytest.mark.integration


async def test_no_generated_request_is_internal_or_unknown_and_errors_stay_small(
    points_rt: PointsRuntime,
    points_settings: PointsSettings,
    someone: Member,
    district: District,
    tasks_outbox: asyncpg.Pool,
    points,  # type: ignore[no-untyped-def]
) -> None:
    await publish(tasks_outbox, hours(someone.id, district.community, 120))
    await until_balance(points, someone, 200)
    place = {"member": someone.id, "community": district.community, "street": district.street}
    identities = _identities(points_settings, place)
    service = points_pb2.DESCRIPTOR.services_by_name["PointsService"]
    known = sorted(set(place.values()))
    calls = list(plan(service, known, identities))
    assert {c.method for c in calls} == {f"/{service.full_name}/{m.name}" for m in service.methods}
    gate = asyncio.Semaphore(CONCURRENCY)
    async with aio.insecure_channel(f"127.0.0.1:{points_rt.port}") as channel:
        channels = {service.full_name: channel}

        async def one(call: Call) -> Outcome:
            async with gate:
                return await send(channels, identities, call)

        outcomes = await asyncio.gather(*(one(c) for c in calls))
    broken = [o for o in outcomes if o.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)]
    assert not broken, "\n".join(_one_of_each(broken))
    assert not [o for o in outcomes if o.trailer_bytes > TRAILER_LIMIT]
    codes = {o.code for o in outcomes}
    assert {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT} <= codes


async def test_callers_without_a_right_see_the_same_answer_as_for_nobody(
    points,  # type: ignore[no-untyped-def]
    someone: Member,
    district: District,
    points_settings: PointsSettings,
) -> None:
    s = points_settings
    outsiders = {
        "another member": auth(token(s, Role.MEMBER, str(uuid.uuid4()))),
        "a neighbour community's staff": auth(
            token(s, Role.COMMUNITY_STAFF, "x", communities=(district.neighbour,))
        ),
        "another street's admin": auth(
            token(s, Role.STREET_ADMIN, "y", streets=(district.other_street,))
        ),
    }
    nobody = str(uuid.uuid4())
    for who, md in outsiders.items():
        for call, request in (
            (points.GetPointsBalance, points_pb2.GetPointsBalanceRequest),
            (points.ListPointsMovements, points_pb2.ListPointsMovementsRequest),
        ):
            answers = []
            for member_id in (someone.id, nobody):
                with pytest.raises(aio.AioRpcError) as err:
                    await call(request(member_id=member_id), metadata=md)
                details = (err.value.details() or "").replace(member_id, "<id>")
                answers.append((err.value.code(), details))
            assert answers[0] == answers[1], who
            assert answers[0][0] == grpc.StatusCode.NOT_FOUND, who
    # Staff of another community cannot redeem from, nor learn of, the member.
    with pytest.raises(aio.AioRpcError) as err:
        await points.RedeemPoints(
            points_pb2.RedeemPointsRequest(
                request_id=str(uuid.uuid4()), member_id=someone.id, amount=1, item="茶叶"
            ),
            metadata=outsiders["a neighbour community's staff"],
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
