"""Conversions between the shared values and their protobuf messages: timestamps, dates, places,
weekly windows, the beneficiary groups and the parts of an export. Every service converts these
the same way."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from google.protobuf import json_format, timestamp_pb2
from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.message import Message

from linli.v1 import common_pb2, registry_pb2, tasks_pb2
from services.common.skills import PROOF_SKILLS
from services.common.values import Beneficiary, LatLng, WeeklyWindow

# google.protobuf.Timestamp's own range, 0001-01-01 to 9999-12-31.
TIMESTAMP_MIN, TIMESTAMP_MAX = -62_135_596_800, 253_402_300_799

BENEFICIARY_TO_PROTO = {
    Beneficiary.ELDERLY: common_pb2.BENEFICIARY_GROUP_ELDERLY,
    Beneficiary.CHILD: common_pb2.BENEFICIARY_GROUP_CHILD,
    Beneficiary.DISABLED: common_pb2.BENEFICIARY_GROUP_DISABLED,
    Beneficiary.POOR: common_pb2.BENEFICIARY_GROUP_POOR,
    Beneficiary.OTHER: common_pb2.BENEFICIARY_GROUP_OTHER,
}
BENEFICIARY_FROM_PROTO = {v: k for k, v in BENEFICIARY_TO_PROTO.items()}


def enum_words(enum: EnumDescriptor, prefix: str) -> dict[int, str]:
    """An enum's numbers to the words Python and SQL use for them (TASK_STATUS_OPEN: "open"),
    the unspecified zero left out."""
    return {v.number: v.name.removeprefix(prefix).lower() for v in enum.values if v.number}


def report_in_accepted(m: registry_pb2.Member) -> bool:
    """Whether a member (as the registry's events carry them) may serve in their community:
    reported in, and accepted by its staff. A snapshot from before staff decided report-ins
    (no state, a report-in time) was reported in then, which meant accepted."""
    if not m.community_id:
        return False
    if m.report_in_state == registry_pb2.REPORT_IN_STATE_UNSPECIFIED:
        return m.HasField("reported_in_time")
    return m.report_in_state == registry_pb2.REPORT_IN_STATE_ACCEPTED


def usable_skills(m: registry_pb2.Member) -> dict[str, int]:
    """The member's skills that count for claims and matching, with their levels: a skill that
    needs proof only while its certificate is verified."""
    return {s.skill: s.level for s in m.skills if s.verified or s.skill not in PROOF_SKILLS}


# The task service's states, as every service that reads its events names them.
TASK_STATUS_WORDS = enum_words(tasks_pb2.TaskStatus.DESCRIPTOR, "TASK_STATUS_")
ASSIGNMENT_STATE_WORDS = enum_words(tasks_pb2.AssignmentState.DESCRIPTOR, "ASSIGNMENT_STATE_")


def ts(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    # Timestamp.FromDatetime is slow (calendar.timegm); stored times are always aware.
    return timestamp_pb2.Timestamp(seconds=int(value.timestamp()), nanos=value.microsecond * 1000)


def time_from_proto(t: timestamp_pb2.Timestamp) -> datetime:
    """A timestamp as a datetime; one outside Timestamp's range is clamped to its edge, where
    validation names it (in the past, or too far ahead)."""
    seconds = min(max(t.seconds, TIMESTAMP_MIN), TIMESTAMP_MAX)
    micros = min(max(t.nanos, 0), 999_999_999) // 1000
    return datetime(1, 1, 1, tzinfo=UTC) + timedelta(
        seconds=seconds - TIMESTAMP_MIN, microseconds=micros
    )


def date_from_proto(d: common_pb2.Date, present: bool) -> date | None:
    if not present:
        return None
    try:
        return date(d.year, d.month, d.day)
    except ValueError:
        return date.min  # an impossible date: validation names the field


def date_to_proto(d: date | None) -> common_pb2.Date | None:
    return None if d is None else common_pb2.Date(year=d.year, month=d.month, day=d.day)


def latlng_to_proto(loc: LatLng | None) -> common_pb2.LatLng | None:
    return None if loc is None else common_pb2.LatLng(latitude=loc.lat, longitude=loc.lng)


def latlng_from_proto(msg: common_pb2.LatLng, present: bool) -> LatLng | None:
    return LatLng(msg.latitude, msg.longitude) if present else None


def weekly_window_to_proto(w: WeeklyWindow) -> common_pb2.WeeklyWindow:
    return common_pb2.WeeklyWindow(day=w.day, start_minute=w.start, end_minute=w.end)  # type: ignore[arg-type]


def weekly_window_from_proto(w: common_pb2.WeeklyWindow) -> WeeklyWindow:
    return WeeklyWindow(int(w.day), w.start_minute, w.end_minute)


def export_part(
    service: str, member_id: str, sections: dict[str, Any]
) -> common_pb2.MemberDataPart:
    """One service's part of a member's export: its sections as a JSON object (keys sorted)."""
    answer = common_pb2.MemberDataPart(
        service=service,
        member_id=member_id,
        data_json=json.dumps(sections, ensure_ascii=False, sort_keys=True, default=str),
    )
    answer.export_time.GetCurrentTime()
    return answer


def as_json(message: Message) -> dict[str, Any]:
    """A message as the JSON of an export: proto field names, enum names, defaults shown."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
