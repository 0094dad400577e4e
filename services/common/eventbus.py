"""The event bus: transactional outbox, relay to NATS JetStream, and idempotent durable consumers.

- `Outbox.add` writes an event row with the caller's connection, inside the caller's transaction,
  so the event exists exactly when the change it announces does.
- `OutboxRelay` publishes unsent rows in order to the stream with the event id as `Nats-Msg-Id`
  (JetStream drops a duplicate inside its window) and marks them sent only after the ack. While
  NATS or PostgreSQL is away it keeps the rows and retries with backoff; nothing is lost. When the
  stream comes back without its data (another creation time, or a sequence gone backwards) it
  publishes every outbox row still kept again.
- `Consumer` pulls from a durable consumer, applies each event in a transaction that also records
  its id in the inbox (a redelivered event is acked and skipped), and acks after the commit.
- On the stream the payload travels sealed with AES-GCM under a key ring from the settings
  (`seal` / `unseal`); the relay seals, the consumer unseals before its handler.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime
import enum
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import asyncpg
import nats
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf import any_pb2
from google.protobuf import message as pb_message
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import NoStreamResponseError, NotFoundError

from linli.v1 import events_pb2
from services.common.auth import Principal
from services.common.settings import Settings
from services.common.streamspec import StreamSpec
from services.common.subjects import PREFIX as SUBJECT_PREFIX

log = logging.getLogger(__name__)


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


NONCE_BYTES = 12
KEY_BYTES = 32


class EventKeyError(ValueError):
    """The event key ring in the settings cannot be used."""


class UnreadableEvent(Exception):
    """An event this process cannot open. `retry` when a key it lacks may yet arrive (a rotation
    rolled out in the wrong order); never for a payload that is not sealed or does not
    authenticate."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.retry = retry


@dataclass(frozen=True)
class KeyRing:
    """AES-256-GCM keys by id: every id still on the stream opens; `write_key_id` seals."""

    keys: Mapping[str, bytes] = field(repr=False)
    write_key_id: str

    def __post_init__(self) -> None:
        if self.write_key_id not in self.keys:
            raise EventKeyError(f"event key id {self.write_key_id!r} is not in the key ring")
        for kid, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise EventKeyError(f"event key {kid!r} must be {KEY_BYTES} bytes")

    @classmethod
    def parse(cls, spec: str, write_key_id: str) -> KeyRing:
        """Read `kid:base64key,kid:base64key` (whitespace around items is ignored)."""
        keys: dict[str, bytes] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            kid, sep, encoded = item.partition(":")
            kid = kid.strip()
            if not sep or not kid:
                raise EventKeyError("event keys are written kid:base64key, separated by commas")
            if kid in keys:
                raise EventKeyError(f"event key id {kid!r} appears twice")
            try:
                keys[kid] = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise EventKeyError(f"event key {kid!r} is not base64") from None
        return cls(keys, write_key_id)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        return cls.parse(settings.event_keys.get_secret_value(), settings.event_key_id)


def _associated_data(env: events_pb2.EventEnvelope) -> bytes:
    """What the seal binds the payload to, so that no sealed payload can be moved to another
    event, subject, source, position, time or actor."""
    return json.dumps(
        [
            env.id,
            env.type,
            env.subject,
            env.source,
            env.source_seq,
            env.time.seconds,
            env.time.nanos,
            env.actor.SerializeToString(deterministic=True).hex(),
        ],
        separators=(",", ":"),
    ).encode()


def seal(env: events_pb2.EventEnvelope, keys: KeyRing) -> events_pb2.EventEnvelope:
    """Move the envelope's payload into `sealed_payload`, encrypted with the ring's write key."""
    if not env.HasField("payload"):
        raise ValueError("the envelope has no payload to seal")
    nonce = os.urandom(NONCE_BYTES)  # random 96-bit nonces: fine far beyond 2**32 events a key
    plain = env.payload.SerializeToString()
    env.ClearField("payload")
    env.key_id = keys.write_key_id
    env.nonce = nonce
    env.sealed_payload = AESGCM(keys.keys[keys.write_key_id]).encrypt(
        nonce, plain, _associated_data(env)
    )
    return env


