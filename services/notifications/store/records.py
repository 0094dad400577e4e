"""Rows of the notifications schema to domain values and back."""

from __future__ import annotations

import asyncpg

from services.common.auth import Role
from services.notifications.domain.items import Delivery, Item, Kind, Resource, Urgency
from services.notifications.domain.world import MemberRow, Place, Preferences, TaskRow

ITEM_COLUMNS = (
    "id, inbox_id, cursor, kind, title, body, task_id, assignment_id, member_id, community_id,"
    " record_id, urgency, delivery, read, create_time"
)


def item(r: asyncpg.Record) -> Item:
    return Item(
        id=str(r["id"]),
        inbox_id=r["inbox_id"],
        cursor=r["cursor"],
        kind=Kind(r["kind"]),
        title=r["title"],
        body=r["body"],
        resource=Resource(
            r["task_id"], r["assignment_id"], r["member_id"], r["community_id"], r["record_id"]
        ),
        urgency=Urgency(r["urgency"]),
        delivery=Delivery(r["delivery"]),
        read=r["read"],
        create_time=r["create_time"],
    )


def task(r: asyncpg.Record) -> TaskRow:
    return TaskRow(
        r["id"],
        r["community_id"],
        r["street_id"],
        r["title"],
        r["place"],
        r["start_time"],
        r["end_time"],
        r["status"],
    )


def place(r: asyncpg.Record) -> Place:
    return Place(r["id"], r["task_id"], r["member_id"], r["state"], r["accepted_at"])


def member(r: asyncpg.Record) -> MemberRow:
    return MemberRow(r["id"], r["name"], r["community_id"], r["phone"])


def preferences(r: asyncpg.Record | None) -> Preferences:
    if r is None:
        return Preferences()
    return Preferences(r["sms"], r["wechat"], r["openid"], r["wechat_refused"])


def role(name: str) -> Role:
    return Role(name)
