"""What the points service publishes and consumes: the one place its payloads are built."""

from __future__ import annotations

from google.protobuf import message

from linli.v1 import events_pb2
from services.common import subjects
from services.common.subjects import POINTS as SERVICE
from services.points import convert
from services.points.domain.ledger import Movement

__all__ = ["CONSUMED", "SERVICE", "Event", "points_moved"]

# Consumed: confirmed hours (the points they earn), the registry's communities (the street of
# each) and members (their community, whose staff read and redeem their points).
CONSUMED = [subjects.HOURS_CONFIRMED, subjects.COMMUNITY_CREATED, subjects.MEMBER_EVENTS]

# An event to publish: (subject, payload).
Event = tuple[str, message.Message]


def points_moved(m: Movement, balance: int) -> Event:
    return subjects.points_moved(m.kind.value), events_pb2.PointsMoved(
        movement_id=m.id,
        kind=convert.KIND_TO_PROTO[m.kind],
        member_id=m.member_id,
        community_id=m.community_id,
        amount=m.amount,
        balance=balance,
        source_id=m.source_id,
        reason=m.reason,
    )
