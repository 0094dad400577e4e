"""The events the registry consumes, as a table: its own MemberErased, to delete the erased
member's old snapshots from the stream (the outbox's copies are scrubbed with the erasure)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg

from linli.v1 import events_pb2
from services.common.handlers import EventTable

log = logging.getLogger(__name__)

# Deletes the stream's snapshots of a member; how many.
ForgetOnStream = Callable[[str], Awaitable[int]]


def event_table(forget_on_stream: ForgetOnStream) -> EventTable:
    async def member_erased(
        conn: asyncpg.Connection, e: events_pb2.MemberErased, env: events_pb2.EventEnvelope
    ) -> None:
        # Inside the inbox transaction: a failure (NATS away) rolls back and the event comes
        # again, so the deletion is done once the event is acknowledged, whatever happens.
        removed = await forget_on_stream(e.member_id)
        log.info("deleted %d stream message(s) of erased member %s", removed, e.member_id)

    return EventTable().on(events_pb2.MemberErased, apply=member_erased)
