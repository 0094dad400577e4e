"""The outbox relay: a schema's outbox published to JetStream in order, marked sent after the
acks, published again when the stream lost its data."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from typing import Any

import asyncpg
from nats.js import JetStreamContext, api
from nats.js.errors import NoStreamResponseError, NotFoundError
from opentelemetry import trace

from linli.v1 import events_pb2
from services.common import metrics
from services.common.eventbus.sealing import seal
from services.common.eventbus.streams import ensure_stream
from services.common.eventkeys import KeyRing
from services.common.tracing import SCOPE, context_of, headers_of, messaging

log = logging.getLogger(__name__)


class StreamLost(Exception):
    """The stream answered with a sequence below one it had acknowledged: it lost messages."""


class OutboxRelay:
    """Publishes a schema's outbox to JetStream, in order, marking rows sent after their acks.

    One relay per schema works at a time (a session advisory lock on its listening connection):
    replicas stand by, and order is kept. No transaction is held while publishing: rows are read,
    published one after another (each waits for its ack), and those acknowledged are marked sent;
    a crash in between republishes them, which JetStream's duplicate window (and, later, the
    consumers' inbox) absorbs.

    Any failure of the listening connection (PostgreSQL restarted, the backend terminated, the
    pool reset) drops it: the relay takes a new one and the lock again. Every `stream_check_s`,
    and before the first batch after any failure, it compares the stream with what it last knew
    (`outbox_stream`; between checks, every ack is compared too): a stream created anew, or one
    whose last sequence fell below what it had acknowledged, has lost data, so every outbox row
    still kept is marked unsent and published again, in order, with its original `Nats-Msg-Id`.

    Each publish is a PRODUCER span, the child of the trace context stored with the row (the call
    that wrote it), and its own context travels in the message's `traceparent` header.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        js: JetStreamContext,
        *,
        schema: str,
        keys: KeyRing,
        service: str = "",
        stream: str = "LINLI",
        batch: int = 256,
        idle_poll_s: float = 1.0,
        ack_timeout_s: float = 5.0,
        stuck_after_s: float = 60.0,
        stream_check_s: float = 2.0,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self._tracer = tracer or trace.get_tracer(SCOPE)
        self._pool = pool
        self._js = js
        self._schema = schema
        self._published = metrics.EVENTS_PUBLISHED.labels(service or schema)
        self._keys = keys
        self._stream = stream
        self._batch = batch
        self._idle_poll_s = idle_poll_s
        self._ack_timeout_s = ack_timeout_s
        self._stuck_after_s = stuck_after_s
        self._wake = asyncio.Event()
        self._stopping = False
        self._failing_since: float | None = None
        self._listener: asyncpg.Connection | None = None
        # What this relay last knew of the stream: (created, highest acknowledged sequence).
        self._known: tuple[datetime.datetime, int] | None = None
        # The stream is asked for its state at most every stream_check_s while all goes well, and
        # at once after any failure; between checks, an acknowledgement below what the relay
        # knew tells it the stream lost its data (StreamLost, then a check).
        self._stream_check_s = stream_check_s
        self._next_check = 0.0
        # NATS reconnections seen at the last check: a server that came back may have come back
        # without its data, and a consumer may already have made the stream again; the relay
        # looks before it publishes, so that no new event lands ahead of the kept ones.
        self._checked_reconnects = -1
        self.leader = False
        self.published = 0
        self.republished = 0

    @property
    def healthy(self) -> bool:
        """False once publishing has failed without a break for longer than stuck_after_s."""
        since = self._failing_since
        return since is None or time.monotonic() - since < self._stuck_after_s

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload == self._schema:
            self._wake.set()

    def _on_lost(self, _conn: object) -> None:
        # The listening connection closed: the lock went with it; act now, not at the next poll.
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
        try:
            while not self._stopping:
                try:
                    if not await self._lead():  # another replica relays; stand by
                        await self._idle(self._idle_poll_s * 5)
                        continue
                    reconnects = self._reconnects()
                    if (
                        self._known is None
                        or time.monotonic() >= self._next_check
                        or reconnects != self._checked_reconnects
                    ):
                        await self._check_stream()
                        self._next_check = time.monotonic() + self._stream_check_s
                        self._checked_reconnects = reconnects
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
                    self._next_check = 0.0  # whatever failed, look at the stream first next time
                    log.warning(
                        "outbox relay (%s): %r; retrying in %.1fs", self._schema, e, backoff
                    )
                    if not self._listener_alive():
                        await self._drop_listener()
                    await self._idle(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            await self._drop_listener()

    def _listener_alive(self) -> bool:
        return self._listener is not None and self._alive(self._listener)

    async def _lead(self) -> bool:
        """Hold a live listening connection and, if free, the schema's lock; True when leading."""
        if self._listener is not None and not self._listener_alive():
            await self._drop_listener()
        if self._listener is None:
            listener = await self._pool.acquire()
            self._listener = listener
            listener.add_termination_listener(self._on_lost)
            await listener.add_listener("linli_outbox", self._on_notify)
        try:
            if self.leader:
                # The lock lives as long as the session: prove the session is still there, so
                # that a connection lost without a word does not leave two relays publishing.
                await self._listener.execute("SELECT 1", timeout=self._ack_timeout_s)
                return True
            self.leader = bool(
                await self._listener.fetchval(
                    "SELECT pg_try_advisory_lock(hashtext($1))",
                    f"outbox:{self._schema}",
                    timeout=self._ack_timeout_s,
                )
            )
        except Exception:
            # Whatever went wrong with the listening connection, a new one is the way back.
            await self._drop_listener()
            raise
        if self.leader:
            self._known = None  # another replica may have led meanwhile: read the record again
        return self.leader

    async def _drop_listener(self) -> None:
        listener, self._listener = self._listener, None
        was_leader, self.leader = self.leader, False
        if listener is None:
            return
        with contextlib.suppress(Exception):
            listener.remove_termination_listener(self._on_lost)
        if self._alive(listener):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):  # a connection that hangs is not waited for
                    await listener.remove_listener("linli_outbox", self._on_notify)
                    if was_leader:
                        await listener.execute("SELECT pg_advisory_unlock_all()")
        with contextlib.suppress(Exception):
            await self._pool.release(listener, timeout=2.0)  # a dead one is replaced by the pool

    def _nats(self) -> Any:
        return getattr(self._js, "_nc", None)

    def _reconnects(self) -> int:
        stats = getattr(self._nats(), "stats", None)
        return int(stats.get("reconnects", 0)) if isinstance(stats, dict) else 0

    def _may_publish(self) -> bool:
        """Connected, and no reconnection since the stream was last looked at."""
        nc = self._nats()
        connected = nc is None or bool(getattr(nc, "is_connected", True))
        return connected and self._reconnects() == self._checked_reconnects

    @staticmethod
    def _alive(conn: asyncpg.Connection) -> bool:
        try:
            return not conn.is_closed()
        except asyncpg.InterfaceError:  # the pool took the dead connection back: it is gone
            return False

    async def _check_stream(self) -> None:
        """Publish every kept row again if the stream lost data since this schema last saw it."""
        try:
            info = await self._js.stream_info(self._stream)
        except NotFoundError:
            await ensure_stream(self._js, self._stream)
            info = await self._js.stream_info(self._stream)
        created, last_seq = info.created, info.state.last_seq
        if created is None:  # a server too old to say; only the sequence can tell
            created = datetime.datetime.fromtimestamp(0, datetime.UTC)
        if self._known is None:
            row = await self._pool.fetchrow(
                "SELECT created, last_seq FROM outbox_stream WHERE stream = $1", self._stream
            )
            if row is None:  # the first sight of a stream: nothing to compare with yet
                await self._pool.execute(
                    "INSERT INTO outbox_stream (stream, created) VALUES ($1, $2)"
                    " ON CONFLICT (stream) DO NOTHING",
                    self._stream,
                    created,
                )
                self._known = (created, 0)
                return
            self._known = (row["created"], row["last_seq"])
        known_created, known_seq = self._known
        if created == known_created and last_seq >= known_seq:
            return
        await self._republish(created)

    async def _republish(self, created: datetime.datetime) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            count = await conn.fetchval(
                "WITH again AS (UPDATE outbox SET sent_at = NULL WHERE sent_at IS NOT NULL"
                " RETURNING 1) SELECT count(*) FROM again"
            )
            await conn.execute(
                "INSERT INTO outbox_stream (stream, created, last_seq) VALUES ($1, $2, 0)"
                " ON CONFLICT (stream) DO UPDATE"
                " SET created = $2, last_seq = 0, checked_at = now()",
                self._stream,
                created,
            )
        self._known = (created, 0)
        self.republished += count
        log.warning(
            "outbox relay (%s): stream %s lost its data; publishing %d kept events again",
            self._schema,
            self._stream,
            count,
        )

    def _sealed(self, seq: int, blob: bytes) -> bytes:
        env = events_pb2.EventEnvelope()
        env.ParseFromString(blob)
        env.source_seq = seq
        return seal(env, self._keys).SerializeToString()

    async def _publish(self, row: asyncpg.Record) -> api.PubAck:
        """Publish one row under its span, the span's trace context in the headers."""
        with self._tracer.start_as_current_span(
            f"send {row['subject']}",
            context=context_of(row["traceparent"], row["tracestate"]),
            kind=trace.SpanKind.PRODUCER,
            attributes=messaging(row["subject"], str(row["id"]), "send"),
        ):
            return await self._js.publish(
                row["subject"],
                self._sealed(row["seq"], row["envelope"]),
                timeout=self._ack_timeout_s,
                headers={"Nats-Msg-Id": str(row["id"]), **headers_of()},
            )

    async def publish_pending(self) -> int:
        """Publish one batch of unsent rows in order; return how many were sent."""
        rows = await self._pool.fetch(
            "SELECT seq, id, subject, envelope, traceparent, tracestate FROM outbox"
            " WHERE sent_at IS NULL"
            " ORDER BY seq LIMIT $1",
            self._batch,
        )
        if not rows:
            return 0
        known_seq = self._known[1] if self._known is not None else 0
        top = known_seq
        sent: list[int] = []
        try:
            for r in rows:
                if not self._may_publish():
                    # While NATS is away a publish would wait in the client's buffer and land on
                    # whatever stream the server has when it is back: stop, and look first.
                    self._next_check = 0.0
                    break
                try:
                    ack = await self._publish(r)
                except (NoStreamResponseError, NotFoundError):
                    # NATS came back without its data: make the stream again, then retry (the
                    # next check finds it new and publishes the kept rows again).
                    await ensure_stream(self._js, self._stream)
                    raise
                if ack.seq < known_seq and not ack.duplicate:
                    # The stream was emptied between the check and this publish.
                    self._known = None
                    raise StreamLost(f"stream {self._stream} acknowledged {ack.seq} < {known_seq}")
                top = max(top, ack.seq)
                sent.append(r["seq"])
        finally:
            if sent:  # what was acknowledged is sent, even if a later row failed
                async with self._pool.acquire() as conn, conn.transaction():
                    await conn.execute(
                        "UPDATE outbox SET sent_at = now() WHERE seq = ANY($1::bigint[])", sent
                    )
                    if self._known is not None and top > known_seq:
                        await conn.execute(
                            "UPDATE outbox_stream SET last_seq = greatest(last_seq, $2),"
                            " checked_at = now() WHERE stream = $1",
                            self._stream,
                            top,
                        )
                if self._known is not None:
                    self._known = (self._known[0], max(self._known[1], top))
                self.published += len(sent)
                self._published.inc(len(sent))
        return len(sent)
