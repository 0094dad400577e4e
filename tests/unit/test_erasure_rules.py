"""The rules of erasure and export: who may ask, what an erased member keeps, how a kept event
and a recorded plan are scrubbed of them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from linli.v1 import events_pb2
from services.common.auth import Principal, Role
from services.common.erasure import (
    ERASED_VERSION,
    require_export_or_erase,
)
from services.common.errors import NotFound, PermissionDenied
from services.common.eventbus import envelope
from services.common.values import LatLng, WeeklyWindow
from services.matching.domain import erasure as matching_erasure
from services.matching.domain.runs import PlannedAssignment
from services.registry import events
from services.registry.domain import erasure
from services.registry.domain.member import Member, MemberData

NOW = datetime(2026, 5, 1, tzinfo=UTC)
ME = "7d0f1c9e-0000-4000-8000-000000000001"
OTHER = "7d0f1c9e-0000-4000-8000-000000000002"


def member(member_id: str = ME) -> Member:
    return Member(
        id=member_id,
        data=MemberData(
            name="王芳",
            phone="13800138000",
            home=LatLng(36.98, 117.17),
            unit_id="u-1",
            skills=(("tutoring", 3),),
            availability=(WeeklyWindow(6, 480, 720),),
            hours_per_month=12,
            community_id="binhu",
            grid_id="binhu-g01",
            building_group_id="binhu-g01-b03",
        ),
        active=True,
        street_id="jiyang",
        reported_in_at=NOW,
        created_at=NOW,
        updated_at=NOW,
        deactivation_reason="",
    )


def test_an_erased_member_keeps_only_the_id_and_the_community() -> None:
    gone = erasure.anonymised(member())
    d = gone.data
    assert gone.id == ME and d.community_id == "binhu" and not gone.active
    assert d.name == erasure.ERASED_NAME and "13800138000" not in d.phone
    assert d.home is None and d.grid_id is None and d.building_group_id is None
    assert d.unit_id is None and d.skills == () and d.availability == ()
    assert d.hours_per_month == 0


def test_each_erased_member_gets_a_placeholder_phone_of_their_own() -> None:
    assert erasure.erased_phone(ME) != erasure.erased_phone(OTHER)
    assert not erasure.erased_phone(ME).isdigit()


@pytest.mark.parametrize(
    ("principal", "error"),
    [
        (Principal(ME, Role.MEMBER), None),
        (Principal("admin", Role.DISTRICT_ADMIN), None),
        (Principal(OTHER, Role.MEMBER), NotFound),
        (Principal("staff", Role.COMMUNITY_STAFF, frozenset({"binhu"})), PermissionDenied),
        (
            Principal("street", Role.STREET_ADMIN, street_ids=frozenset({"jiyang"})),
            PermissionDenied,
        ),
        (Principal("svc", Role.SERVICE), PermissionDenied),
    ],
)
def test_only_the_member_and_district_administrators_export_or_erase(
    principal: Principal, error: type[Exception] | None
) -> None:
    if error is None:
        require_export_or_erase(principal, ME, "erased")
        erasure.erase(principal, member())
    else:
        with pytest.raises(error):
            erasure.erase(principal, member())


def test_a_kept_snapshot_of_the_member_is_scrubbed_and_others_are_left_alone() -> None:
    subj, payload = events.member_deactivated(member(), "搬去女儿家住")
    env = envelope(source="registry", subj=subj, payload=payload, actor=None)
    subj2, payload2 = events.member_registered(member(OTHER))
    other = envelope(source="registry", subj=subj2, payload=payload2, actor=None)
    before = other.SerializeToString()
    gone = erasure.anonymised(member())
    assert events.scrub(env, gone)
    assert not events.scrub(other, gone)
    assert other.SerializeToString() == before
    e = events_pb2.MemberDeactivated()
    env.payload.Unpack(e)
    assert e.reason == "" and e.member.name == erasure.ERASED_NAME
    assert not e.member.HasField("home") and e.member.phone != "13800138000"
    # The times stay, so consumers still order the snapshot before the erasure.
    assert e.member.update_time.ToDatetime(tzinfo=UTC) == NOW


def test_the_erasure_event_carries_nothing_but_the_id_and_the_community_kept() -> None:
    _, payload = events.member_erased(ME, "binhu")
    assert [f.name for f, _ in payload.ListFields()] == ["member_id", "community_id"]


def test_a_recorded_plan_forgets_the_erased_members_distances() -> None:
    planned = PlannedAssignment(
        position=1,
        task_id="t",
        member_id=ME,
        score=42.0,
        distance_m=812.0,
        explanation="812 m from home",
        alternatives=[[OTHER, 40.0, 900.0, "free", 1000.0, 1.0, 1.0]],
        public_distance_m=1000.0,
        facts={"rank": 1},
    )
    mine = matching_erasure.forget_in_plan(planned, ME)
    assert mine.distance_m == 0.0 and mine.public_distance_m is None
    assert mine.explanation == "" and mine.facts == {}
    assert mine.alternatives == planned.alternatives
    as_alternative = matching_erasure.forget_in_plan(planned, OTHER)
    assert as_alternative.distance_m == 812.0
    assert as_alternative.alternatives == [[OTHER, 40.0, 0.0, "free", None, 1.0, 1.0]]
    assert matching_erasure.names(planned, OTHER) and not matching_erasure.names(planned, "x")


def test_the_matching_read_model_keeps_the_community_and_nothing_to_offer() -> None:
    gone = matching_erasure.erased_member(ME, "binhu", "jiyang")
    assert (gone.community_id, gone.street_id, gone.active) == ("binhu", "jiyang", False)
    assert gone.lat is None and gone.skills == {} and gone.hours_per_month == 0
    assert not gone.reported_in
    assert datetime(3000, 1, 1, tzinfo=UTC) < ERASED_VERSION
