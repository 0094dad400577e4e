"""Proto <-> domain for attendance: purposes, evidence, check-ins, proposals and hours records."""

from __future__ import annotations

from typing import Any

from linli.v1 import attendance_pb2 as pb
from linli.v1 import events_pb2
from services.common.protoconv import as_json, ts
from services.tasks.domain.attendance import Attendance, Evidence, HoursProposal, Purpose
from services.tasks.domain.hours import HoursRecord, HoursState

PURPOSE_FROM_PROTO = {
    pb.CHECK_IN_PURPOSE_CHECK_IN: Purpose.CHECK_IN,
    pb.CHECK_IN_PURPOSE_CHECK_OUT: Purpose.CHECK_OUT,
}
PURPOSE_TO_PROTO = {v: k for k, v in PURPOSE_FROM_PROTO.items()}
EVIDENCE_TO_PROTO = {
    Evidence.CODE_AND_PLACE: events_pb2.HOURS_EVIDENCE_CODE_AND_PLACE,
    Evidence.CODE_ONLY: events_pb2.HOURS_EVIDENCE_CODE_ONLY,
    Evidence.STAFF_WORD: events_pb2.HOURS_EVIDENCE_STAFF_WORD,
}
STATE_TO_PROTO = {
    HoursState.REQUESTED: pb.HOURS_RECORD_STATE_REQUESTED,
    HoursState.CONFIRMED: pb.HOURS_RECORD_STATE_CONFIRMED,
    HoursState.REFUSED: pb.HOURS_RECORD_STATE_REFUSED,
    HoursState.SUPERSEDED: pb.HOURS_RECORD_STATE_SUPERSEDED,
}


def attendance_to_proto(a: Attendance) -> pb.Attendance:
    return pb.Attendance(
        task_id=a.task_id,
        member_id=a.member_id,
        purpose=PURPOSE_TO_PROTO[a.purpose],
        time=ts(a.at),
        evidence=EVIDENCE_TO_PROTO[a.evidence],
    )


def proposal_to_proto(p: HoursProposal) -> pb.HoursProposal:
    return pb.HoursProposal(
        member_id=p.member_id,
        minutes=p.minutes,
        evidence=EVIDENCE_TO_PROTO[p.evidence],
        check_in_time=ts(p.checked_in),
        check_out_time=ts(p.checked_out),
    )


def record_to_proto(r: HoursRecord) -> pb.HoursRecord:
    return pb.HoursRecord(
        id=r.id,
        task_id=r.task_id,
        member_id=r.member_id,
        community_id=r.community_id,
        state=STATE_TO_PROTO[r.state],
        minutes=r.minutes,
        evidence=EVIDENCE_TO_PROTO[r.evidence],
        reason=r.reason,
        supersedes_record_id=r.supersedes,
        occurred_time=ts(r.occurred_at),
        create_time=ts(r.created_at),
        decide_time=ts(r.decided_at),
    )


def hours_confirmed(r: HoursRecord) -> events_pb2.HoursConfirmed:
    return events_pb2.HoursConfirmed(
        record_id=r.id,
        supersedes_record_id=r.supersedes,
        task_id=r.task_id,
        member_id=r.member_id,
        community_id=r.community_id,
        street_id=r.street_id,
        category=r.category,
        minutes=r.minutes,
        scheduled_minutes=r.scheduled_minutes,
        evidence=EVIDENCE_TO_PROTO[r.evidence],
        hard_to_fill=r.hard_to_fill,
        occurred_time=ts(r.occurred_at),
        reason=r.reason,
    )


def hours_requested(r: HoursRecord) -> events_pb2.HoursRequested:
    return events_pb2.HoursRequested(
        record_id=r.id,
        task_id=r.task_id,
        member_id=r.member_id,
        community_id=r.community_id,
        minutes=r.minutes,
    )


def hours_refused(r: HoursRecord) -> events_pb2.HoursRefused:
    return events_pb2.HoursRefused(
        record_id=r.id, task_id=r.task_id, member_id=r.member_id, reason=r.reason
    )


def attendance_export(
    seen: list[Attendance], records: list[HoursRecord]
) -> dict[str, list[dict[str, Any]]]:
    """The member's check-ins and hours records, in their export."""
    return {
        "attendance": [as_json(attendance_to_proto(a)) for a in seen],
        "hours_records": [as_json(record_to_proto(r)) for r in records],
    }
