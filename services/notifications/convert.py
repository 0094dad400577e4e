"""Proto <-> domain for the notifications service: the records events carry into the read model,
and inbox items and preferences into their messages."""

from __future__ import annotations

from datetime import datetime

from linli.v1 import common_pb2, identity_pb2, notifications_pb2, registry_pb2, tasks_pb2
from services.common.auth import Role
from services.common.protoconv import (
    ASSIGNMENT_STATE_WORDS,
    TASK_STATUS_WORDS,
    time_from_proto,
    ts,
)
from services.notifications.domain.items import Item, Kind, Urgency
from services.notifications.domain.world import MemberRow, Place, Preferences, StaffAccount, TaskRow

_ROLES = {
    common_pb2.ROLE_COMMUNITY_STAFF: Role.COMMUNITY_STAFF,
    common_pb2.ROLE_STREET_ADMIN: Role.STREET_ADMIN,
    common_pb2.ROLE_DISTRICT_ADMIN: Role.DISTRICT_ADMIN,
    common_pb2.ROLE_SERVICE: Role.SERVICE,
}
KIND_TO_PROTO = {
    k: notifications_pb2.InboxItemKind.Value(f"INBOX_ITEM_KIND_{k.name}") for k in Kind
}
URGENCY_TO_PROTO = {
    Urgency.NORMAL: notifications_pb2.URGENCY_NORMAL,
    Urgency.URGENT: notifications_pb2.URGENCY_URGENT,
}


def task_row(t: tasks_pb2.Task) -> TaskRow:
    return TaskRow(
        id=t.id,
        community_id=t.community_id,
        street_id=t.street_id,
        title=t.title,
        place=t.address,
        start=time_from_proto(t.window.start),
        end=time_from_proto(t.window.end),
        status=TASK_STATUS_WORDS.get(t.status, ""),
    )


def place(a: tasks_pb2.Assignment, at: datetime) -> Place:
    state = ASSIGNMENT_STATE_WORDS.get(a.state, "")
    return Place(a.id, a.task_id, a.member_id, state, at if state == "accepted" else None)


def member_row(m: registry_pb2.Member) -> tuple[MemberRow, datetime]:
    return MemberRow(m.id, m.name, m.community_id, m.phone), time_from_proto(m.update_time)


def staff_account(a: identity_pb2.Account) -> StaffAccount:
    return StaffAccount(
        a.id,
        _ROLES.get(a.role, Role.SERVICE),  # type: ignore[call-overload]
        frozenset(a.community_ids),
        frozenset(a.street_ids),
        a.disabled,
    )


def item_to_proto(i: Item) -> notifications_pb2.InboxItem:
    r = i.resource
    return notifications_pb2.InboxItem(
        id=i.id,
        cursor=i.cursor,
        kind=KIND_TO_PROTO[i.kind],
        title=i.title,
        body=i.body,
        resource=notifications_pb2.InboxResource(
            task_id=r.task_id,
            assignment_id=r.assignment_id,
            member_id=r.member_id,
            community_id=r.community_id,
            record_id=r.record_id,
        ),
        create_time=ts(i.create_time),
        read=i.read,
        urgency=URGENCY_TO_PROTO[i.urgency],
        pushed=i.pushed,
    )


def preferences_to_proto(p: Preferences) -> notifications_pb2.DeliveryPreferences:
    return notifications_pb2.DeliveryPreferences(
        sms=p.sms, wechat=p.wechat, wechat_openid=p.openid, wechat_refused=p.wechat_refused
    )


def preferences_from_proto(p: notifications_pb2.DeliveryPreferences) -> Preferences:
    return Preferences(p.sms, p.wechat, p.wechat_openid)
