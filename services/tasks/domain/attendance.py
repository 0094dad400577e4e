"""Check-in on site: rotating codes (a MAC over task, purpose and time step), the window around a
task's start, the geofence, and what a check-in or check-out records. Pure: no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from services.common.errors import FailedPrecondition, invalid
from services.common.values import LatLng, distance_m
from services.tasks.domain.assignment import Assignment, AssignmentState
from services.tasks.domain.errors import (
    CODE_NOT_CURRENT,
    NO_PLACE_ON_TASK,
    NOT_AT_THE_PLACE,
    NOT_CHECKED_IN,
    OUTSIDE_CHECK_IN_WINDOW,
    task_state,
)
from services.tasks.domain.task import Task, TaskStatus

# Five bytes of the MAC, base32: eight characters a member can type when a camera fails.
CODE_BYTES = 5
CODE_LENGTH = 8


class Purpose(StrEnum):
    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"


class Evidence(StrEnum):
    CODE_AND_PLACE = "code_and_place"
    CODE_ONLY = "code_only"
    STAFF_WORD = "staff_word"


@dataclass(frozen=True)
class AttendanceRules:
    """The settings the rules read (services/common/settings: TasksSettings.attendance)."""

    step_s: int = 45
    check_in_before: timedelta = timedelta(minutes=60)
    check_in_after: timedelta = timedelta(minutes=30)
    check_out_after_end: timedelta = timedelta(hours=2)
    geofence_m: float = 200.0
    hard_to_fill_horizon: timedelta = timedelta(hours=48)


@dataclass(frozen=True)
class Attendance:
    """A member's check-in or check-out at a task, as recorded (once per member and purpose)."""

    task_id: str
    member_id: str
    purpose: Purpose
    at: datetime
    evidence: Evidence


@dataclass(frozen=True)
class CheckInCode:
    code: str
    step: int
    valid_until: datetime


# -- codes -----------------------------------------------------------------------------------------


def step_of(now: datetime, step_s: int) -> int:
    return int(now.timestamp()) // step_s


def code_for(key: bytes, task_id: str, purpose: Purpose, step: int) -> str:
    """The code of one step: HMAC-SHA256 over the task, the purpose and the step."""
    mac = hmac.new(key, f"{task_id}|{purpose.value}|{step}".encode(), hashlib.sha256).digest()
    return base64.b32encode(mac[:CODE_BYTES]).decode()


def current_code(
    key: bytes, task_id: str, purpose: Purpose, now: datetime, step_s: int
) -> CheckInCode:
    step = step_of(now, step_s)
    until = datetime.fromtimestamp((step + 1) * step_s, UTC)
    return CheckInCode(code_for(key, task_id, purpose, step), step, until)


def normal_code(code: str) -> str:
    """What a member typed, as the codes are spelled (upper case, no spaces or dashes)."""
    return "".join(c for c in code.upper() if c not in " -")


def code_is_current(
    key: bytes, task_id: str, purpose: Purpose, code: str, now: datetime, step_s: int
) -> bool:
    """The code of the current step or of the previous one (a phone's clock or a slow scan);
    nothing older. Each candidate is compared in constant time."""
    typed = normal_code(code).encode()
    step = step_of(now, step_s)
    matches = [
        hmac.compare_digest(typed, code_for(key, task_id, purpose, s).encode())
        for s in (step, step - 1)
    ]
    return any(matches)


def qr_text(task_id: str, purpose: Purpose, code: str) -> str:
    """What the QR code says: the app reads the task, the purpose and the code from it."""
    return f"linli:checkin?task={task_id}&purpose={purpose.value}&code={code}"


# -- the window and the place ---------------------------------------------------------------------


def window_of(task: Task, purpose: Purpose, rules: AttendanceRules) -> tuple[datetime, datetime]:
    """When a check-in (around the start) or a check-out (from the start to after the end) is
    accepted. A flexible window's member picks the time: check-in runs to its end."""
    w = task.window
    if purpose is Purpose.CHECK_OUT:
        return w.start, w.end + rules.check_out_after_end
    last = w.end if w.flexible else w.start + rules.check_in_after
    return w.start - rules.check_in_before, last


