"""What the task and matching services take from the registry's snapshots of a member: a report-in
counts once accepted, and a skill that needs proof only while verified."""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from linli.v1 import registry_pb2 as R
from services.common.protoconv import report_in_accepted, usable_skills
from services.common.skills import PROOF_SKILLS
from services.tasks.domain.access import MemberView, proof_refusal
from services.tasks.domain.errors import Refusal


def snapshot(state: int, *, community: str = "binhu", reported: bool = True) -> R.Member:
    m = R.Member(id="m1", community_id=community, report_in_state=state)  # type: ignore[arg-type]
    if reported:
        m.reported_in_time.CopyFrom(timestamp_pb2.Timestamp(seconds=1_700_000_000))
    return m


def test_only_an_accepted_report_in_counts_and_a_snapshot_from_before_counts_as_accepted() -> None:
    assert report_in_accepted(snapshot(R.REPORT_IN_STATE_ACCEPTED))
    assert not report_in_accepted(snapshot(R.REPORT_IN_STATE_PENDING))
    assert not report_in_accepted(snapshot(R.REPORT_IN_STATE_REFUSED))
    assert report_in_accepted(snapshot(R.REPORT_IN_STATE_UNSPECIFIED))
    assert not report_in_accepted(snapshot(R.REPORT_IN_STATE_UNSPECIFIED, reported=False))
    assert not report_in_accepted(snapshot(R.REPORT_IN_STATE_ACCEPTED, community=""))


def test_a_skill_needing_proof_is_usable_only_while_verified() -> None:
    m = R.Member(
        skills=[
            R.MemberSkill(skill="medical", level=3),
            R.MemberSkill(skill="driving", level=2, verified=True),
            R.MemberSkill(skill="tutoring", level=2),
        ]
    )
    assert usable_skills(m) == {"driving": 2, "tutoring": 2}
    assert {"medical", "legal_advice", "repair_electrical", "driving"} <= PROOF_SKILLS


def test_a_claim_asking_for_an_unverified_proof_skill_is_refused_by_name() -> None:
    member = MemberView("m1", "binhu", "jiyang", True, True, proven=frozenset({"driving"}))
    assert proof_refusal(member, ["driving", "errands"]) is None
    refused = proof_refusal(member, ["medical", "errands"])
    assert refused is not None and refused.refusal is Refusal.SKILL_UNVERIFIED
    assert "medical" in refused.message
