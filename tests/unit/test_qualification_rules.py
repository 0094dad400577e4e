"""The rules of a member's standing: report-ins pending until staff decide, and certificates
that make a skill needing proof count, remind before they expire and end when they do."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.settings import Bounds
from services.common.values import LatLng
from services.registry.domain import member as rules
from services.registry.domain import qualification as q
from services.registry.domain.member import (
    CertificateExpiring,
    Member,
    MemberData,
    MemberReportedIn,
    ReportInDecided,
    ReportInState,
    SkillVerificationSet,
)
from services.registry.domain.org import Placement

NOW = datetime(2026, 5, 1, 9, tzinfo=UTC)
MONTH = timedelta(days=30)


def a_member(state: ReportInState = ReportInState.PENDING, **changes: object) -> Member:
    data = MemberData(
        name="测试·王芳",
        phone="17000000001",
        home=LatLng(36.98, 117.17),
        unit_id=None,
        skills=(("medical", 3), ("tutoring", 2)),
        availability=(),
        hours_per_month=10,
        community_id="binhu",
        grid_id="binhu-g01",
    )
    m = Member(
        id="0b4f6c1e-6f1d-4c55-9a43-4a9b5c0e2f11",
        data=data,
        active=True,
        street_id="jiyang",
        reported_in_at=NOW,
        created_at=NOW,
        updated_at=NOW,
        report_in=state,
    )
    return replace(m, **changes)  # type: ignore[arg-type]


def test_a_members_own_report_in_is_pending_and_a_staff_one_is_accepted_at_once() -> None:
    fresh = a_member(ReportInState.NONE, reported_in_at=None)
    place = Placement("binhu", "binhu-g01", None)
    own = rules.report_in(fresh, place)
    assert own is not None and own.member.report_in is ReportInState.PENDING
    staff = rules.report_in(fresh, place, by_staff=True)
    assert staff is not None and staff.member.report_in is ReportInState.ACCEPTED


def test_a_pending_report_in_is_accepted_once_and_accepting_again_changes_nothing() -> None:
    changed = q.accept_report_in(a_member())
    assert changed is not None
    assert changed.member.report_in is ReportInState.ACCEPTED
    assert changed.event == ReportInDecided(True)
    assert q.accept_report_in(changed.member) is None


def test_a_refused_report_in_cannot_be_accepted_but_may_be_made_again() -> None:
    refused = q.refuse_report_in(a_member(), "不在本社区居住").member
    assert refused.report_in is ReportInState.REFUSED
    assert refused.report_in_reason == "不在本社区居住"
    with pytest.raises(FailedPrecondition) as err:
        q.accept_report_in(refused)
    assert err.value.reason == "REPORT_IN_NOT_PENDING"
    again = rules.report_in(refused, Placement("binhu", "binhu-g01", None))
    assert again is not None and again.event == MemberReportedIn()
    assert again.member.report_in is ReportInState.PENDING
    assert again.member.report_in_reason == ""


def test_a_move_to_another_community_is_pending_there() -> None:
    moved = rules.report_in(
        a_member(ReportInState.ACCEPTED), Placement("yinshan", "yinshan-g01", None)
    )
    assert moved is not None
    assert moved.member.data.community_id == "yinshan"
    assert moved.member.report_in is ReportInState.PENDING


def test_a_refusal_needs_a_reason() -> None:
    with pytest.raises(InvalidArgument) as err:
        q.check_refusal_reason("  ")
    assert [v.field for v in err.value.violations] == ["reason"]


def test_a_certificate_is_checked_field_by_field() -> None:
    with pytest.raises(InvalidArgument) as err:
        q.check_certificate("tutoring", "", NOW - MONTH, NOW)
    assert [v.field for v in err.value.violations] == [
        "skill",
        "certificate_number",
        "expire_time",
    ]
    assert q.check_certificate("medical", " 110101-2019/A03 ", NOW + MONTH, NOW) == (
        "110101-2019/A03"
    )


def test_only_a_claimed_skill_is_verified_and_the_same_certificate_again_changes_nothing() -> None:
    m = a_member(ReportInState.ACCEPTED)
    with pytest.raises(FailedPrecondition) as err:
        q.verify_skill(m, "driving", "C1-123", NOW + MONTH)
    assert err.value.reason == "SKILL_NOT_CLAIMED"
    changed = q.verify_skill(m, "medical", "110101", NOW + 12 * MONTH)
    assert changed is not None
    assert changed.event == SkillVerificationSet("medical", True, NOW + 12 * MONTH, "verified")
    assert changed.member.verified("medical") is not None
    assert q.verify_skill(changed.member, "medical", "110101", NOW + 12 * MONTH) is None


def test_dropping_a_skill_drops_its_certificate() -> None:
    m = q.verify_skill(a_member(), "medical", "110101", NOW + MONTH)
    assert m is not None
    updated = rules.update(
        m.member, replace(m.member.data, skills=(("tutoring", 2),)), ["skills"], Bounds()
    )
    assert updated.member.verifications == ()


def test_a_withdrawn_verification_ends_and_one_never_made_cannot_be_withdrawn() -> None:
    m = q.verify_skill(a_member(), "medical", "110101", NOW + MONTH)
    assert m is not None
    ended = q.withdraw_verification(m.member, "medical")
    assert ended.member.verifications == ()
    assert ended.event == SkillVerificationSet("medical", False, NOW + MONTH, "withdrawn")
    with pytest.raises(FailedPrecondition) as err:
        q.withdraw_verification(ended.member, "medical")
    assert err.value.reason == "SKILL_NOT_VERIFIED"


def test_a_certificate_is_reminded_once_a_month_ahead_and_ends_at_its_expiry() -> None:
    expires = NOW + timedelta(days=45)
    m = q.verify_skill(a_member(), "medical", "110101", expires)
    assert m is not None
    member = m.member
    assert q.expire(member, NOW, MONTH) is None
    assert not q.due(member, NOW, MONTH)
    later = NOW + timedelta(days=20)
    reminded = q.expire(member, later, MONTH)
    assert reminded is not None and reminded.events == (CertificateExpiring("medical", expires),)
    assert reminded.member.verified("medical") is not None
    assert q.expire(reminded.member, later + timedelta(days=1), MONTH) is None
    ended = q.expire(reminded.member, expires, MONTH)
    assert ended is not None
    assert ended.events == (SkillVerificationSet("medical", False, expires, "expired"),)
    assert ended.member.verifications == ()