def unseal(env: events_pb2.EventEnvelope, keys: KeyRing) -> events_pb2.EventEnvelope:
    """Put the decrypted payload back into `payload`; UnreadableEvent when that cannot be done."""
    if env.HasField("payload") or not env.sealed_payload:
        raise UnreadableEvent("the payload is not sealed", retry=False)
    key = keys.keys.get(env.key_id)
    if key is None:
        raise UnreadableEvent(f"no event key with id {env.key_id[:40]!r}", retry=True)
    try:
        plain = AESGCM(key).decrypt(env.nonce, env.sealed_payload, _associated_data(env))
        payload = any_pb2.Any()
        payload.ParseFromString(plain)
    except (InvalidTag, ValueError, pb_message.DecodeError):
        raise UnreadableEvent("the sealed payload does not authenticate", retry=False) from None
    env.payload.CopyFrom(payload)
    env.ClearField("key_id")
    env.ClearField("nonce")
    env.ClearField("sealed_payload")
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
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        js: JetStreamContext,
        *,
        schema: str,
        keys: KeyRing,
        stream: str = "LINLI",
        batch: int = 256,
        idle_poll_s: float = 1.0,
        ack_timeout_s: float = 5.0,
        stuck_after_s: float = 60.0,
        stream_check_s: float = 2.0,
    ) -> None:
        self._pool = pool
        self._js = js
        self._schema = schema
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
                    if self._known is None or time.monotonic() >= self._next_check:
                        await self._check_stream()
                        self._next_check = time.monotonic() + self._stream_check_s
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

    async def publish_pending(self) -> int:
        """Publish one batch of unsent rows in order; return how many were sent."""
        rows = await self._pool.fetch(
            "SELECT seq, id, subject, envelope FROM outbox WHERE sent_at IS NULL"
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
                try:
                    ack = await self._js.publish(
                        r["subject"],
                        self._sealed(r["seq"], r["envelope"]),
                        timeout=self._ack_timeout_s,
                        headers={"Nats-Msg-Id": str(r["id"])},
                    )
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
        return len(sent)


Handler = Callable[[asyncpg.Connection, events_pb2.EventEnvelope], Awaitable[None]]


class Consumer:
    """A durable JetStream pull consumer that applies each event exactly once to the database.

    `handler` runs inside the event's transaction, on the unsealed envelope; `after`, if given,
    runs once the event is committed and acknowledged (for in-memory state and reactions that must
    not roll back). An event that fails in its handler is tried again with a growing delay and
    set aside after `max_deliver` tries; one that fails because the database connection was lost
    is tried again for as long as it takes, since the event is not at fault. An event that cannot
    be unsealed (tampered, not sealed) is set aside at once, logged without its content.
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
        keys: KeyRing,
        batch: int = 128,
        ack_wait_s: float = 30.0,
        max_deliver: int = 20,
        check_consumer_s: float = 5.0,
        after: Callable[[events_pb2.EventEnvelope], Awaitable[None]] | None = None,
    ) -> None:
        self._after = after
        self._pool = pool
        self._js = js
        self._stream = stream
        self._durable = durable
        self._subjects = subjects
        self._handler = handler
        self._keys = keys
        self._batch = batch
        self._ack_wait_s = ack_wait_s
        self._max_deliver = max_deliver
        self._check_consumer_s = check_consumer_s
        self._stopping = asyncio.Event()
        self.applied = 0
        self.skipped = 0
        self.dropped = 0
        self.unreadable = 0
        # Handler failures per event still being retried (only events in flight, so it stays small).
        self._tries: dict[uuid.UUID, int] = {}

    def stop(self) -> None:
        self._stopping.set()

    async def _database_answers(self) -> bool:
        """Whether the database answers now: a failure while it does not is not the event's."""
        try:
            async with asyncio.timeout(5.0):
                await self._pool.fetchval("SELECT 1")
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 (any failure means: not now)
            return False
        return True

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
        quiet_since = time.monotonic()
        while not self._stopping.is_set():
            try:
                if sub is None:
                    sub = await self._subscribe()
                    quiet_since = time.monotonic()
                try:
                    msgs = await sub.fetch(self._batch, timeout=1.0)
                except TimeoutError:  # nats.errors.TimeoutError, or a bare one from fetch()
                    if time.monotonic() - quiet_since > self._check_consumer_s:
                        # Nothing for a while: make sure the durable consumer still exists (NATS
                        # may have lost its data); NotFoundError brings a new one from the start.
                        await self._js.consumer_info(self._stream, self._durable)
                        quiet_since = time.monotonic()
                    continue
                quiet_since = time.monotonic()
                failed = False
                for msg in msgs:
                    failed |= not await self._apply(msg)
                if failed:
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

    async def _set_aside(self, msg: Msg) -> None:
        self.dropped += 1
        with contextlib.suppress(Exception):
            await msg.term()

    async def _apply(self, msg: Msg) -> bool:
        """Apply one message; False when it failed and will come again.

        While the database is away the message is held (its ack deadline pushed back) and tried
        again until the database answers: the batch behind it waits, so the order is kept, and
        the outage does not count against the event."""
        pause = 0.2
        while (outcome := await self._apply_once(msg)) is _Outcome.DATABASE_LOST:
            if self._stopping.is_set():
                with contextlib.suppress(Exception):
                    await msg.nak()  # for whoever consumes next
                return False
            await self._pause(pause)
            pause = min(pause * 2, 5.0)
            with contextlib.suppress(Exception):
                await msg.in_progress()
        return outcome is _Outcome.DONE

    async def _apply_once(self, msg: Msg) -> _Outcome:
        """Apply one message and say how it went."""
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
            await self._set_aside(msg)
            return _Outcome.DONE
        delivered = msg.metadata.num_delivered or 1
        try:
            unseal(env, self._keys)
        except UnreadableEvent as e:
            # Logged by id and subject only: whatever it holds is not ours to print.
            if e.retry and delivered < self._max_deliver:
                log.warning(
                    "consumer %s: event %s on %s: %s (try %d); asking again later",
                    self._durable,
                    env.id,
                    msg.subject,
                    e,
                    delivered,
                )
                with contextlib.suppress(Exception):
                    await msg.nak(delay=min(2.0**delivered, 60.0))
                return _Outcome.FAILED
            log.error(
                "consumer %s: setting aside event %s on %s: %s",
                self._durable,
                env.id,
                msg.subject,
                e,
            )
            self.unreadable += 1
            await self._set_aside(msg)
            return _Outcome.DONE
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
        except Exception as e:
            # Nothing was committed (or, if the connection died during the commit, the inbox
            # row tells on the next delivery).
            if _database_lost(e) or not await self._database_answers():
                log.warning(
                    "consumer %s: database away during event %s: %r; holding it",
                    self._durable,
                    env.id,
                    e,
                )
                return _Outcome.DATABASE_LOST
            # Ask for it again a little later; after max_deliver failures of its own (counted
            # here: deliveries while the database was away are not the event's fault) the event
            # is set aside (logged with its id) so that the ones behind it can pass.
            tries = self._tries.get(event_id, 0) + 1
            if tries >= self._max_deliver:
                self._tries.pop(event_id, None)
                log.exception(
                    "consumer %s: giving up on event %s (%s) after %d tries",
                    self._durable,
                    env.id,
                    env.type,
                    tries,
                )
                await self._set_aside(msg)
                return _Outcome.DONE
            self._tries[event_id] = tries
            log.warning(
                "consumer %s: event %s (%s) failed, try %d",
                self._durable,
                env.id,
                env.type,
                tries,
                exc_info=True,
            )
            with contextlib.suppress(Exception):
                await msg.nak(delay=min(2.0**tries, 60.0))
            return _Outcome.FAILED
        self._tries.pop(event_id, None)
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
        return _Outcome.DONE


class _Outcome(enum.Enum):
    DONE = "done"  # applied, skipped as a duplicate, or set aside
    FAILED = "failed"  # the handler failed; the event comes again after a delay
    DATABASE_LOST = "database lost"  # not the event's fault: held and tried again, uncounted


def _database_lost(e: BaseException) -> bool:
    """Whether a failure came from losing the database rather than from the event."""
    if isinstance(e, (asyncpg.QueryCanceledError, TimeoutError)):
        return False  # a timeout may be the handler's own doing; the probe of the database decides
    return isinstance(
        e,
        (
            OSError,  # refused, reset: PostgreSQL is away
            asyncpg.InterfaceError,  # the connection closed under us
            asyncpg.PostgresConnectionError,
            asyncpg.exceptions.OperatorInterventionError,  # terminated, shutting down, starting
        ),
    )


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
