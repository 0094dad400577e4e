"""A neighbourhood for task tests: a street with two communities, members reported in to them
through the registry, and the task service's read model caught up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from google.protobuf import timestamp_pb2

from linli.v1 import common_pb2, registry_pb2, tasks_pb2
from linli.v1.registry_pb2_grpc import RegistryServiceStub
from services.common.auth import Role
from services.common.runtime import ServiceRuntime
from services.common.settings import Settings
from tests.support import auth, member_proto, ref, request_id, token

Metadata = tuple[tuple[str, str], ...]


@dataclass
class Neighbourhood:
    street: str
    home: str  # the community most tests work in
    home_grid: str
    other: str  # another community of the same street
    other_grid: str
    staff: Metadata
    other_staff: Metadata
    street_admin: Metadata
    admin: Metadata
    service: Metadata
    members: list[str] = field(default_factory=list)  # reported in to `home`
    outsiders: list[str] = field(default_factory=list)  # reported in to `other`
    settings: Settings | None = None
    unit: str = ""  # a unit paired with `home`

    def as_member(self, member_id: str) -> Metadata:
        assert self.settings is not None
        return auth(token(self.settings, Role.MEMBER, member_id))


def stamp(when: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(when)
    return out


def window(start: datetime, hours: float = 2.0, flexible: bool = False) -> tasks_pb2.TimeWindow:
    return tasks_pb2.TimeWindow(
        start=stamp(start), end=stamp(start + timedelta(hours=hours)), flexible=flexible
    )


def soon(days: float = 2.0) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


def wish(
    community: str,
    *,
    start: datetime | None = None,
    headcount: int = 1,
    hours: float = 1.5,
    group: int = common_pb2.BENEFICIARY_GROUP_ELDERLY,
    skills: tuple[str, ...] = ("errands",),
    lat: float = 36.9805,
    lng: float = 117.1705,
    title: str = "为独居老人代购一周蔬菜",
) -> tasks_pb2.Wish:
    return tasks_pb2.Wish(
        community_id=community,
        title=title,
        description="每周六上午，送到家门口",
        beneficiary_group=group,  # type: ignore[arg-type]
        location=common_pb2.LatLng(latitude=lat, longitude=lng),
        address="清华园3号院2单元401",
        skills=[tasks_pb2.RequiredSkill(skill=s, min_level=1) for s in skills],
        headcount=headcount,
        window=window(start or soon(), hours=max(hours, 2.0)),
        effort_hours=hours,
    )


async def post(stub, md: Metadata, w: tasks_pb2.Wish) -> tasks_pb2.Task:  # type: ignore[no-untyped-def]
    reply = await stub.PostWish(
        tasks_pb2.PostWishRequest(request_id=request_id(), wish=w), metadata=md
    )
    return reply.task  # type: ignore[no-any-return]


async def until(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def matched_neighbourhood(
    registry: RegistryServiceStub,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
    settings: Settings,
    members: int = 6,
    outsiders: int = 2,
) -> Neighbourhood:
    """A neighbourhood, once the matching service's world holds its community and members."""
    hood = await make_neighbourhood(registry, tasks_rt, settings, members, outsiders)
    world = matching_rt.matching.world  # type: ignore[attr-defined]

    async def known() -> bool:
        return hood.home in world.communities and all(
            m in world.members and world.members[m].reported_in
            for m in hood.members + hood.outsiders
        )

    await until(known)
    return hood


async def make_neighbourhood(
    registry: RegistryServiceStub,
    tasks_rt: ServiceRuntime,
    settings: Settings,
    members: int = 6,
    outsiders: int = 2,
) -> Neighbourhood:
    street, home, other, unit = ref("st"), ref("c"), ref("c"), ref("u")
    home_grid, other_grid = ref("g"), ref("g")
    admin = auth(token(settings, Role.DISTRICT_ADMIN))
    await registry.ImportDistrict(
        registry_pb2.ImportDistrictRequest(
            content=f"""
streets:
  - id: {street}
    name: 任务测试街道
    communities:
      - id: {home}
        name: 本社区
        station: {{lat: 36.980, lng: 117.170}}
        grids:
          - {{id: {home_grid}, name: 一, center: {{lat: 36.981, lng: 117.171}}, radius_m: 300}}
      - id: {other}
        name: 邻社区
        station: {{lat: 36.990, lng: 117.180}}
        grids:
          - {{id: {other_grid}, name: 一, center: {{lat: 36.99, lng: 117.18}}, radius_m: 300}}
units:
  - {{id: {unit}, name: 实验小学, kind: institution, community: {home}}}
"""
        ),
        metadata=admin,
    )
    hood = Neighbourhood(
        street=street,
        home=home,
        home_grid=home_grid,
        other=other,
        other_grid=other_grid,
        staff=auth(token(settings, Role.COMMUNITY_STAFF, "staff-home", communities=(home,))),
        other_staff=auth(
            token(settings, Role.COMMUNITY_STAFF, "staff-other", communities=(other,))
        ),
        street_admin=auth(token(settings, Role.STREET_ADMIN, "street-admin", streets=(street,))),
        admin=admin,
        service=auth(token(settings, Role.SERVICE, "app-backend")),
        settings=settings,
        unit=unit,
    )
    for community, grid, bucket, n in (
        (home, home_grid, hood.members, members),
        (other, other_grid, hood.outsiders, outsiders),
    ):
        for _ in range(n):
            m = await registry.RegisterMember(
                registry_pb2.RegisterMemberRequest(
                    request_id=request_id(), member=member_proto(community, grid)
                ),
                metadata=admin,
            )
            bucket.append(m.member.id)
    store = tasks_rt.tasks.store  # type: ignore[attr-defined]

    async def known() -> bool:
        views = [await store.member_view(None, m) for m in hood.members + hood.outsiders]
        return all(v is not None and v.reported_in for v in views)

    await until(known)
    return hood
