"""The points service over real servers: confirmed hours published as the task service publishes
them (an outbox row, the relay, NATS) become points, once however often they arrive; a
correction reverses; redemption beyond the balance is refused; another community's staff are
told the member is not there; the SQL refuses to change an entry; the yearly reset on the
service's clock; erasure."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import grpc
import nats
import pytest
from grpc import aio
from nats.js import api

from linli.v1 import events_pb2, points_pb2, registry_pb2
from services.common import eventbus
from services.common.auth import Role
from services.common.settings import PointsSettings
from services.common.subjects import HOURS_CONFIRMED
from services.common.values import LOCAL_TZ
from services.points.app import PointsRuntime
from tests.conftest import Servers
from tests.integration.conftest import District, MovableClock
from tests.integration.events import KEYS, wait_for_events
from tests.integration.points_support import (
    Md,
    Member,
    balance_of,
    hours,
    publish,
    staff_md,
    until,
    until_balance,
)
from tests.support import auth, ref, request_id, token

pytestmark = pytest.mark.integration


async def test_confirmed_hours_become_points_and_a_movement_event(
    points, someone: Member, tasks_outbox: asyncpg.Pool, points_rt: PointsRuntime
) -> None:  # type: ignore[no-untyped-def]
    event = hours(someone.id, "c-any", 120, hard=True)
    await publish(tasks_outbox, event)
    await until_balance(points, someone, 300)
    js = points_rt.js
    moved = await wait_for_events(
        js,
        "linli.points.movement.award",
        lambda e: _moved(e).member_id == someone.id,
        1,
    )
    assert [(_moved(e).amount, _moved(e).source_id) for e in moved] == [(300, event.record_id)]


def _moved(env: events_pb2.EventEnvelope) -> events_pb2.PointsMoved:
    p = events_pb2.PointsMoved()
    env.payload.Unpack(p)
    return p


async def test_redelivery_and_a_republished_record_change_nothing(
    points, someone: Member, tasks_outbox: asyncpg.Pool, points_rt: PointsRuntime
) -> None:  # type: ignore[no-untyped-def]
    event = hours(someone.id, "c-any", 60)
    # The same record announced twice (two envelopes: a republish).
    await publish(tasks_outbox, event)
    await publish(tasks_outbox, event)
    await until_balance(points, someone, 100)
    # The very same message delivered again, past the stream's duplicate window.
    js = points_rt.js
    sub = await js.pull_subscribe(
        HOURS_CONFIRMED,
        stream="LINLI",
        config=api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.ALL, ack_policy=api.AckPolicy.NONE
        ),
    )
    raw = []
    while True:
        try:
            raw += await sub.fetch(500, timeout=0.5)
        except (TimeoutError, nats.errors.TimeoutError):
            break
    await sub.unsubscribe()
    again = 0
    for msg in raw:
        env = eventbus.unseal(events_pb2.EventEnvelope.FromString(msg.data), KEYS)
        found = events_pb2.HoursConfirmed()
        env.payload.Unpack(found)
        if found.record_id == event.record_id:
            headers = {k: v for k, v in (msg.headers or {}).items() if k != "Nats-Msg-Id"}
            headers["Nats-Msg-Id"] = str(uuid.uuid4())
            await js.publish(msg.subject, msg.data, headers=headers)
            again += 1
    assert again == 2

    async def consumed() -> bool:
        info = await js.consumer_info("LINLI", points_rt.settings.durable)  # type: ignore[attr-defined]
        return info.num_pending == 0 and info.num_ack_pending == 0

    await until(consumed)
    assert await balance_of(points, someone) == 100
    history = await points.ListPointsMovements(
        points_pb2.ListPointsMovementsRequest(member_id=someone.id), metadata=someone.md
    )
    assert len(history.movements) == 1


async def test_a_correction_reverses_the_replaced_record(
    points, someone: Member, tasks_outbox: asyncpg.Pool
) -> None:  # type: ignore[no-untyped-def]
    first = hours(someone.id, "c-any", 120)
    await publish(tasks_outbox, first)
    await until_balance(points, someone, 200)
    await publish(tasks_outbox, hours(someone.id, "c-any", 45, supersedes=first.record_id))
    await until_balance(points, someone, 75)
    history = await points.ListPointsMovements(
        points_pb2.ListPointsMovementsRequest(member_id=someone.id), metadata=someone.staff
    )
    kinds = sorted((m.kind, m.amount) for m in history.movements)
    assert kinds == sorted(
        [
            (events_pb2.POINTS_MOVEMENT_KIND_AWARD, 200),
            (events_pb2.POINTS_MOVEMENT_KIND_REVERSAL, -200),
            (events_pb2.POINTS_MOVEMENT_KIND_AWARD, 75),
        ]
    )


async def test_redemption_beyond_the_balance_is_refused_and_a_mistake_reversed(
    points, someone: Member, tasks_outbox: asyncpg.Pool
) -> None:  # type: ignore[no-untyped-def]
    await publish(tasks_outbox, hours(someone.id, "c-any", 120))
    await until_balance(points, someone, 200)
    with pytest.raises(aio.AioRpcError) as err:
        await points.RedeemPoints(
            points_pb2.RedeemPointsRequest(
                request_id=request_id(), member_id=someone.id, amount=201, item="理发券"
            ),
            metadata=someone.staff,
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "INSUFFICIENT_POINTS" in str(err.value.trailing_metadata())
    rid = request_id()
    req = points_pb2.RedeemPointsRequest(
        request_id=rid, member_id=someone.id, amount=150, item="理发券"
    )
    done = await points.RedeemPoints(req, metadata=someone.staff)
    again = await points.RedeemPoints(req, metadata=someone.staff)
    assert done.balance == 50 and again.movement.movement_id == done.movement.movement_id
    undone = await points.ReversePoints(
        points_pb2.ReversePointsRequest(movement_id=done.movement.movement_id, reason="记错人"),
        metadata=someone.staff,
    )
    assert undone.balance == 200
    # A member may not redeem, not even their own.
    with pytest.raises(aio.AioRpcError) as err:
        await points.RedeemPoints(req, metadata=someone.md)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_another_communitys_staff_are_told_the_member_is_not_there(
    points, someone: Member, district: District, points_settings: PointsSettings
) -> None:  # type: ignore[no-untyped-def]
    for community in (district.neighbour, district.far):
        md = staff_md(points_settings, community)
        answers = []
        for member_id in (someone.id, str(uuid.uuid4())):
            with pytest.raises(aio.AioRpcError) as err:
                await points.GetPointsBalance(
                    points_pb2.GetPointsBalanceRequest(member_id=member_id), metadata=md
                )
            answers.append((err.value.code(), err.value.details().replace(member_id, "ID")))
        assert answers[0] == answers[1]
        assert answers[0][0] == grpc.StatusCode.NOT_FOUND
    street = auth(token(points_settings, Role.STREET_ADMIN, "street", streets=(district.street,)))
    assert (
        await points.GetPointsBalance(
            points_pb2.GetPointsBalanceRequest(member_id=someone.id), metadata=street
        )
    ).balance == 0


async def test_bad_input_names_the_field(points, someone: Member) -> None:  # type: ignore[no-untyped-def]
    for req, field in (
        (points_pb2.RedeemPointsRequest(member_id=someone.id, amount=1, item="x"), "request_id"),
        (
            points_pb2.RedeemPointsRequest(
                request_id=request_id(), member_id=someone.id, amount=0, item="x"
            ),
            "amount",
        ),
        (
            points_pb2.RedeemPointsRequest(
                request_id=request_id(), member_id="nope", amount=1, item="x"
            ),
            "member_id",
        ),
    ):
        with pytest.raises(aio.AioRpcError) as err:
            await points.RedeemPoints(req, metadata=someone.staff)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in err.value.details()


async def test_the_sql_refuses_to_change_or_remove_an_entry(
    points, someone: Member, tasks_outbox: asyncpg.Pool, servers: Servers
) -> None:  # type: ignore[no-untyped-def]
    await publish(tasks_outbox, hours(someone.id, "c-any", 60))
    await until_balance(points, someone, 100)
    conn = await asyncpg.connect(servers.database_url, server_settings={"search_path": "points"})
    try:
        for sql in (
            "UPDATE entry SET amount = amount * 2 WHERE account = 'member:' || $1",
            "DELETE FROM entry WHERE account = 'member:' || $1",
            "UPDATE movement SET amount = 1 WHERE member_id = $1",
        ):
            with pytest.raises(asyncpg.PostgresError, match="append-only"):
                await conn.execute(sql, someone.id)
        # Nor may a movement be booked unbalanced.
        with pytest.raises(asyncpg.PostgresError, match="not balanced"):
            async with conn.transaction():
                movement = uuid.uuid4()
                await conn.execute(
                    "INSERT INTO movement (id, kind, member_id, community_id, amount, source_id,"
                    " reason, booked_at) VALUES ($1, 'award', $2, 'c', 100, $3, 'x', now())",
                    movement,
                    someone.id,
                    str(uuid.uuid4()),
                )
                await conn.execute(
                    "INSERT INTO entry VALUES ($1, 'member:' || $2, 100), ($1, 'community:c', -99)",
                    movement,
                    someone.id,
                )
    finally:
        await conn.close()
    assert await balance_of(points, someone) == 100


async def test_the_year_end_resets_balances_once_on_the_services_clock(
    points,
    someone: Member,
    tasks_outbox: asyncpg.Pool,
    points_clock: MovableClock,
    points_rt: PointsRuntime,
) -> None:  # type: ignore[no-untyped-def]
    await publish(tasks_outbox, hours(someone.id, "c-any", 90))
    await until_balance(points, someone, 150)
    now = datetime.now(UTC)
    next_year = datetime(now.astimezone(LOCAL_TZ).year + 1, 1, 1, 0, 1, tzinfo=LOCAL_TZ)
    points_clock.offset = next_year - now
    try:
        await until_balance(points, someone, 0)
        store = points_rt.points.store

        async def marked() -> bool:
            return await store.year_done(next_year.year)

        await until(marked)
        history = await points.ListPointsMovements(
            points_pb2.ListPointsMovementsRequest(member_id=someone.id), metadata=someone.md
        )
        resets = [m for m in history.movements if m.kind == events_pb2.POINTS_MOVEMENT_KIND_RESET]
        assert [m.amount for m in resets] == [-150]
        # Points earned in the new year stay.
        await publish(tasks_outbox, hours(someone.id, "c-any", 60))
        await until_balance(points, someone, 100)
        await asyncio.sleep(0.5)  # a few more turns of the loop
        assert await balance_of(points, someone) == 100
    finally:
        points_clock.offset = type(points_clock.offset)()


async def test_community_points_for_its_staff(
    points, someone: Member, tasks_outbox: asyncpg.Pool, district: District, points_settings
) -> None:  # type: ignore[no-untyped-def]
    community = ref("c")
    await publish(tasks_outbox, hours(someone.id, community, 60))
    md = staff_md(points_settings, community)

    async def issued() -> bool:
        r = await points.GetCommunityPoints(
            points_pb2.GetCommunityPointsRequest(community_id=community), metadata=md
        )
        return r.issued == 100 and r.outstanding == 100 and r.members_with_points == 1

    await until(issued)
    with pytest.raises(aio.AioRpcError) as err:
        await points.GetCommunityPoints(
            points_pb2.GetCommunityPointsRequest(community_id=community), metadata=someone.staff
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_an_erased_member_is_forgotten_and_the_ledger_stays_balanced(
    points, stub, admin: Md, someone: Member, tasks_outbox: asyncpg.Pool, district: District
) -> None:  # type: ignore[no-untyped-def]
    community = ref("c")
    await publish(tasks_outbox, hours(someone.id, community, 60))
    await until_balance(points, someone, 100)
    export = await points.ExportMemberData(
        points_pb2.PointsServiceExportMemberDataRequest(member_id=someone.id), metadata=someone.md
    )
    assert export.part.service == "points" and community in export.part.data_json
    await stub.EraseMember(
        registry_pb2.EraseMemberRequest(member_id=someone.id, reason="本人申请注销"),
        metadata=admin,
    )

    async def forgotten() -> bool:
        try:
            await points.GetPointsBalance(
                points_pb2.GetPointsBalanceRequest(member_id=someone.id), metadata=someone.staff
            )
        except aio.AioRpcError as e:
            return e.code() == grpc.StatusCode.NOT_FOUND
        return False

    await until(forgotten)
    # The community's account still owes what was earned: the entries stay, balanced.
    totals = await points.GetCommunityPoints(
        points_pb2.GetCommunityPointsRequest(community_id=community), metadata=admin
    )
    assert (totals.issued, totals.outstanding) == (100, 100)
