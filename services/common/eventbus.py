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
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import nats
from google.protobuf import message as pb_message
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import NoStreamResponseError, NotFoundError

from linli.v1 import events_pb2
from services.common.auth import Principal
from services.common.streamspec import StreamSpec

log = logging.getLogger(__name__)

SUBJECT_PREFIX = "linli"


def subject(service: str, entity: str, verb: str) -> str:
    return f"{SUBJECT_PREFIX}.{service}.{entity}.{verb}"


async def connect(url: str, name: str, **credentials: str) -> NatsClient:
    """A NATS connection that keeps reconnecting for as long as the process lives.

    `credentials` are nats.connect's (user and password, or user_credentials: a creds file).
    """

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
        **credentials,  # type: ignore[arg-type]
    )


async def ensure_stream(js: JetStreamContext, stream: str | StreamSpec) -> None:
    """Create the stream that carries every Linli event, or bring an existing one to `stream`'s
    settings where NATS allows it (a name alone leaves an existing stream as it is)."""
    spec = StreamSpec(name=stream) if isinstance(stream, str) else stream
    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        await js.add_stream(spec.config([f"{SUBJECT_PREFIX}.>"]))
        return
    if isinstance(stream, str):
        return
    changed = spec.differs_from(info.config)
    if changed:
        log.warning("stream %s: updating %s to the configured values", spec.name, changed)
        await js.update_stream(spec.config(info.config.subjects or [f"{SUBJECT_PREFIX}.>"]))


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
    """Publishes a schema's outbox to JetStream, in order, marking rows sent after their acks.

    One relay per schema works at a time (a session advisory lock on its listening connection):
    replicas stand by, and order is kept. No transaction is held while publishing: rows are read,
    published one after another (each waits for its ack), and those acknowledged are marked sent;
    a crash in between republishes them, which JetStream's duplicate window (and, later, the
    consumers' inbox) absorbs.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        js: JetStreamContext,
        *,
        schema: str,
        stream: str = "LINLI",
        batch: int = 256,
        idle_poll_s: float = 1.0,
        ack_timeout_s: float = 5.0,
        stuck_after_s: float = 60.0,
    ) -> None:
        self._pool = pool
        self._js = js
        self._schema = schema
        self._stream = stream
        self._batch = batch
        self._idle_poll_s = idle_poll_s
        self._ack_timeout_s = ack_timeout_s
        self._stuck_after_s = stuck_after_s
        self._wake = asyncio.Event()
        self._stopping = False
        self._failing_since: float | None = None
        self.leader = False
        self.published = 0

    @property
    def healthy(self) -> bool:
        """False once publishing has failed without a break for longer than stuck_after_s."""
        since = self._failing_since
        return since is None or time.monotonic() - since < self._stuck_after_s

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload == self._schema:
            self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _idle(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def run(self) -> None:
        """Run until stop(); survives NATS and PostgreSQL going away and coming back."""
        backoff = 0.2
        listener: asyncpg.Connection | None = None
        try:
            while not self._stopping:
                try:
                    if listener is None:
                        listener = await self._pool.acquire()
                        await listener.add_listener("linli_outbox", self._on_notify)
                    if not self.leader:
                        self.leader = bool(
                            await listener.fetchval(
                                "SELECT pg_try_advisory_lock(hashtext($1))",
                                f"outbox:{self._schema}",
                            )
                        )
                        if not self.leader:  # another replica relays; stand by
                            await self._idle(self._idle_poll_s * 5)
                            continue
                    sent = await self.publish_pending()
                    backoff = 0.2
                    self._failing_since = None
                    if sent < self._batch:
                        await self._idle(self._idle_poll_s)
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # noqa: BLE001 (NATS or the database is away: retry)
                    if self._failing_since is None:
                        self._failing_since = time.monotonic()
                    log.warning(
                        "outbox relay (%s): %r; retrying in %.1fs", self._schema, e, backoff
                    )
                    if listener is not None and listener.is_closed():
                        await self._release(listener)
                        listener, self.leader = None, False
                    await self._idle(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            if listener is not None:
                await self._release(listener)
                self.leader = False

    async def _release(self, listener: asyncpg.Connection) -> None:
        with contextlib.suppress(Exception):
            await listener.remove_listener("linli_outbox", self._on_notify)
            if self.leader:
                await listener.execute("SELECT pg_advisory_unlock_all()")
        with contextlib.suppress(Exception):
            await self._pool.release(listener)

    async def publish_pending(self) -> int:
        """Publish one batch of unsent rows in order; return how many were sent."""
        rows = await self._pool.fetch(
            "SELECT seq, id, subject, envelope FROM outbox WHERE sent_at IS NULL"
            " ORDER BY seq LIMIT $1",
            self._batch,
        )
        if not rows:
            return 0
        sent: list[int] = []
        try:
            for r in rows:
                try:
                    await self._js.publish(
                        r["subject"],
                        r["envelope"],
                        timeout=self._ack_timeout_s,
                        headers={"Nats-Msg-Id": str(r["id"])},
                    )
                except (NoStreamResponseError, NotFoundError):
                    # NATS came back without its data: make the stream again, then retry.
                    await ensure_stream(self._js, self._stream)
                    raise
                sent.append(r["seq"])
        finally:
            if sent:  # what was acknowledged is sent, even if a later row failed
                await self._pool.execute(
                    "UPDATE outbox SET sent_at = now() WHERE seq = ANY($1::bigint[])", sent
                )
                self.published += len(sent)
        return len(sent)


Handler = Callable[[asyncpg.Connection, events_pb2.EventEnvelope], Awaitable[None]]


class Consumer:
    """A durable JetStream pull consumer that applies each event exactly once to the database.

    `handler` runs inside the event's transaction; `after`, if given, runs once the event is
    committed and acknowledged (for in-memory state and reactions that must not roll back).
    """

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
        max_deliver: int = 20,
        after: Callable[[events_pb2.EventEnvelope], Awaitable[None]] | None = None,
    ) -> None:
        self._after = after
        self._pool = pool
        self._js = js
        self._stream = stream
        self._durable = durable
        self._subjects = subjects
        self._handler = handler
        self._batch = batch
        self._ack_wait_s = ack_wait_s
        self._max_deliver = max_deliver
        self._stopping = asyncio.Event()
        self.applied = 0
        self.skipped = 0
        self.dropped = 0

    def stop(self) -> None:
        self._stopping.set()

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        """Bind to the durable consumer, creating it (and the stream, if lost) on first use."""
        await ensure_stream(self._js, self._stream)
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
                except TimeoutError:  # nats.errors.TimeoutError, or a bare one from fetch()
                    continue
                failures = 0
                for msg in msgs:
                    failures += not await self._apply(msg)
                if failures:
                    await self._pause(backoff)
                    backoff = min(backoff * 2, 5.0)
                else:
                    backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 (NATS or the database is away: retry)
                log.warning("consumer %s: %r; retrying in %.1fs", self._durable, e, backoff)
                if sub is not None:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                    sub = None
                await self._pause(backoff)
                backoff = min(backoff * 2, 5.0)
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _apply(self, msg: Msg) -> bool:
        """Apply one message; False when it failed and will come again."""
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
            return True
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
            # Nothing was committed. Ask for it again a little later; after max_deliver tries
            # the event is set aside (logged with its id) so that the ones behind it can pass.
            delivered = msg.metadata.num_delivered or 1
            if delivered >= self._max_deliver:
                log.exception(
                    "consumer %s: giving up on event %s (%s) after %d tries",
                    self._durable,
                    env.id,
                    env.type,
                    delivered,
                )
                self.dropped += 1
                with contextlib.suppress(Exception):
                    await msg.term()
                return True
            log.warning(
                "consumer %s: event %s (%s) failed, try %d",
                self._durable,
                env.id,
                env.type,
                delivered,
                exc_info=True,
            )
            with contextlib.suppress(Exception):
                await msg.nak(delay=min(2.0**delivered, 60.0))
            return False
        # Ack only after the commit: a crash before this line redelivers, and the inbox skips it.
        await msg.ack()
        if fresh and self._after is not None:
            # Work that must see the committed change (refreshing memory, reacting); it may not
            # change the database's record of the event, which is already final.
            try:
                await self._after(env)
            except Exception:  # the event is applied; the reaction is best effort
                log.exception("consumer %s: after-commit work for %s failed", self._durable, env.id)
        if fresh:
            self.applied += 1
        else:
            self.skipped += 1
        return True


async def prune(pool: asyncpg.Pool, *, outbox_days: int = 7, inbox_days: int = 30) -> None:
    """Forget sent outbox rows and handled-event records old enough never to matter again."""
    await pool.execute(
        "DELETE FROM outbox WHERE sent_at < now() - make_interval(days => $1)", outbox_days
    )
    await pool.execute(
        "DELETE FROM inbox WHERE handled_at < now() - make_interval(days => $1)", inbox_days
    )
