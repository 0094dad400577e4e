"""A registry on the in-memory store, an organisation in it, and callers of each role."""

from __future__ import annotations

from dataclasses import dataclass, replace

from services.common.auth import Principal, Role
from services.common.settings import RegistrySettings
from services.common.sms.dev import LogSms
from services.common.values import LatLng, WeeklyWindow
from services.registry.domain.member import Member, MemberData
from services.registry.domain.org import Community, Grid, Street, Unit
from services.registry.service import Registry
from services.registry.store.memory import MemoryRegistryStore
from tests.support import phone, ref, request_id

ADMIN = Principal("district-admin", Role.DISTRICT_ADMIN)
HOME = LatLng(36.98, 117.17)


@dataclass(frozen=True)
class World:
    registry: Registry
    store: MemoryRegistryStore
    sms: LogSms
    street: str
    other_street: str
    community: str
    grid: str
    neighbour: str  # another community of the same street
    neighbour_grid: str
    far: str  # a community of the other street
    far_grid: str

    @property
    def staff(self) -> Principal:
        return Principal(ref("staff"), Role.COMMUNITY_STAFF, frozenset({self.community}))

    @property
    def street_admin(self) -> Principal:
        return Principal(ref("street"), Role.STREET_ADMIN, street_ids=frozenset({self.street}))

    def data(self, **changes: object) -> MemberData:
        d = MemberData(
            name="测试·张伟",
            phone=phone(),
            home=HOME,
            unit_id=None,
            skills=(("tutoring", 2),),
            availability=(WeeklyWindow(6, 480, 720),),
            hours_per_month=10,
            community_id=self.community,
            grid_id=self.grid,
        )
        return replace(d, **changes)  # type: ignore[arg-type]

    async def member(self, **changes: object) -> Member:
        member, _ = await self.registry.register(ADMIN, request_id(), self.data(**changes))
        return member


async def world(settings: RegistrySettings | None = None) -> World:
    store = MemoryRegistryStore()
    sms = LogSms()
    registry = Registry(store, settings or RegistrySettings(), sms)
    ids = {k: ref(k[:1]) for k in ("s", "os", "c", "g", "n", "ng", "f", "fg")}
    await store.write_org(
        [
            Street(ids["s"], "济阳街道"),
            Street(ids["os"], "济北街道"),
            Community(ids["c"], "滨湖社区", ids["s"], HOME),
            Community(ids["n"], "银山社区", ids["s"], HOME),
            Community(ids["f"], "华阳社区", ids["os"], HOME),
            Grid(ids["g"], "第一网格", ids["c"], HOME, 300),
            Grid(ids["ng"], "第一网格", ids["n"], HOME, 300),
            Grid(ids["fg"], "第一网格", ids["f"], HOME, 300),
            Unit(ref("u"), "单位", "enterprise", ids["c"]),
        ],
        ADMIN,
    )
    return World(
        registry,
        store,
        sms,
        ids["s"],
        ids["os"],
        ids["c"],
        ids["g"],
        ids["n"],
        ids["ng"],
        ids["f"],
        ids["fg"],
    )
