"""The affairs service running in this process on a free port, on a clock of its own that tests
move (the overdue sweep runs when a test calls it), and a street for its tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from grpc import aio

from linli.v1 import affairs_pb2 as pb
from linli.v1 import affairs_pb2_grpc, registry_pb2
from linli.v1.registry_pb2_grpc import RegistryServiceStub
from services.affairs.app import AffairsRuntime, build
from services.common.auth import Role
from services.common.settings import AffairsSettings
from tests.conftest import Servers
from tests.integration.conftest import MovableClock
from tests.integration.tasks_support import until
from tests.support import auth, ref, request_id, token

Metadata = tuple[tuple[str, str], ...]


@dataclass
class Street:
    """A street of two communities, another street, and who acts in them."""

    street: str
    home: str
    home_grid: str
    neighbour: str
    far_street: str
    far: str
    unit: str
    staff: Metadata
    neighbour_staff: Metadata
    far_staff: Metadata
    street_admin: Metadata
    far_admin: Metadata
    admin: Metadata
    handler: Metadata  # the account at the paired unit the street routes to
    handler_subject: str
    member: Metadata


@pytest.fixture(scope="module")
def affairs_clock() -> MovableClock:
    return MovableClock()


@pytest.fixture(scope="module")
def affairs_settings() -> AffairsSettings:
    # The sweep runs when a test calls it, so that tests decide when time passes.
    return AffairsSettings(grpc_port=0, overdue_sweep_s=3600, health_check_interval_s=0.2)


@pytest.fixture(scope="module")
async def affairs_rt(
    servers: Servers, affairs_settings: AffairsSettings, affairs_clock: MovableClock
) -> AsyncIterator[AffairsRuntime]:
    rt = build(affairs_settings, servers.database_url, servers.nats_url, clock=affairs_clock)
    await rt.start()
    yield rt
    await rt.stop(grace=1.0)


@pytest.fixture(scope="module")
async def affairs(affairs_rt: AffairsRuntime) -> AsyncIterator[affairs_pb2_grpc.AffairsServiceStub]:
    async with aio.insecure_channel(f"127.0.0.1:{affairs_rt.port}") as ch:
        yield affairs_pb2_grpc.AffairsServiceStub(ch)


async def make_street(
    registry: RegistryServiceStub, affairs_rt: AffairsRuntime, settings: AffairsSettings
) -> Street:
    street, home, neighbour, far_street, far = ref("st"), ref("c"), ref("c"), ref("st"), ref("c")
    grid, unit = ref("g"), ref("u")
    admin = auth(token(settings, Role.DISTRICT_ADMIN, "district-admin"))
    await registry.ImportDistrict(
        registry_pb2.ImportDistrictRequest(
            content=f"""
streets:
  - id: {street}
    name: 台账测试街道
    communities:
      - id: {home}
        name: 城里社区
        station: {{lat: 36.980, lng: 117.170}}
        grids:
          - {{id: {grid}, name: 一, center: {{lat: 36.981, lng: 117.171}}, radius_m: 300}}
      - id: {neighbour}
        name: 邻社区
        station: {{lat: 36.990, lng: 117.180}}
        grids:
          - {{id: {ref("g")}, name: 一, center: {{lat: 36.99, lng: 117.18}}, radius_m: 300}}
  - id: {far_street}
    name: 另一街道
    communities:
      - id: {far}
        name: 远社区
        station: {{lat: 36.960, lng: 117.150}}
        grids:
          - {{id: {ref("g")}, name: 一, center: {{lat: 36.96, lng: 117.15}}, radius_m: 300}}
units:
  - {{id: {unit}, name: 区住建局, kind: government, community: {home}}}
"""
        ),
        metadata=admin,
    )
    store = affairs_rt.affairs.store

    async def known() -> bool:
        return all([await store.street_of(c) for c in (home, neighbour, far)])

    await until(known)
    handler_subject = ref("unit-account")

    def staff(subject: str, community: str) -> Metadata:
        return auth(token(settings, Role.COMMUNITY_STAFF, subject, communities=(community,)))

    return Street(
        street=street,
        home=home,
        home_grid=grid,
        neighbour=neighbour,
        far_street=far_street,
        far=far,
        unit=unit,
        staff=staff(ref("staff"), home),
        neighbour_staff=staff(ref("staff"), neighbour),
        far_staff=staff(ref("staff"), far),
        street_admin=auth(token(settings, Role.STREET_ADMIN, ref("sa"), streets=(street,))),
        far_admin=auth(token(settings, Role.STREET_ADMIN, ref("sa"), streets=(far_street,))),
        admin=admin,
        handler=staff(handler_subject, ref("c")),
        handler_subject=handler_subject,
        member=auth(token(settings, Role.MEMBER, ref("m"), communities=(home,))),
    )


def concern(
    community: str,
    grid: str,
    *,
    summary: str = "3号楼楼道灯坏了",
    category: int = pb.ITEM_CATEGORY_HOUSING,
    urgency: int = pb.ITEM_URGENCY_NORMAL,
    phone: str = "19900004444",
) -> pb.Item:
    return pb.Item(
        community_id=community,
        grid_id=grid,
        summary=summary,
        category=category,  # type: ignore[arg-type]
        urgency=urgency,  # type: ignore[arg-type]
        place="清华园小区3号楼",
        source="grid",
        contact=pb.Contact(name="测试·孙丽", phone=phone),
    )


async def log(stub: affairs_pb2_grpc.AffairsServiceStub, md: Metadata, item: pb.Item) -> pb.Item:
    reply = await stub.CreateItem(
        pb.CreateItemRequest(request_id=request_id(), item=item), metadata=md
    )
    return reply.item
