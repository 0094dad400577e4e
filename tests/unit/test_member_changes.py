"""Each change of a member (services/registry/domain/member.py): the member after it and the
event that announces it, nothing when there is nothing to change, or the rule it breaks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.settings import Bounds
from services.common.values import LatLng, WeeklyWindow
from services.registry.domain import member as rules
from services.registry.domain.member import (
    Member,
    MemberData,
    MemberDeactivated,
    MemberReactivated,
    MemberReportedIn,
    MemberUpdated,
    ReportInState,
)
from services.registry.domain.org import Placement

BOUNDS = Bounds(min_lat=36.90, min_lng=117.05, max_lat=37.06, max_lng=117.30)
THEN = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def a_member(active: bool = True, reported_in: bool = True) -> Member:
    data = MemberData(
        name="测试·王芳",
        phone="17000000001",
        home=LatLng(36.9648, 117.1602),
        unit_id=None,
        skills=(("tutoring", 2),),
        availability=(WeeklyWindow(6, 480, 720),),
        hours_per_month=10,
        community_id="binhu",
        grid_id="binhu-g01",
        building_group_id=None,
    )
    return Member(
        id="0b4f6c1e-6f1d-4c55-9a43-4a9b5c0e2f11",
        data=data,
        active=active,
        street_id="jiyang",
        reported_in_at=THEN if reported_in else None,
        created_at=THEN,
        updated_at=THEN,
        deactivation_reason="" if active else "搬家",
        report_in=ReportInState.ACCEPTED if reported_in else ReportInState.NONE,
    )


def test_an_update_sets_the_named_fields_and_announces_them_sorted() -> None:
    m = a_member()
    new = replace(m.data, hours_per_month=30, name=" 测试·李娜 ")
    changed = rules.update(m, new, ["name", "hours_per_month"], BOUNDS)
    assert changed.member.data == replace(m.data, hours_per_month=30, name="测试·李娜")
    assert changed.event == MemberUpdated(("hours_per_month", "name"))


def test_a_deactivated_member_is_neither_updated_nor_reported_in_nor_given_a_phone() -> None:
    m = a_member(active=False)
    for change in (
        lambda: rules.update(m, m.data, ["hours_per_month"], BOUNDS),
        lambda: rules.report_in(m, Placement("yinshan", "yinshan-g01", None)),
        lambda: rules.change_phone(m, "17000000002"),
    ):
        with pytest.raises(FailedPrecondition) as err:
            change()
        assert err.value.reason == "MEMBER_DEACTIVATED"


def test_an_update_breaking_a_rule_names_the_field() -> None:
    m = a_member()
    with pytest.raises(InvalidArgument) as err:
        rules.update(m, replace(m.data, hours_per_month=999), ["hours_per_month"], BOUNDS)
    assert [v.field for v in err.value.violations] == ["member.hours_per_month"]


def test_a_confirmed_phone_change_is_an_update_of_the_phone() -> None:
    changed = rules.change_phone(a_member(), "17000000002")
    assert changed.member.data.phone == "17000000002"
    assert changed.event == MemberUpdated(("phone",))


def test_reporting_in_moves_the_member_and_again_to_the_same_place_changes_nothing() -> None:
    m = a_member()
    changed = rules.report_in(m, Placement("yinshan", "yinshan-g01", "yinshan-g01-b01"))
    assert changed is not None and changed.event == MemberReportedIn()
    d = changed.member.data
    assert (d.community_id, d.grid_id, d.building_group_id) == (
        "yinshan",
        "yinshan-g01",
        "yinshan-g01-b01",
    )
    assert rules.report_in(m, Placement("binhu", "binhu-g01", None)) is None


def test_a_member_registered_into_a_place_reports_in_there_for_the_first_time() -> None:
    m = a_member(reported_in=False)
    changed = rules.report_in(m, Placement("binhu", "binhu-g01", None))
    assert changed is not None and changed.member.data == m.data


def test_deactivation_keeps_the_reason_and_happens_once() -> None:
    changed = rules.deactivate(a_member(), "工作调动")
    assert changed is not None
    assert not changed.member.active and changed.member.deactivation_reason == "工作调动"
    assert changed.event == MemberDeactivated("工作调动")
    assert rules.deactivate(changed.member, "另一个原因") is None


def test_reactivation_clears_the_reason_and_happens_once() -> None:
    changed = rules.reactivate(a_member(active=False))
    assert changed is not None
    assert changed.member.active and changed.member.deactivation_reason == ""
    assert changed.event == MemberReactivated()
    assert rules.reactivate(changed.member) is None
