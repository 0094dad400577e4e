"""The points service for integration tests: its runtime on a movable clock, a stub, an outbox
as the task service's (with its relay to the stream), members known to it, and tokens."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from grpc import aio

from linli.v1 import events_pb2, points_pb2, points_pb2_grpc, registry_pb2
from services.common import eventbus, migrations
from services.common.auth import Role
from services.common.db import create_pool
from services.common.protoconv import ts
from services.common.settings import PointsSettings, Settings
from services.common.settings.points import PointsRules
from services.common.subjects import HOURS_CONFIRMED
from services.points.app import PointsRuntime, build
from tests.conftest import Servers

if TYPE_CHECKING:  # the integration conftest imports this module's fixtures
    from tests.integration.conftest import District, MovableClock
from tests.integration.events import KEYS
from tests.support import auth, member_proto, ref, request_id, token

Md = tuple[tuple[str, str], ...]


async def until(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def points_clock() -> MovableClock:
    from tests.integration.conftest import MovableClock

    return MovableClock()


@pytest.fixture(scope="module")
def points_settings() -> PointsSettings:
    return PointsSettings(
        grpc_port=0,
        health_check_interval_s=0.2,
        year_end_check_s=0.2,
        points=PointsRules(year_end="reset"),
    )


@pytest.fixture(scope="module")
async def points_rt(
    servers: Servers,
    points_settings: PointsSettings,
    points_clock: MovableClock,
    district: District,
) -> AsyncIterator[PointsRuntime]:
    rt = build(points_settings, servers.database_url, servers.nats_url, clock=points_clock)
    await rt.start()
    yield rt
    await rt.stop(grace=1.0)


@pytest.fixture(scope="module")
async def points(points_rt: PointsRuntime) -> AsyncIterator[points_pb2_grpc.PointsServiceStub]:
    async with aio.insecure_channel(f"127.0.0.1:{points_rt.port}") as ch:
        yield points_pb2_grpc.PointsServiceStub(ch)


@pytest.fixture(scope="module")
async def tasks_outbox(
    servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[asyncpg.Pool]:
    """An outbox as the task service's, with its relay to the stream: what is written here
    reaches the points service as the task service's events do."""
    name = ref("hours").replace("-", "_")
    empty = tmp_path_factory.mktemp("hours-migrations")
    pool = await create_pool(Settings(service_name="tasks"), servers.database_url, name)
    async with pool.acquire() as conn:
        await migrations.apply(conn, name, Path(empty))
    nc = await eventbus.connect(servers.nats_url, "hours-test")
    relay = eventbus.OutboxRelay(pool, nc.jetstream(), schema=name, keys=KEYS, idle_poll_s=0.05)
    running = asyncio.ensure_future(relay.run())
    yield pool
    relay.stop()
    await asyncio.wait_for(running, 10)
    await nc.drain()
    await pool.close()


@pytest.fixture(scope="module")
def admin_md(points_settings: PointsSettings) -> Md:
    return auth(token(points_settings, Role.DISTRICT_ADMIN, "district-admin"))


def staff_md(settings: PointsSettings, community: str) -> Md:
    return auth(
        token(settings, Role.COMMUNITY_STAFF, f"staff-{community}", communities=(community,))
    )


def member_md(settings: PointsSettings, member_id: str) -> Md:
    return auth(token(settings, Role.MEMBER, member_id))


async def register(stub, admin: Md, community: str, grid: str) -> str:  # type: ignore[no-untyped-def]
    m = await stub.RegisterMember(
        registry_pb2.RegisterMemberRequest(
            request_id=request_id(), member=member_proto(community, grid)
        ),
        metadata=admin,
    )
    return m.member.id  # type: ignore[no-any-return]


def hours(
    member_id: str, community: str, minutes: int, *, supersedes: str = "", hard: bool = False
) -> events_pb2.HoursConfirmed:
    return events_pb2.HoursConfirmed(
        record_id=str(uuid.uuid4()),
        supersedes_record_id=supersedes,
        task_id=str(uuid.uuid4()),
        member_id=member_id,
        community_id=community,
        street_id="s",
        category="elderly",
        minutes=minutes,
        scheduled_minutes=180,
        evidence=events_pb2.HOURS_EVIDENCE_CODE_AND_PLACE,
        hard_to_fill=hard,
        occurred_time=ts(datetime.now(UTC)),
    )


async def publish(pool: asyncpg.Pool, *payloads: events_pb2.HoursConfirmed) -> None:
    outbox = eventbus.Outbox("tasks")
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add_many(conn, [(HOURS_CONFIRMED, p) for p in payloads], None)


class Member:
    def __init__(self, id: str, md: Md, staff: Md) -> None:
        self.id, self.md, self.staff = id, md, staff


@pytest.fixture
async def someone(
    stub, admin: Md, district: District, points_settings: PointsSettings, points_rt: PointsRuntime
) -> Member:  # type: ignore[no-untyped-def]
    """A member of the district's community, known to the points service."""
    member_id = await register(stub, admin, district.community, district.grid)

    async def known() -> bool:
        return await points_rt.points.store.member(member_id) is not None

    await until(known)
    return Member(
        member_id,
        member_md(points_settings, member_id),
        staff_md(points_settings, district.community),
    )


async def balance_of(points, m: Member) -> int:  # type: ignore[no-untyped-def]
    r = await points.GetPointsBalance(
        points_pb2.GetPointsBalanceRequest(member_id=m.id), metadata=m.md
    )
    return r.balance  # type: ignore[no-any-return]


async def until_balance(points, m: Member, expected: int) -> None:  # type: ignore[no-untyped-def]
    async def reached() -> bool:
        return await balance_of(points, m) == expected

    await until(reached)
