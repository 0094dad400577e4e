"""A member's accepted tasks as an iCalendar feed (RFC 5545), for the app to subscribe to: one
event per assignment, which calendars follow as the task moves or is cancelled."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import icalendar

from linli.v1 import tasks_pb2
from services.common.protoconv import time_from_proto
from services.common.values import LOCAL_TZ
from services.tasks.domain import Assignment, AssignmentState

PRODID = "-//Linli//Member calendar//ZH"
# Calendars file an event under its UID: one per assignment, the same whatever changes.
UID_DOMAIN = "tasks.linli"
# Places the member no longer holds, or tasks that will not happen.
GONE = frozenset({AssignmentState.WITHDRAWN, AssignmentState.CANCELLED})


def uid(assignment_id: str) -> str:
    return f"{assignment_id}@{UID_DOMAIN}"


def member_calendar(
    entries: Sequence[tuple[Assignment, tasks_pb2.Task]], now: datetime, name: str = "邻里服务"
) -> str:
    """The feed. Each task is given as the member sees it (GetTask's place and address), so
    the feed shows nothing more. SEQUENCE is the task's revision, one more once the event is
    cancelled, so that a calendar takes the newer copy."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", str(LOCAL_TZ))
    for a, task in entries:
        gone = a.state in GONE or task.status == tasks_pb2.TASK_STATUS_CANCELLED
        event = icalendar.Event()
        event.add("uid", uid(a.id))
        event.add("dtstamp", now)
        event.add("dtstart", time_from_proto(task.window.start).astimezone(LOCAL_TZ))
        event.add("dtend", time_from_proto(task.window.end).astimezone(LOCAL_TZ))
        event.add("summary", task.title)
        if task.description:
            event.add("description", task.description)
        if task.address:
            event.add("location", task.address)
        event.add("geo", (task.location.latitude, task.location.longitude))
        event.add("sequence", task.revision + (1 if gone else 0))
        event.add("status", "CANCELLED" if gone else "CONFIRMED")
        event.add("last-modified", time_from_proto(task.update_time))
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical().decode()
