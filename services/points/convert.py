"""Proto <-> domain for the points service's messages."""

from __future__ import annotations

from datetime import datetime

from linli.v1 import events_pb2, points_pb2, registry_pb2
from services.common.protoconv import time_from_proto, ts
from services.points.domain.ledger import Kind, Movement
from services.points.domain.members import MemberRef
from services.points.domain.rules import HoursRecord
from services.points.store.port import CommunityTotals

KIND_TO_PROTO = {
    Kind.AWARD: events_pb2.POINTS_MOVEMENT_KIND_AWARD,
    Kind.REDEMPTION: events_pb2.POINTS_MOVEMENT_KIND_REDEMPTION,
    Kind.REVERSAL: events_pb2.POINTS_MOVEMENT_KIND_REVERSAL,
    Kind.RESET: events_pb2.POINTS_MOVEMENT_KIND_RESET,
}


def movement_to_proto(m: Movement) -> points_pb2.PointsMovement:
    return points_pb2.PointsMovement(
        movement_id=m.id,
        kind=KIND_TO_PROTO[m.kind],
        member_id=m.member_id,
        community_id=m.community_id,
        amount=m.amount,
        source_id=m.source_id,
        reason=m.reason,
        category=m.category,
        book_time=ts(m.booked_at),
        reversed_by=m.reversed_by,
        reverses=m.reverses,
    )


def movement_export(m: Movement) -> dict[str, object]:
    return {
        "movement_id": m.id,
        "kind": m.kind.value,
        "community_id": m.community_id,
        "amount": m.amount,
        "source_id": m.source_id,
        "reason": m.reason,
        "category": m.category,
        "book_time": m.booked_at.isoformat(),
    }


def hours_record(e: events_pb2.HoursConfirmed) -> HoursRecord:
    return HoursRecord(
        record_id=e.record_id,
        member_id=e.member_id,
        community_id=e.community_id,
        category=e.category,
        minutes=e.minutes,
        scheduled_minutes=e.scheduled_minutes,
        hard_to_fill=e.hard_to_fill,
        occurred_at=time_from_proto(e.occurred_time),
        task_id=e.task_id,
        supersedes=e.supersedes_record_id,
        reason=e.reason,
    )


def member_ref(m: registry_pb2.Member) -> tuple[MemberRef, datetime]:
    """The member as the read model keeps it, and its version."""
    return MemberRef(id=m.id, community_id=m.community_id), time_from_proto(m.update_time)


def community_to_proto(t: CommunityTotals) -> points_pb2.GetCommunityPointsResponse:
    return points_pb2.GetCommunityPointsResponse(
        community_id=t.community_id,
        issued=t.issued,
        redeemed=t.redeemed,
        reset=t.reset,
        outstanding=t.outstanding,
        members_with_points=t.members_with_points,
    )
