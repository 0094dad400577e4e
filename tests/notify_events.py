"""The events the notifications service hears, built as their publishers build them, for the
use-case tests (through the handler table) and the integration tests (through the stream)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from google.protobuf import message

from linli.v1 import common_pb2, events_pb2, identity_pb2, registry_pb2, tasks_pb2
from services.common import subjects
from services.common.eventbus import envelope
from services.common.protoconv import ts

Event = tuple[str, message.Message]


def ref(prefix: str = "n") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def env(subject: str, payload: message.Message) -> events_pb2.EventEnvelope:
    return envelope(source=subject.split(".")[1], subj=subject, payload=payload, actor=None)


def task(
    task_id: str,
    community: str,
    street: str,
    start: datetime,
    title: str = "帮老人买菜",
    status: int = tasks_pb2.TASK_STATUS_OPEN,
) -> tasks_pb2.Task:
    return tasks_pb2.Task(
        id=task_id,
        community_id=community,
        street_id=street,
        title=title,
        address="滨湖社区服务站",
        headcount=2,
        status=status,
        window=tasks_pb2.TimeWindow(start=ts(start), end=ts(start + timedelta(hours=2))),
    )


def community_created(community: str, street: str) -> Event:
    return subjects.COMMUNITY_CREATED, events_pb2.CommunityCreated(
        community=registry_pb2.Community(id=community, street_id=street)
    )


def member_registered(member: str, community: str, phone: str, at: datetime) -> Event:
    return subjects.MEMBER_REGISTERED, events_pb2.MemberRegistered(
        member=registry_pb2.Member(
            id=member, name="测试党员", phone=phone, community_id=community, update_time=ts(at)
        )
    )


def member_reported_in(member: str, community: str, at: datetime) -> Event:
    return subjects.MEMBER_REPORTED_IN, events_pb2.MemberReportedIn(
        member=registry_pb2.Member(
            id=member,
            name="报到党员",
            phone="13800000000",
            community_id=community,
            update_time=ts(at),
        )
    )


def staff_account(account: str, community: str) -> Event:
    return subjects.ACCOUNT_CREATED, events_pb2.AccountCreated(
        account=identity_pb2.Account(
            id=account,
            user_name=account,
            role=common_pb2.ROLE_COMMUNITY_STAFF,
            community_ids=[community],
        )
    )


def task_posted(t: tasks_pb2.Task) -> Event:
    return subjects.TASK_POSTED, events_pb2.TaskPosted(task=t)


def proposal_made(task_id: str, member: str, reoffer: bool = False) -> Event:
    return subjects.PROPOSAL_MADE, events_pb2.ProposalMade(
        task_id=task_id, member_id=member, reoffer=reoffer, match_run_id="run"
    )


def assignment(
    verb: str, t: tasks_pb2.Task, member: str, assignment_id: str, reason: str = ""
) -> Event:
    state = {
        "proposed": tasks_pb2.ASSIGNMENT_STATE_PROPOSED,
        "accepted": tasks_pb2.ASSIGNMENT_STATE_ACCEPTED,
        "claimed": tasks_pb2.ASSIGNMENT_STATE_ACCEPTED,
        "withdrawn": tasks_pb2.ASSIGNMENT_STATE_WITHDRAWN,
        "cancelled": tasks_pb2.ASSIGNMENT_STATE_CANCELLED,
    }[verb]
    return subjects.subject("tasks", "assignment", verb), events_pb2.AssignmentChanged(
        assignment=tasks_pb2.Assignment(
            id=assignment_id, task_id=t.id, member_id=member, state=state, reason=reason
        ),
        task=t,
    )


def task_changed(t: tasks_pb2.Task, reason: str) -> Event:
    return subjects.subject("tasks", "task", "changed"), events_pb2.TaskChanged(
        task=t, reason=reason
    )


def task_cancelled(t: tasks_pb2.Task, reason: str) -> Event:
    return subjects.subject("tasks", "task", "cancelled"), events_pb2.TaskCancelled(
        task=t, reason=reason
    )


def points_awarded(member: str, community: str, amount: int, balance: int) -> Event:
    return subjects.subject("points", "movement", "award"), events_pb2.PointsMoved(
        movement_id=ref("mv"),
        kind=events_pb2.POINTS_MOVEMENT_KIND_AWARD,
        member_id=member,
        community_id=community,
        amount=amount,
        balance=balance,
        reason="2 h 帮老人买菜",
    )


def hours_requested(member: str, community: str, task_id: str) -> Event:
    return subjects.subject("tasks", "hours", "requested"), events_pb2.HoursRequested(
        record_id=ref("hr"), task_id=task_id, member_id=member, community_id=community, minutes=90
    )
