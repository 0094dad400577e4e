"""Translation between the task service's domain values and its protobuf messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf import timestamp_pb2

from linli.v1 import tasks_pb2
from services.common import audit
from services.common.errors import invalid
from services.common.protoconv import (
    BENEFICIARY_FROM_PROTO,
    BENEFICIARY_TO_PROTO,
    as_json,
    date_from_proto,
    date_to_proto,
    latlng_from_proto,
    latlng_to_proto,
    time_from_proto,
    ts,
)
from services.common.values import approximate
from services.tasks.attendance_convert import attendance_export
from services.tasks.domain import (
    Assignment,
    AssignmentSource,
    AssignmentState,
    MemberRecord,
    NoAnswerPolicy,
    OneOffSchedule,
    RequiredSkill,
    RoleDraft,
    Task,
    TaskKind,
    TaskStatus,
    TimeWindow,
    VolunteerRole,
    WeeklySchedule,
    Wish,
    WishDraft,
)
from services.tasks.domain.export import MemberExport
from services.tasks.domain.standby import StandbyEntry
from services.tasks.domain.update import TaskPatch

STATUS_TO_PROTO = {s: getattr(tasks_pb2, f"TASK_STATUS_{s.name}") for s in TaskStatus}
STATUS_FROM_PROTO = {v: k for k, v in STATUS_TO_PROTO.items()}
STATE_TO_PROTO = {s: getattr(tasks_pb2, f"ASSIGNMENT_STATE_{s.name}") for s in AssignmentState}
STATE_FROM_PROTO = {v: k for k, v in STATE_TO_PROTO.items()}
KIND_TO_PROTO = {k: getattr(tasks_pb2, f"TASK_KIND_{k.name}") for k in TaskKind}
NO_ANSWER_TO_PROTO = {
    None: tasks_pb2.NO_ANSWER_POLICY_UNSPECIFIED,
    NoAnswerPolicy.ALERT: tasks_pb2.NO_ANSWER_POLICY_ALERT,
    NoAnswerPolicy.RELEASE: tasks_pb2.NO_ANSWER_POLICY_RELEASE,
}
NO_ANSWER_FROM_PROTO = {v: k for k, v in NO_ANSWER_TO_PROTO.items() if k is not None}
SOURCE_TO_PROTO = {s: getattr(tasks_pb2, f"ASSIGNMENT_SOURCE_{s.name}") for s in AssignmentSource}


# Filters on time are for the service's own life: anything outside these years is a mistake.
FILTER_MIN = datetime(2000, 1, 1, tzinfo=UTC)
FILTER_MAX = datetime(2200, 1, 1, tzinfo=UTC)


def filter_time_from_proto(t: timestamp_pb2.Timestamp, field: str) -> datetime:
    """A timestamp used as a filter, refused (naming its field) unless a real, sane time."""
    if not (FILTER_MIN.timestamp() <= t.seconds < FILTER_MAX.timestamp() and 0 <= t.nanos < 10**9):
        raise invalid(field, "must be a time between the years 2000 and 2200")
    return time_from_proto(t)


def window_from_proto(w: tasks_pb2.TimeWindow, present: bool) -> TimeWindow | None:
    if not present:
        return None
    return TimeWindow(time_from_proto(w.start), time_from_proto(w.end), w.flexible)


def window_to_proto(w: TimeWindow) -> tasks_pb2.TimeWindow:
    return tasks_pb2.TimeWindow(start=ts(w.start), end=ts(w.end), flexible=w.flexible)


def skills_from_proto(skills: list[tasks_pb2.RequiredSkill]) -> tuple[RequiredSkill, ...]:
    return tuple(RequiredSkill(s.skill, s.min_level) for s in skills)


def skills_to_proto(skills: tuple[RequiredSkill, ...]) -> list[tasks_pb2.RequiredSkill]:
    return [tasks_pb2.RequiredSkill(skill=s.skill, min_level=s.min_level) for s in skills]


def wish_draft_from_proto(w: tasks_pb2.Wish) -> WishDraft:
    return WishDraft(
        community_id=w.community_id,
        title=w.title,
        description=w.description,
        beneficiary=BENEFICIARY_FROM_PROTO.get(w.beneficiary_group),
        location=latlng_from_proto(w.location, w.HasField("location")),
        address=w.address,
        skills=skills_from_proto(list(w.skills)),
        headcount=w.headcount,
        window=window_from_proto(w.window, w.HasField("window")),
        effort_hours=w.effort_hours,
        team=w.team,
        overbook_cap=w.overbook_cap,
    )


def wish_to_proto(wish: Wish, *, private: bool) -> tasks_pb2.Wish:
    d = wish.draft
    assert d.beneficiary is not None and d.window is not None and d.location is not None
    location = d.location if private else approximate(d.location)
    return tasks_pb2.Wish(
        id=wish.id,
        community_id=d.community_id,
        title=d.title,
        description=d.description,
        beneficiary_group=BENEFICIARY_TO_PROTO[d.beneficiary],
        location=latlng_to_proto(location),
        address=d.address if private else "",
        skills=skills_to_proto(d.skills),
        headcount=d.headcount,
        window=window_to_proto(d.window),
        effort_hours=d.effort_hours,
        task_id=wish.task_id,
        create_time=ts(wish.created_at),
        team=d.team,
    )


def role_draft_from_proto(r: tasks_pb2.VolunteerRole) -> RoleDraft:
    which = r.WhichOneof("schedule")
    schedule: WeeklySchedule | OneOffSchedule | None = None
    if which == "weekly":
        w = r.weekly
        schedule = WeeklySchedule(
            days=tuple(int(d) for d in w.days),
            start_minute=w.start_minute,
            end_minute=w.end_minute,
            first_date=date_from_proto(w.first_date, w.HasField("first_date")),
            last_date=date_from_proto(w.last_date, w.HasField("last_date")),
        )
    elif which == "once":
        schedule = OneOffSchedule(window_from_proto(r.once.window, r.once.HasField("window")))
    return RoleDraft(
        community_id=r.community_id,
        unit_id=r.unit_id,
        title=r.title,
        description=r.description,
        beneficiary=BENEFICIARY_FROM_PROTO.get(r.beneficiary_group),
        location=latlng_from_proto(r.location, r.HasField("location")),
        skills=skills_from_proto(list(r.skills)),
        headcount=r.headcount,
        effort_hours=r.effort_hours,
        schedule=schedule,
        street_wide=r.street_wide,
        no_answer=NO_ANSWER_FROM_PROTO.get(r.no_answer),
        team=r.team,
        overbook_cap=r.overbook_cap,
    )


def role_to_proto(role: VolunteerRole) -> tasks_pb2.VolunteerRole:
    d = role.draft
    assert d.beneficiary is not None and d.location is not None
    out = tasks_pb2.VolunteerRole(
        id=role.id,
        community_id=d.community_id,
        unit_id=d.unit_id,
        title=d.title,
        description=d.description,
        beneficiary_group=BENEFICIARY_TO_PROTO[d.beneficiary],
        location=latlng_to_proto(d.location),
        skills=skills_to_proto(d.skills),
        headcount=d.headcount,
        effort_hours=d.effort_hours,
        street_wide=d.street_wide,
        ended=role.ended,
        create_time=ts(role.created_at),
        no_answer=NO_ANSWER_TO_PROTO[d.no_answer],
        team=d.team,
        overbook_cap=d.overbook_cap,
    )
    if isinstance(d.schedule, WeeklySchedule):
        s = d.schedule
        out.weekly.CopyFrom(
            tasks_pb2.WeeklySchedule(
                days=list(s.days),  # type: ignore[arg-type]
                start_minute=s.start_minute,
                end_minute=s.end_minute,
                first_date=date_to_proto(s.first_date),
                last_date=date_to_proto(s.last_date),
            )
        )
    elif isinstance(d.schedule, OneOffSchedule) and d.schedule.window is not None:
        out.once.window.CopyFrom(window_to_proto(d.schedule.window))
    return out


def task_to_proto(task: Task, *, private: bool) -> tasks_pb2.Task:
    # Role occurrences happen at public places; only a wish's place may be a resident's home.
    exact = private or task.kind is TaskKind.ROLE_OCCURRENCE
    location = task.location if exact else approximate(task.location)
    return tasks_pb2.Task(
        id=task.id,
        kind=KIND_TO_PROTO[task.kind],
        source_id=task.source_id,
        community_id=task.community_id,
        street_id=task.street_id,
        street_wide=task.street_wide,
        title=task.title,
        description=task.description,
        beneficiary_group=BENEFICIARY_TO_PROTO[task.beneficiary],
        location=latlng_to_proto(location),
        location_approximate=not exact,
        address=task.address if private else "",
        skills=skills_to_proto(task.skills),
        headcount=task.headcount,
        places_taken=task.places_taken,
        accepted=task.accepted,
        window=window_to_proto(task.window),
        effort_hours=task.effort_hours,
        status=STATUS_TO_PROTO[task.status],
        cancel_reason=task.cancel_reason,
        distance_m=round(task.distance_m, 1),
        create_time=ts(task.created_at),
        update_time=ts(task.updated_at),
        revision=task.revision,
        unit_id=task.unit_id,
        team=task.team,
        overbook_cap=task.overbook_cap,
    )


def task_answer(task: Task, *, private: bool) -> tasks_pb2.Task:
    """A task as an answer shows it: a wish's address and exact place (a resident's home) shown
    are noted for the audit log. Events carry the same message and are no reveal."""
    if private and task.kind is TaskKind.WISH:
        audit.note_reveal(task_id=task.id, revealed=[audit.ADDRESS])
    return task_to_proto(task, private=private)


def wish_answer(wish: Wish, *, private: bool) -> tasks_pb2.Wish:
    """A wish as an answer shows it, its address noted for the audit log as `task_answer` does."""
    if private:
        audit.note_reveal(task_id=wish.task_id, revealed=[audit.ADDRESS])
    return wish_to_proto(wish, private=private)


def assignment_to_proto(a: Assignment) -> tasks_pb2.Assignment:
    return tasks_pb2.Assignment(
        id=a.id,
        task_id=a.task_id,
        member_id=a.member_id,
        state=STATE_TO_PROTO[a.state],
        source=SOURCE_TO_PROTO[a.source],
        expire_time=ts(a.expires_at),
        match_run_id=a.match_run_id,
        hours=a.hours,
        reason=a.reason,
        create_time=ts(a.created_at),
        update_time=ts(a.updated_at),
        confirm_request_time=ts(a.confirm_requested_at),
        answer_by_time=ts(a.answer_by),
        confirm_time=ts(a.confirmed_at),
    )


def record_to_proto(r: MemberRecord) -> tasks_pb2.MemberRecord:
    return tasks_pb2.MemberRecord(
        member_id=r.member_id,
        hours_this_month=r.hours_this_month,
        hours_this_year=r.hours_this_year,
        hours_total=r.hours_total,
        tasks_done=r.tasks_done,
        no_shows=r.no_shows,
        upcoming=r.upcoming,
    )


def member_export(export: MemberExport) -> dict[str, Any]:
    """The task service's sections of a member's export. Tasks are shown as to anyone who may
    see them, without the exact place: a wish's place is the resident's, not the member's."""
    return {
        "member": export.copy,
        "record": as_json(record_to_proto(export.record)),
        "assignments": [
            {
                **as_json(assignment_to_proto(a)),
                "task": as_json(task_to_proto(export.tasks[a.task_id], private=False))
                if a.task_id in export.tasks
                else None,
            }
            for a in export.assignments
        ],
        "feedback": {
            task_id: {"score": f.score, "comment": f.comment}
            for task_id, f in sorted(export.feedback.items())
        },
        **attendance_export(export.attendance, export.hours),
    }


def standby_to_proto(e: StandbyEntry) -> tasks_pb2.StandbyEntry:
    return tasks_pb2.StandbyEntry(
        task_id=e.task_id, member_id=e.member_id, join_time=ts(e.joined_at)
    )


def task_patch_from_proto(t: tasks_pb2.Task) -> TaskPatch:
    return TaskPatch(
        window=window_from_proto(t.window, t.HasField("window")),
        location=latlng_from_proto(t.location, t.HasField("location")),
        address=t.address,
        title=t.title,
        description=t.description,
        headcount=t.headcount,
    )
