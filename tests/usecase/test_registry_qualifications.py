"""The registry's use cases of a member's standing on the in-memory store: who may accept or
refuse a report-in, who a registration is accepted for, and the certificates of skills that
need proof, swept by the service clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.auth import Principal, Role
from services.common.errors import InvalidArgument, NotFound, PermissionDenied
from services.common.settings import RegistrySettings
from services.common.sms.dev import LogSms
from services.common.subjects import (
    CERTIFICATE_EXPIRING,
    MEMBER_UPDATED,
    REPORT_IN_ACCEPTED,
    SKILL_UNVERIFIED,
)
from services.registry.domain.member import ReportInState
from services.registry.service import Registry
from tests.support import ref, request_id
from tests.usecase.registry_support import World, world

APP = Principal("app-backend", Role.SERVICE)


def as_member(member_id: str) -> Principal:
    return Principal(member_id, Role.MEMBER)


async def self_reported(w: World) -> str:
    member, _ = await w.registry.register(
        APP, request_id(), w.data(community_id=None, grid_id=None)
    )
    reported = await w.registry.report_in(as_member(member.id), member.id, w.community, w.grid, "")
    assert reported.report_in is ReportInState.PENDING
    return member.id


async def test_registrations_by_staff_are_accepted_and_by_the_apps_backend_pending() -> None:
    w = await world()
    by_staff, _ = await w.registry.register(w.staff, request_id(), w.data())
    assert by_staff.report_in is ReportInState.ACCEPTED
    by_app, _ = await w.registry.register(APP, request_id(), w.data())
    assert by_app.report_in is ReportInState.PENDING


async def test_staff_of_the_community_accept_and_others_find_no_member() -> None:
    w = await world()
    member = await self_reported(w)
    neighbour_staff = Principal(ref("staff"), Role.COMMUNITY_STAFF, frozenset({w.neighbour}))
    with pytest.raises(NotFound):
        await w.registry.accept_report_in(neighbour_staff, member)
    with pytest.raises(PermissionDenied):
        await w.registry.accept_report_in(as_member(member), member)
    before = len(w.store.outbox)
    accepted = await w.registry.accept_report_in(w.staff, member)
    assert accepted.report_in is ReportInState.ACCEPTED
    assert [e.subject for e in w.store.outbox[before:]] == [REPORT_IN_ACCEPTED]
    queue = await w.registry.list_members(
        w.staff,
        community_id=w.community,
        grid_id="",
        skill="",
        active=None,
        after=None,
        limit=100,
        report_in=ReportInState.PENDING,
    )
    assert member not in {m.id for m, _ in queue}


async def test_a_refusal_needs_a_reason_and_the_street_admin_may_give_it() -> None:
    w = await world()
    member = await self_reported(w)
    with pytest.raises(InvalidArgument):
        await w.registry.refuse_report_in(w.street_admin, member, " ")
    refused = await w.registry.refuse_report_in(w.street_admin, member, "地址不符")
    assert refused.report_in is ReportInState.REFUSED


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_the_sweep_reminds_once_and_ends_a_certificate_at_its_expiry() -> None:
    w = await world()
    clock = Clock()
    registry = Registry(w.store, RegistrySettings(certificate_reminder_days=30), LogSms(), clock)
    member = await w.member(skills=(("driving", 2),))
    expires = clock.now + timedelta(days=40)
    await registry.verify_skill(w.staff, member.id, "driving", "C1-3701", expires)
    assert await registry.sweep_certificates() == 0
    clock.now += timedelta(days=15)
    before = len(w.store.outbox)
    assert await registry.sweep_certificates() == 1
    assert await registry.sweep_certificates() == 0
    clock.now = expires
    assert await registry.sweep_certificates() == 1
    assert [e.subject for e in w.store.outbox[before:]] == [
        CERTIFICATE_EXPIRING,
        SKILL_UNVERIFIED,
        MEMBER_UPDATED,
    ]
    assert (await w.store.get_member(member.id)).verifications == ()


async def test_a_certificate_already_expired_is_refused_by_field() -> None:
    w = await world()
    member = await w.member(skills=(("medical", 2),))
    with pytest.raises(InvalidArgument) as err:
        await w.registry.verify_skill(
            w.staff, member.id, "medical", "110101", datetime.now(UTC) - timedelta(days=1)
        )
    assert [v.field for v in err.value.violations] == ["expire_time"]
