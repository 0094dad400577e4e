"""The event bus: transactional outbox, relay to NATS JetStream, and idempotent durable consumers.

- `Outbox.add` writes an event row with the caller's connection, inside the caller's transaction,
  so the event exists exactly when the change it announces does.
- `OutboxRelay` publishes unsent rows in order to the stream with the event id as `Nats-Msg-Id`
  (JetStream drops a duplicate inside its window) and marks them sent only after the ack. While
  NATS is away it keeps the rows and retries with backoff; nothing is lost.
- `Consumer` pulls from a durable consumer, applies each event in a transaction that also records
  its id in the inbox (a redelivered event is acked and skipped), and acks after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import nats
from google.protobuf import message as pb_message
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from linli.v1 import events_pb2
from services.common.auth import Principal

log = logging.getLogger(__name__)

SUBJECT_PREFIX = "linli"


def subject(service: str, entity: str, verb: str) -> str:
    return f"{SUBJECT_PREFIX}.{service}.{entity}.{verb}"


async def connect(url: str, name: str) -> NatsClient:
    """A NATS connection that keeps reconnecting for as long as the process lives."""

    async def on_error(e: Exception) -> None:
        log.warning("nats: %s", e)

    async def on_disconnect() -> None:
        log.warning("nats: disconnected")

    async def on_reconnect() -> None:
        log.info("nats: reconnected")

    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        allow_reconnect=True,
        connect_timeout=5,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )


async def ensure_stream(js: JetStreamContext, name: str) -> None:
    """Create the stream that carries every Linli event, or leave the existing one as it is."""
    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(
            api.StreamConfig(
                name=name,
                subjects=[f"{SUBJECT_PREFIX}.>"],
                storage=api.StorageType.FILE,
                retention=api.RetentionPolicy.LIMITS,
                duplicate_window=120.0,
            )
        )


def envelope(
    *, source: str, subj: str, payload: pb_message.Message, actor: Principal | None
) -> events_pb2.EventEnvelope:
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
    """Writes events into a service's outbox table (in its own schema, on the search path)."""

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
        await conn.execute(
            "INSERT INTO outbox (id, subject, envelope) VALUES ($1, $2, $3)",
            uuid.UUID(env.id),
            subj,
            env.SerializeToString(),
        )
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
        await conn.execute(
            "INSERT INTO outbox (id, subject, envelope)"
            " SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[])",
            ids,
            subjects,
            blobs,
        )


