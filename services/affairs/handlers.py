"""The events the affairs service consumes, as a table: the registry's communities (the street
of each) and the task service's completions (evidence on the items a task was posted for)."""

from __future__ import annotations

from linli.v1 import events_pb2
from services.affairs.service import Affairs
from services.affairs.store import Tx
from services.common.handlers import EventTable

Env = events_pb2.EventEnvelope


def table(affairs: Affairs) -> EventTable:
    async def community_created(tx: Tx, e: events_pb2.CommunityCreated, _env: Env) -> None:
        await affairs.store.put_community(tx, e.community.id, e.community.street_id)

    async def task_completed(tx: Tx, e: events_pb2.TaskCompleted, _env: Env) -> None:
        done = sum(1 for a in e.assignments if a.hours > 0)
        note = f"{e.task.title}: done by {done} member(s)" if done else e.task.title
        await affairs.task_completed(tx, e.task.id, note[:200])

    return (
        EventTable()
        .on(events_pb2.CommunityCreated, apply=community_created)
        .on(events_pb2.TaskCompleted, apply=task_completed)
    )
