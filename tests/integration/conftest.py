"""The registry service running in this process on a free port, and clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import nats
import pytest
from grpc import aio
from nats.aio.client import Client as NatsClient

from linli.v1 import registry_pb2_grpc
from services.common.auth import Role
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from services.registry.app import build
from tests.conftest import Servers
from tests.integration.identity_support import identity  # noqa: F401 (the fixture, for any test)
from tests.integration.points_support import (  # noqa: F401 (the fixtures, for any test)
    points,
    points_clock,
    points_rt,
    points_settings,
    someone,
    tasks_outbox,
)
from tests.support import auth, ref, token

pytestmark = pytest.mark.integration


@dataclass
class District:
    """A small organisation created once per session: two streets, three communities."""

    street: str
    other_street: str
    community: str
    grid: str
    group: str
    neighbour: str  # another community of the same street
    neighbour_grid: str
    far: str  # a community of the other street
    far_grid: str
    unit: str


@pytest.fixture(scope="session")
def settings() -> RegistrySettings:
    # Certificates are swept only when a test calls the sweep, so that tests decide when time
    # passes.
    return RegistrySettings(
        grpc_port=0,
        shutdown_grace_s=2.0,
        health_check_interval_s=0.2,
        certificate_sweep_interval_s=3600,
    )


@pytest.fixture(scope="session")
async def registry(
    servers: Servers, settings: RegistrySettings, clock: MovableClock
) -> AsyncIterator[ServiceRuntime]:
    runtime = build(settings, servers.database_url, servers.nats_url, clock=clock)
    await runtime.start()
    yield runtime
    await runtime.stop(grace=1.0)


@pytest.fixture(scope="session")
async def channel(registry: ServiceRuntime) -> AsyncIterator[aio.Channel]:
    async with aio.insecure_channel(f"127.0.0.1:{registry.port}") as ch:
        yield ch


@pytest.fixture(scope="session")
def stub(channel: aio.Channel) -> registry_pb2_grpc.RegistryServiceStub:
    return registry_pb2_grpc.RegistryServiceStub(channel)


@pytest.fixture(scope="session")
def admin(settings: RegistrySettings) -> tuple[tuple[str, str], ...]:
    return auth(token(settings, Role.DISTRICT_ADMIN, "district-admin"))


@pytest.fixture(scope="session")
async def district(
    stub: registry_pb2_grpc.RegistryServiceStub, admin: tuple[tuple[str, str], ...]
) -> District:
    d = District(
        street=ref("st"),
        other_street=ref("st"),
        community=ref("c"),
        grid=ref("g"),
        group=ref("b"),
        neighbour=ref("c"),
        neighbour_grid=ref("g"),
        far=ref("c"),
        far_grid=ref("g"),
        unit=ref("u"),
    )
    text = f"""
streets:
  - id: {d.street}
    name: 测试街道
    communities:
      - id: {d.community}
        name: 测试社区
        station: {{lat: 36.980, lng: 117.170}}
        grids:
          - id: {d.grid}
            name: 第1网格
            center: {{lat: 36.981, lng: 117.171}}
            radius_m: 200
            building_groups:
              - {{id: {d.group}, name: 1号楼, location: {{lat: 36.9812, lng: 117.1712}}}}
      - id: {d.neighbour}
        name: 邻近社区
        station: {{lat: 36.990, lng: 117.180}}
        grids:
          - id: {d.neighbour_grid}
            name: 第1网格
            center: {{lat: 36.99, lng: 117.18}}
            radius_m: 200
  - id: {d.other_street}
    name: 另一街道
    communities:
      - id: {d.far}
        name: 远方社区
        station: {{lat: 36.960, lng: 117.150}}
        grids:
          - {{id: {d.far_grid}, name: 第1网格, center: {{lat: 36.96, lng: 117.15}}, radius_m: 200}}
units:
  - {{id: {d.unit}, name: 测试小学, kind: institution, community: {d.community}}}
"""
    from linli.v1 import registry_pb2

    await stub.ImportDistrict(registry_pb2.ImportDistrictRequest(content=text), metadata=admin)
    return d


@pytest.fixture
async def nats_client(servers: Servers) -> AsyncIterator[NatsClient]:
    nc = await nats.connect(servers.nats_url)
    yield nc
    await nc.drain()


def code(err: BaseException) -> grpc.StatusCode:
    assert isinstance(err, grpc.aio.AioRpcError), err
    return err.code()


# -- the task service ------------------------------------------------------------------------------


class MovableClock:
    """The real time, plus an offset a test may move (and must move back)."""

    def __init__(self) -> None:
        from datetime import timedelta

        self.offset = timedelta()

    def __call__(self):  # type: ignore[no-untyped-def]
        from datetime import UTC, datetime

        return datetime.now(UTC) + self.offset


@pytest.fixture(scope="session")
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture(scope="session")
async def tasks_rt(
    servers: Servers, clock: MovableClock, registry: ServiceRuntime
) -> AsyncIterator[ServiceRuntime]:
    from services.common.settings import TasksSettings
    from services.tasks.app import build as build_tasks

    # Sweeps and reminders run only when a test calls them, so that tests decide when time
    # passes.
    settings = TasksSettings(
        grpc_port=0,
        sweep_interval_s=3600,
        reminder_interval_s=3600,
        proposal_ttl_s=3600,
        health_check_interval_s=0.2,
    )
    runtime = build_tasks(settings, servers.database_url, servers.nats_url, clock=clock)
    await runtime.start()
    yield runtime
    await runtime.stop(grace=1.0)


@pytest.fixture(scope="session")
async def task_channel(tasks_rt: ServiceRuntime) -> AsyncIterator[aio.Channel]:
    async with aio.insecure_channel(f"127.0.0.1:{tasks_rt.port}") as ch:
        yield ch


@pytest.fixture(scope="session")
def task_stub(task_channel: aio.Channel):  # type: ignore[no-untyped-def]
    from linli.v1 import tasks_pb2_grpc

    return tasks_pb2_grpc.TaskServiceStub(task_channel)


# -- the matching service --------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def matching_rt(
    servers: Servers, clock: MovableClock, tasks_rt: ServiceRuntime
) -> AsyncIterator[ServiceRuntime]:
    from services.common.settings import MatchingSettings
    from services.matching.app import build as build_matching

    settings = MatchingSettings(grpc_port=0, health_check_interval_s=0.2)
    runtime = build_matching(settings, servers.database_url, servers.nats_url, clock=clock)
    await runtime.start()
    yield runtime
    await runtime.stop(grace=1.0)


@pytest.fixture(scope="session")
async def match_stub(matching_rt: ServiceRuntime):  # type: ignore[no-untyped-def]
    from linli.v1 import matching_pb2_grpc

    async with aio.insecure_channel(f"127.0.0.1:{matching_rt.port}") as ch:
        yield matching_pb2_grpc.MatchingServiceStub(ch)
