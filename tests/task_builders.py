"""Builders for tests of the task service's store and use cases: a neighbourhood of unique ids,
members in it, and valid wishes and roles whose times lie ahead of a given moment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.common.auth import Principal, Role
from services.common.values import Beneficiary, LatLng, TimeWindow
from services.tasks.domain import (
    MemberView,
    OneOffSchedule,
    RequiredSkill,
    RoleDraft,
    WeeklySchedule,
    WishDraft,
)
from services.tasks.store import TaskStorePort

STATION = LatLng(36.9648, 117.1602)
SERVICE = Principal("app-backend", Role.SERVICE)


@dataclass(frozen=True)
class Hood:
    """A community (and its street) of unique ids, so that tests never meet each other's data."""

    community: str
    street: str
    unit: str

    @property
    def staff(self) -> Principal:
        return Principal(
            f"staff-{self.community}", Role.COMMUNITY_STAFF, frozenset({self.community})
        )


async def new_hood(store: TaskStorePort, street: str | None = None) -> Hood:
    tag = uuid.uuid4().hex[:8]
    hood = Hood(f"c-{tag}", street or f"s-{tag}", f"u-{tag}")
    async with store.transaction() as conn:
        await store.apply_community(conn, hood.community, hood.street, STATION)
        await store.apply_unit(conn, hood.unit, hood.community)
    return hood


async def new_member(
    store: TaskStorePort,
    hood: Hood | None,
    *,
    active: bool = True,
    version: datetime | None = None,
    member_id: str | None = None,
) -> str:
    """A member reported in to `hood` (None: not reported in anywhere)."""
    member_id = member_id or str(uuid.uuid4())
    view = MemberView(
        member_id,
        hood.community if hood else None,
        hood.street if hood else None,
        active,
        hood is not None,
    )
    async with store.transaction() as conn:
        await store.apply_member(
            conn,
            view,
            skills="[]",
            availability="[]",
            hours_per_month=8,
            home=STATION,
            version=version or datetime.now().astimezone(),
        )
    return member_id


def fixed(start: datetime, hours: float = 2) -> TimeWindow:
    return TimeWindow(start, start + timedelta(hours=hours))


def wish(hood: Hood, window: TimeWindow, **changes: object) -> WishDraft:
    """A valid wish: groceries for an elderly resident, at `window`."""
    draft = WishDraft(
        community_id=hood.community,
        title="为独居老人代买蔬菜",
        description="需要每周买一次菜。",
        beneficiary=Beneficiary.ELDERLY,
        location=STATION,
        address="清华园3号楼2单元401",
        skills=(RequiredSkill("errands", 1),),
        headcount=1,
        window=window,
        effort_hours=1.5,
    )
    return replace(draft, **changes)  # type: ignore[arg-type]


def role(hood: Hood, schedule: WeeklySchedule | OneOffSchedule, **changes: object) -> RoleDraft:
    """A valid volunteer role: tutoring at the 4:30 school, on `schedule`."""
    draft = RoleDraft(
        community_id=hood.community,
        unit_id=hood.unit,
        title="四点半学校课业辅导",
        description="放学后辅导小学生完成作业。",
        beneficiary=Beneficiary.CHILD,
        location=STATION,
        skills=(RequiredSkill("tutoring", 2),),
        headcount=3,
        effort_hours=1.5,
        schedule=schedule,
        street_wide=False,
    )
    return replace(draft, **changes)  # type: ignore[arg-type]