def approximate_place(task: Task) -> bool:
    """A street-wide task has no exact place to be at: the code alone is its evidence."""
    return task.street_wide


def check_location(location: LatLng | None, field: str = "location") -> None:
    if location is None:
        raise invalid(field, "is required: the member's location when scanning the code")
    if not (-90 <= location.lat <= 90 and -180 <= location.lng <= 180):
        raise invalid(field, "must be a latitude and a longitude")


# Open to check-in (a CLOSED task goes ahead); a COMPLETED one still takes check-outs.
CHECK_IN_STATUSES = frozenset({TaskStatus.OPEN, TaskStatus.FILLED, TaskStatus.CLOSED})
CHECK_OUT_STATUSES = CHECK_IN_STATUSES | {TaskStatus.COMPLETED}


def check(
    task: Task,
    member_id: str,
    purpose: Purpose,
    *,
    held: Assignment | None,
    checked_in: Attendance | None,
    code_current: bool,
    location: LatLng | None,
    now: datetime,
    rules: AttendanceRules,
) -> Attendance:
    """A member's check-in or check-out, or why not. `held` is the member's place on the task
    (None: none), `checked_in` their check-in (for a check-out)."""
    allowed = CHECK_IN_STATUSES if purpose is Purpose.CHECK_IN else CHECK_OUT_STATUSES
    if task.status not in allowed:
        raise task_state(purpose.value.replace("_", " "), task.status.value)
    states = {AssignmentState.ACCEPTED}
    if purpose is Purpose.CHECK_OUT:
        states.add(AssignmentState.COMPLETED)
    if held is None or held.state not in states:
        raise FailedPrecondition("you hold no accepted place on this task", NO_PLACE_ON_TASK)
    if purpose is Purpose.CHECK_OUT and checked_in is None:
        raise FailedPrecondition("check in before checking out", NOT_CHECKED_IN)
    opens, closes = window_of(task, purpose, rules)
    if not opens <= now <= closes:
        raise FailedPrecondition(
            f"{purpose.value.replace('_', '-')} is open from {opens.isoformat()} to "
            f"{closes.isoformat()}",
            OUTSIDE_CHECK_IN_WINDOW,
        )
    if not code_current:
        raise FailedPrecondition(
            "the code is not current: scan the code shown now", CODE_NOT_CURRENT
        )
    if approximate_place(task):
        return Attendance(task.id, member_id, purpose, now, Evidence.CODE_ONLY)
    check_location(location)
    assert location is not None
    away = distance_m(location.lat, location.lng, task.location.lat, task.location.lng)
    if away > rules.geofence_m:
        # One message whatever the distance: it must not help anyone find the exact place.
        raise FailedPrecondition("you are not at the place of the task", NOT_AT_THE_PLACE)
    return Attendance(task.id, member_id, purpose, now, Evidence.CODE_AND_PLACE)


# -- what check-in and check-out propose -----------------------------------------------------------


@dataclass(frozen=True)
class HoursProposal:
    member_id: str
    minutes: int
    evidence: Evidence
    checked_in: datetime
    checked_out: datetime | None


def propose(task: Task, check_in: Attendance, check_out: Attendance | None) -> HoursProposal:
    """Minutes from check-in to check-out (to the window's end without one), within the window."""
    w = task.window
    began = max(check_in.at, w.start)
    ended = min(check_out.at if check_out else w.end, w.end)
    minutes = max(0, int((ended - began).total_seconds() // 60))
    kinds = {check_in.evidence} | ({check_out.evidence} if check_out else set())
    evidence = Evidence.CODE_AND_PLACE if kinds == {Evidence.CODE_AND_PLACE} else Evidence.CODE_ONLY
    return HoursProposal(
        check_in.member_id, minutes, evidence, check_in.at, check_out.at if check_out else None
    )


def proposals(
    task: Task, completed: set[str], attendances: list[Attendance]
) -> dict[str, HoursProposal]:
    """One proposal per completed member who checked in; members without a check-in get none."""
    ins = {a.member_id: a for a in attendances if a.purpose is Purpose.CHECK_IN}
    outs = {a.member_id: a for a in attendances if a.purpose is Purpose.CHECK_OUT}
    return {m: propose(task, ins[m], outs.get(m)) for m in sorted(completed) if m in ins}
