"""What the task service publishes: the only place its event payloads are built, from the
domain's events.

Published payloads carry whole records (exact places and addresses included): the stream is for
services only.
"""

from __future__ import annotations

from datetime import datetime

from google.protobuf import field_mask_pb2
from google.protobuf import message as pb_message

from linli.v1 import events_pb2
from services.common.protoconv import ts
from services.common.subjects import (
    CONFIRMATION_OVERDUE,
    CONFIRMATION_REQUESTED,
    HOURS_CONFIRMED,
    HOURS_REFUSED,
    HOURS_REQUESTED,
    PLACE_LEFT_EMPTY,
    PROPOSAL_REJECTED,
    ROLE_CREATED,
    ROLE_ENDED,
    STANDBY_JOINED,
    STANDBY_LEFT,
    TASK_CHANGED,
    TASK_POSTED,
    subject,
)
from services.common.subjects import TASKS as SERVICE
from services.tasks import attendance_convert, domain
from services.tasks.convert import assignment_to_proto, role_to_proto, task_to_proto
from services.tasks.domain import Assignment, DomainEvent, Task, VolunteerRole
from services.tasks.domain import hours as hours_domain

Event = tuple[str, pb_message.Message]


def task_posted(task: Task) -> Event:
    return TASK_POSTED, events_pb2.TaskPosted(task=task_to_proto(task, private=True))


def task_cancelled(task: Task, reason: str) -> Event:
    return subject(SERVICE, "task", "cancelled"), events_pb2.TaskCancelled(
        task=task_to_proto(task, private=True), reason=reason
    )


def task_expired(task: Task) -> Event:
    return subject(SERVICE, "task", "expired"), events_pb2.TaskExpired(
        task=task_to_proto(task, private=True)
    )


def task_closed(task: Task) -> Event:
    return subject(SERVICE, "task", "closed"), events_pb2.TaskClosed(
        task=task_to_proto(task, private=True)
    )


def task_completed(task: Task, assignments: list[Assignment], score: int, comment: str) -> Event:
    from linli.v1 import tasks_pb2

    return subject(SERVICE, "task", "completed"), events_pb2.TaskCompleted(
        task=task_to_proto(task, private=True),
        assignments=[assignment_to_proto(a) for a in assignments],
        feedback=tasks_pb2.Feedback(score=score, comment=comment),
    )


def assignment_changed(verb: str, assignment: Assignment, task: Task) -> Event:
    """verb: claimed, proposed, accepted, declined, expired, withdrawn or cancelled."""
    return subject(SERVICE, "assignment", verb), events_pb2.AssignmentChanged(
        assignment=assignment_to_proto(assignment), task=task_to_proto(task, private=True)
    )


def role_created(role: VolunteerRole) -> Event:
    return ROLE_CREATED, events_pb2.RoleCreated(role=role_to_proto(role))


def role_ended(role: VolunteerRole) -> Event:
    return ROLE_ENDED, events_pb2.RoleEnded(role=role_to_proto(role))


def proposal_rejected(
    run_id: str, task_id: str, member_id: str, reason: str, place_unavailable: bool
) -> Event:
    return PROPOSAL_REJECTED, events_pb2.ProposalRejected(
        match_run_id=run_id,
        task_id=task_id,
        member_id=member_id,
        reason=reason,
        place_unavailable=place_unavailable,
    )


def hours_payload(event: hours_domain.HoursEvent) -> Event:
    """The subject and payload that announce a change of an hours record."""
    match event:
        case hours_domain.HoursConfirmed(record):
            return HOURS_CONFIRMED, attendance_convert.hours_confirmed(record)
        case hours_domain.HoursRequested(record):
            return HOURS_REQUESTED, attendance_convert.hours_requested(record)
        case hours_domain.HoursRefused(record):
            return HOURS_REFUSED, attendance_convert.hours_refused(record)
    raise AssertionError(f"no payload for {event!r}")


def standby_joined(entry: domain.StandbyEntry) -> Event:
    return STANDBY_JOINED, events_pb2.StandbyJoined(
        task_id=entry.task_id, member_id=entry.member_id, join_time=ts(entry.joined_at)
    )


def standby_left(task_id: str, member_id: str, reason: str) -> Event:
    return STANDBY_LEFT, events_pb2.StandbyLeft(task_id=task_id, member_id=member_id, reason=reason)


def confirmation_requested(a: Assignment, task: Task, answer_by: datetime) -> Event:
    return CONFIRMATION_REQUESTED, events_pb2.ConfirmationRequested(
        assignment=assignment_to_proto(a),
        task=task_to_proto(task, private=True),
        answer_by=ts(answer_by),
    )


def confirmation_overdue(a: Assignment, task: Task) -> Event:
    return CONFIRMATION_OVERDUE, events_pb2.ConfirmationOverdue(
        assignment=assignment_to_proto(a), task=task_to_proto(task, private=True)
    )


def place_left_empty(task: Task, empty: int) -> Event:
    return PLACE_LEFT_EMPTY, events_pb2.PlaceLeftEmpty(
        task=task_to_proto(task, private=True), empty_places=empty
    )


def task_changed(task: Task, paths: tuple[str, ...], reason: str) -> Event:
    return TASK_CHANGED, events_pb2.TaskChanged(
        task=task_to_proto(task, private=True),
        update_mask=field_mask_pb2.FieldMask(paths=list(paths)),
        reason=reason,
    )


def payload(event: DomainEvent) -> Event:
    """The subject and payload that announce a domain event."""
    match event:
        case domain.AssignmentChanged(verb, assignment, task):
            return assignment_changed(verb, assignment, task)
        case domain.TaskPosted(task):
            return task_posted(task)
        case domain.TaskCancelled(task, reason):
            return task_cancelled(task, reason)
        case domain.TaskExpired(task):
            return task_expired(task)
        case domain.TaskClosed(task):
            return task_closed(task)
        case domain.TaskCompleted(task, assignments, score, comment):
            return task_completed(task, list(assignments), score, comment)
        case domain.RoleCreated(role):
            return role_created(role)
        case domain.RoleEnded(role):
            return role_ended(role)
        case domain.StandbyJoined(entry):
            return standby_joined(entry)
        case domain.StandbyLeft(task_id, member_id, reason):
            return standby_left(task_id, member_id, reason)
        case domain.ConfirmationRequested(a, task, answer_by):
            return confirmation_requested(a, task, answer_by)
        case domain.ConfirmationOverdue(a, task):
            return confirmation_overdue(a, task)
        case domain.PlaceLeftEmpty(task, empty):
            return place_left_empty(task, empty)
        case domain.TaskChanged(task, paths, reason):
            return task_changed(task, paths, reason)
        case domain.ProposalRejected(run_id, task_id, member_id, reason, unavailable):
            return proposal_rejected(run_id, task_id, member_id, reason, unavailable)
    raise AssertionError(f"no payload for {event!r}")