class OutboxRelay:
    """Publishes a schema's outbox to JetStream, in order, and marks rows sent after their acks."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        js: JetStreamContext,
        *,
        schema: str,
        batch: int = 256,
        idle_poll_s: float = 1.0,
        ack_timeout_s: float = 5.0,
    ) -> None:
        self._pool = pool
        self._js = js
        self._schema = schema
        self._batch = batch
        self._idle_poll_s = idle_poll_s
        self._ack_timeout_s = ack_timeout_s
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.published = 0

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload == self._schema:
            self._wake.set()

    async def run(self) -> None:
        """Run until stop(); survives NATS and PostgreSQL going away and coming back."""
        backoff = 0.2
        listener: asyncpg.Connection | None = None
        while not self._stopping.is_set():
            try:
                if listener is None or listener.is_closed():
                    listener = await self._pool.acquire()
                    await listener.add_listener("linli_outbox", self._on_notify)
                sent = await self.publish_pending()
                backoff = 0.2
                if sent < self._batch:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._idle_poll_s):
                            await asyncio.wait(
                                [
                                    asyncio.ensure_future(self._wake.wait()),
                                    asyncio.ensure_future(self._stopping.wait()),
                                ],
                                return_when=asyncio.FIRST_COMPLETED,
                            )
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("outbox relay (%s): %s; retrying in %.1fs", self._schema, e, backoff)
                if listener is not None:
                    with contextlib.suppress(Exception):
                        await self._pool.release(listener)
                    listener = None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(backoff):
                        await self._stopping.wait()
                backoff = min(backoff * 2, 5.0)
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.remove_listener("linli_outbox", self._on_notify)
                await self._pool.release(listener)

    def stop(self) -> None:
        self._stopping.set()

    async def publish_pending(self) -> int:
        """Publish one batch of unsent rows; return how many were sent."""
        async with self._pool.acquire() as conn, conn.transaction():
            # SKIP LOCKED lets two replicas of a service relay side by side without double work.
            rows = await conn.fetch(
                "SELECT seq, id, subject, envelope FROM outbox WHERE sent_at IS NULL"
                " ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch,
            )
            if not rows:
                return 0
            futures = [
                await self._js.publish_async(
                    r["subject"], r["envelope"], headers={"Nats-Msg-Id": str(r["id"])}
                )
                for r in rows
            ]
            try:
                async with asyncio.timeout(self._ack_timeout_s):
                    await asyncio.gather(*futures)
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
            await conn.execute(
                "UPDATE outbox SET sent_at = now() WHERE seq = ANY($1::bigint[])",
                [r["seq"] for r in rows],
            )
        self.published += len(rows)
        return len(rows)


Handler = Callable[[asyncpg.Connection, events_pb2.EventEnvelope], Awaitable[None]]


class Consumer:
    """A durable JetStream pull consumer that applies each event exactly once to the database."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        js: JetStreamContext,
        *,
        stream: str,
        durable: str,
        subjects: list[str],
        handler: Handler,
        batch: int = 128,
        ack_wait_s: float = 30.0,
    ) -> None:
        self._pool = pool
        self._js = js
        self._stream = stream
        self._durable = durable
        self._subjects = subjects
        self._handler = handler
        self._batch = batch
        self._ack_wait_s = ack_wait_s
        self._stopping = asyncio.Event()
        self.applied = 0
        self.skipped = 0

    def stop(self) -> None:
        self._stopping.set()

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        """Bind to the durable consumer, creating it on first use."""
        config = api.ConsumerConfig(
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_wait=self._ack_wait_s,
            max_ack_pending=10_000,
            filter_subjects=self._subjects,
        )
        return await self._js.pull_subscribe(
            "", durable=self._durable, stream=self._stream, config=config
        )

    async def run(self) -> None:
        backoff = 0.2
        sub: JetStreamContext.PullSubscription | None = None
        while not self._stopping.is_set():
            try:
                if sub is None:
                    sub = await self._subscribe()
                try:
                    msgs = await sub.fetch(self._batch, timeout=1.0)
                except nats.errors.TimeoutError:
                    continue
                for msg in msgs:
                    await self._apply(msg)
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("consumer %s: %s; retrying in %.1fs", self._durable, e, backoff)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(backoff):
                        await self._stopping.wait()
                backoff = min(backoff * 2, 5.0)
                if sub is not None and not self._js._nc.is_connected:
                    sub = None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _apply(self, msg: Msg) -> None:
        env = events_pb2.EventEnvelope()
        try:
            env.ParseFromString(msg.data)
            event_id = uuid.UUID(env.id)
        except (pb_message.DecodeError, ValueError):
            log.error(
                "consumer %s: dropping a message that is not an event on %s",
                self._durable,
                msg.subject,
            )
            await msg.term()
            return
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                fresh = await conn.fetchval(
                    "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2)"
                    " ON CONFLICT DO NOTHING RETURNING true",
                    self._durable,
                    event_id,
                )
                if fresh:
                    await self._handler(conn, env)
        except Exception:
            # Nothing was committed; ask for the event again a little later.
            with contextlib.suppress(Exception):
                await msg.nak(delay=1.0)
            raise
        # Ack only after the commit: a crash before this line redelivers, and the inbox skips it.
        await msg.ack()
        if fresh:
            self.applied += 1
        else:
            self.skipped += 1
