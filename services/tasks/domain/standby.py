"""The standby list: members waiting for a place on a full task, offered a freed place first.

Pure: who may join, and which entries end when a task stops taking places or a member takes one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from services.common.errors import FailedPrecondition
from services.tasks.domain.access import MemberView, member_refusal
from services.tasks.domain.assignment import Assignment
from services.tasks.domain.change import Change, StandbyEntry, StandbyLeft
from services.tasks.domain.errors import TASK_NOT_FULL, ClaimRefusal, Refusal, refused
from services.tasks.domain.places import release
from services.tasks.domain.task import TAKING_PLACES, Task, task_refusal

# Why an entry ended (StandbyLeft.reason).
LEFT = "left"
PLACED = "placed"
TASK_CLOSED = "task closed"
NOT_ELIGIBLE = "not eligible"


def join_standby(
    task: Task,
    live: Sequence[Assignment],
    member_id: str,
    member: MemberView | None,
    now: datetime,
) -> StandbyEntry:
    """The member's entry on a full task's list. They must be able to take a place on it as
    they could claim one (scope, status, deadline), and hold none yet."""
    problem = member_refusal(member, task.community_id, task.street_id, task.street_wide)
    if problem is None:
        problem = task_refusal(task, now)
        if problem is not None and problem.refusal is Refusal.TASK_FULL:
            problem = None
        elif problem is None:
            raise FailedPrecondition(
                "cannot join the standby list: the task has a free place (claim it)",
                TASK_NOT_FULL,
            )
    if problem is None and any(a.member_id == member_id for a in live):
        problem = ClaimRefusal(Refusal.ALREADY_HOLDS, "the member already has a place on this task")
    if problem is not None:
        raise refused("join the standby list", problem)
    return StandbyEntry(task.id, member_id, now)


def standby_ends(task: Task, placed: Iterable[str], waiting: Iterable[str]) -> list[StandbyLeft]:
    """The entries a change to a task ends: all of them once it takes no more places, else
    those of the members who just took a place on it."""
    waiting = sorted(set(waiting))
    if task.status not in TAKING_PLACES:
        return [StandbyLeft(task.id, m, TASK_CLOSED) for m in waiting]
    taken = set(placed)
    return [StandbyLeft(task.id, m, PLACED) for m in waiting if m in taken]


def no_longer_eligible(task: Task, member_id: str, member: MemberView | None) -> StandbyLeft | None:
    """A member who could no longer take a place on the task (moved, deactivated) leaves its
    list."""
    if member_refusal(member, task.community_id, task.street_id, task.street_wide) is None:
        return None
    return StandbyLeft(task.id, member_id, NOT_ELIGIBLE)


def release_member(
    task: Task,
    live: Sequence[Assignment],
    member_id: str,
    member: MemberView | None,
    on_standby: bool,
    now: datetime,
) -> Change:
    """A member who can no longer take places on this task (moved, deactivated): their places
    are freed and their standby entry ends."""
    change = release(task, live, member_id, member, now)
    left = no_longer_eligible(task, member_id, member) if on_standby else None
    if left is None:
        return change
    return Change(change.task, change.written, (*change.events, left), change.created)
