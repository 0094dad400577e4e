"""From what happened to the items it makes: who is told (the member, the staff of the task's or
member's community), with which kind, words and urgency. Pure: the handlers bring the facts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notifications.domain import templates
from services.notifications.domain.items import Kind, Notice, Owner, Resource, Urgency
from services.notifications.domain.world import MemberRow, TaskRow

# The reason the task service gives a place released because its member moved away.
MOVED = "moved"


@dataclass(frozen=True)
class Urgent:
    """A changed or cancelled task is urgent when it starts within `within` (today's tasks)."""

    within: timedelta

    def of(self, task: TaskRow | None, now: datetime) -> Urgency:
        if task is not None and task.start - now <= self.within:
            return Urgency.URGENT
        return Urgency.NORMAL


def task_facts(task: TaskRow | None, exact: bool = False) -> dict[str, str]:
    """What an item says of a task. Its exact place (often a resident's home) only with `exact`:
    to a member holding an accepted place, as the task service shows it to them alone."""
    if task is None:
        return {}
    where = f"，地点：{task.place}" if exact and task.place else ""
    return {"task": task.title, "start": templates.when(task.start), "where": where}


def to_member(
    member_id: str,
    kind: Kind,
    key: str,
    facts: Mapping[str, str],
    resource: Resource,
    urgency: Urgency = Urgency.NORMAL,
) -> Notice:
    title, body = templates.text(kind, facts)
    return Notice(
        member_id, Owner.MEMBER, kind, title, body, resource, f"{key}:{member_id}", urgency
    )


def to_staff(
    staff: Iterable[str],
    kind: Kind,
    key: str,
    facts: Mapping[str, str],
    resource: Resource,
) -> list[Notice]:
    title, body = templates.text(kind, facts)
    return [
        Notice(s, Owner.STAFF, kind, title, body, resource, f"{key}:{s}") for s in sorted(staff)
    ]


def who(member: MemberRow | None) -> str:
    """How a member is named in a staff's item (their staff may know them)."""
    return member.name if member is not None and member.name else "一名党员"
