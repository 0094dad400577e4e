"""Event handler tables: which function a consuming service runs for which kind of event.

Each consuming service declares one table in its `handlers.py`, a row per payload type:

    table = (
        EventTable()
        .on(events_pb2.CommunityCreated, apply=community_created)
        .on(events_pb2.TaskPosted, events_pb2.TaskCancelled, apply=task_changed, after=refresh)
        .carrying(registry_pb2.Member, apply=member_changed)
    )

`apply(conn, payload, envelope)` runs inside the consumer's transaction (the read model and any
outbox rows change together with the inbox row); `after(payload, envelope)` runs once the event
is committed (in-memory state, reactions that must not roll back). `carrying(T, ...)` catches
every payload with a field of message type `T` that no exact row names (for example every
registry event that carries the member whole, including kinds added later). A payload no row
matches is skipped: consumers subscribe by subject, so only a newer producer's kind lands here,
and it must not stop the stream.

The table is the consumer's `handler` and `after` (`Consumer(..., handler=table.apply,
after=table.after)`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from google.protobuf import descriptor_pool, message, message_factory

from linli.v1 import events_pb2

log = logging.getLogger(__name__)

Apply = Callable[[asyncpg.Connection, Any, events_pb2.EventEnvelope], Awaitable[None]]
After = Callable[[Any, events_pb2.EventEnvelope], Awaitable[None]]


@dataclass(frozen=True)
class Row:
    """What runs for one kind of payload."""

    apply: Apply | None = None
    after: After | None = None


@dataclass(frozen=True)
class _Carrying:
    field_type: str  # full name of the carried message type
    row: Row


class EventTable:
    """Dispatch of consumed events to their handlers, by the payload's message type."""

    def __init__(self) -> None:
        self._rows: dict[str, Row] = {}
        self._carrying: list[_Carrying] = []

    def on(
        self,
        *kinds: type[message.Message],
        apply: Apply | None = None,
        after: After | None = None,
    ) -> EventTable:
        """Run `apply` (in the transaction) and `after` (once committed) for each of `kinds`."""
        if not kinds:
            raise ValueError("name at least one payload type")
        for kind in kinds:
            name = kind.DESCRIPTOR.full_name
            if name in self._rows:
                raise ValueError(f"{name} already has a row")
            self._rows[name] = Row(apply, after)
        return self

    def carrying(
        self,
        field_type: type[message.Message],
        *,
        apply: Apply | None = None,
        after: After | None = None,
    ) -> EventTable:
        """For any other payload with a field of type `field_type`, run these with that field."""
        self._carrying.append(_Carrying(field_type.DESCRIPTOR.full_name, Row(apply, after)))
        return self

    @property
    def kinds(self) -> list[str]:
        """The payload types with a row of their own (full names), for docs and tests."""
        return sorted(self._rows)

    def _match(self, env: events_pb2.EventEnvelope) -> tuple[Row, Any] | None:
        name = env.payload.TypeName()
        try:
            descriptor = descriptor_pool.Default().FindMessageTypeByName(name)
        except KeyError:
            return None
        row = self._rows.get(name)
        if row is not None:
            payload = message_factory.GetMessageClass(descriptor)()
            env.payload.Unpack(payload)
            return row, payload
        for rule in self._carrying:
            for f in descriptor.fields:
                if f.message_type is not None and f.message_type.full_name == rule.field_type:
                    payload = message_factory.GetMessageClass(descriptor)()
                    env.payload.Unpack(payload)
                    return rule.row, getattr(payload, f.name)
        return None

    async def apply(self, conn: asyncpg.Connection, env: events_pb2.EventEnvelope) -> None:
        """The consumer's handler: the row's `apply`, inside the event's transaction."""
        found = self._match(env)
        if found is None:
            log.debug("no handler for %s (%s): skipped", env.subject, env.payload.TypeName())
            return
        row, payload = found
        if row.apply is not None:
            await row.apply(conn, payload, env)

    async def after(self, env: events_pb2.EventEnvelope) -> None:
        """The consumer's after-commit hook: the row's `after`."""
        found = self._match(env)
        if found is not None and found[0].after is not None:
            await found[0].after(found[1], env)
