"""The transactional outbox: event rows written in the transaction of the change they announce,
and the pruning of what no longer matters."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from google.protobuf import message as pb_message

from linli.v1 import events_pb2
from services.common import audit
from services.common.auth import Principal
from services.common.tracing import current_trace_context


def envelope(
    *, source: str, subj: str, payload: pb_message.Message, actor: Principal | None
) -> events_pb2.EventEnvelope:
    """An envelope for `payload` with a fresh id and the time now (unsealed, without its
    position: the relay adds both)."""
    env = events_pb2.EventEnvelope(
        id=str(uuid.uuid4()),
        type=payload.DESCRIPTOR.full_name,
        source=source,
        subject=subj,
    )
    env.time.GetCurrentTime()
    if actor is not None:
        env.actor.CopyFrom(actor.to_proto())
    env.payload.Pack(payload)
    return env


@dataclass(frozen=True)
class Outbox:
    """Writes events into a service's outbox table (in its own schema, on the search path), each
    with the trace context of the call or event that caused it (tracing.py), and for a change
    made through a call its audit entries (`audit.write_changes`) beside them."""

    source: str

    async def add(
        self,
        conn: asyncpg.Connection,
        subj: str,
        payload: pb_message.Message,
        actor: Principal | None,
    ) -> events_pb2.EventEnvelope:
        if not conn.is_in_transaction():
            raise RuntimeError("outbox rows are written inside the transaction of the change")
        env = envelope(source=self.source, subj=subj, payload=payload, actor=actor)
        traceparent, tracestate = current_trace_context()
        await conn.execute(
            "INSERT INTO outbox (id, subject, envelope, traceparent, tracestate)"
            " VALUES ($1, $2, $3, $4, $5)",
            uuid.UUID(env.id),
            subj,
            env.SerializeToString(),
            traceparent,
            tracestate,
        )
        await audit.write_changes(conn, [(subj, payload)])
        return env

    async def add_many(
        self,
        conn: asyncpg.Connection,
        items: list[tuple[str, pb_message.Message]],
        actor: Principal | None,
    ) -> None:
        if not conn.is_in_transaction():
            raise RuntimeError("outbox rows are written inside the transaction of the change")
        ids, subjects, blobs = [], [], []
        for subj, payload in items:
            env = envelope(source=self.source, subj=subj, payload=payload, actor=actor)
            ids.append(uuid.UUID(env.id))
            subjects.append(subj)
            blobs.append(env.SerializeToString())
        traceparent, tracestate = current_trace_context()
        await conn.execute(
            "INSERT INTO outbox (id, subject, envelope, traceparent, tracestate)"
            " SELECT *, $4::text, $5::text FROM unnest($1::uuid[], $2::text[], $3::bytea[])",
            ids,
            subjects,
            blobs,
            traceparent,
            tracestate,
        )
        await audit.write_changes(conn, items)


async def backlog(pool: asyncpg.Pool) -> tuple[int, float]:
    """Rows not yet published, and the age in seconds of the oldest of them (0 when none)."""
    row = await pool.fetchrow(
        "SELECT count(*) AS rows,"
        " coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS age"
        " FROM outbox WHERE sent_at IS NULL"
    )
    assert row is not None
    return int(row["rows"]), max(float(row["age"]), 0.0)


async def rewrite(
    conn: asyncpg.Connection,
    subject_prefix: str,
    change: Callable[[events_pb2.EventEnvelope], bool],
) -> int:
    """Let `change` edit, in place, the envelope of every kept outbox row whose subject starts
    with `subject_prefix`, and write back those it changed (True); how many it changed.

    For erasure: rows already sent are kept for a while (`prune`) and published again when the
    stream lost them, so a person's old snapshots must not wait there. Locks the rows it reads.
    """
    if not conn.is_in_transaction():
        raise RuntimeError("outbox rows are rewritten inside the transaction of the change")
    rows = await conn.fetch(
        "SELECT seq, envelope FROM outbox WHERE starts_with(subject, $1) ORDER BY seq FOR UPDATE",
        subject_prefix,
    )
    changed = 0
    for r in rows:
        env = events_pb2.EventEnvelope.FromString(r["envelope"])
        if change(env):
            await conn.execute(
                "UPDATE outbox SET envelope = $2 WHERE seq = $1", r["seq"], env.SerializeToString()
            )
            changed += 1
    return changed


async def prune(pool: asyncpg.Pool, *, outbox_days: int = 7, inbox_days: int = 30) -> None:
    """Forget sent outbox rows and handled-event records old enough never to matter again.

    The inbox must outlive the outbox: a republished event is recognised by its inbox record.
    """
    inbox_days = max(inbox_days, outbox_days + 1)
    await pool.execute(
        "DELETE FROM outbox WHERE sent_at < now() - make_interval(days => $1)", outbox_days
    )
    await pool.execute(
        "DELETE FROM inbox WHERE handled_at < now() - make_interval(days => $1)", inbox_days
    )
