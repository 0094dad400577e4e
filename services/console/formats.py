"""How the console writes the services' values: local times, hours, distances, and the English
words of states and groups that the templates translate (`{{ _(task.status|status) }}`)."""

from __future__ import annotations

from typing import Any

from google.protobuf import timestamp_pb2

from linli.v1 import attendance_pb2, common_pb2, events_pb2, tasks_pb2
from services.common.protoconv import (
    ASSIGNMENT_STATE_WORDS,
    BENEFICIARY_FROM_PROTO,
    TASK_STATUS_WORDS,
    enum_words,
    time_from_proto,
)
from services.common.values import LOCAL_TZ

GROUP_WORDS = {int(n): b.value for n, b in sorted(BENEFICIARY_FROM_PROTO.items())}
KIND_WORDS = enum_words(tasks_pb2.TaskKind.DESCRIPTOR, "TASK_KIND_")
ROLE_WORDS = enum_words(common_pb2.Role.DESCRIPTOR, "ROLE_")
RECORD_WORDS = enum_words(attendance_pb2.HoursRecordState.DESCRIPTOR, "HOURS_RECORD_STATE_")
MOVEMENT_WORDS = enum_words(events_pb2.PointsMovementKind.DESCRIPTOR, "POINTS_MOVEMENT_KIND_")
EVIDENCE_WORDS = enum_words(events_pb2.HoursEvidence.DESCRIPTOR, "HOURS_EVIDENCE_")
# The words the filters below give, for the catalogue (every one has a translation).
WORDS = (
    *TASK_STATUS_WORDS.values(),
    *ASSIGNMENT_STATE_WORDS.values(),
    *GROUP_WORDS.values(),
    *KIND_WORDS.values(),
    *ROLE_WORDS.values(),
    *RECORD_WORDS.values(),
    *EVIDENCE_WORDS.values(),
    *MOVEMENT_WORDS.values(),
)


def local(t: timestamp_pb2.Timestamp | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if t is None or (t.seconds == 0 and t.nanos == 0):
        return ""
    return time_from_proto(t).astimezone(LOCAL_TZ).strftime(fmt)


def points(hundredths: int) -> str:
    """The ledger's hundredths of a point as people read them."""
    return hours(hundredths / 100)


def hours(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def metres(value: float) -> str:
    return f"{value / 1000:.1f} km" if value >= 1000 else f"{value:.0f} m"


def percent(value: float) -> str:
    return f"{value * 100:.2f} %"


def short(value: str) -> str:
    return value[:8]


def word(table: dict[int, str]) -> Any:
    return lambda n: table.get(int(n), "unknown")


FILTERS = {
    "local": local,
    "hours": hours,
    "points": points,
    "movement": word(MOVEMENT_WORDS),
    "metres": metres,
    "percent": percent,
    "short": short,
    "status": word(TASK_STATUS_WORDS),
    "state": word(ASSIGNMENT_STATE_WORDS),
    "group": word(GROUP_WORDS),
    "kind": word(KIND_WORDS),
    "role": word(ROLE_WORDS),
    "record": word(RECORD_WORDS),
    "evidence": word(EVIDENCE_WORDS),
}
