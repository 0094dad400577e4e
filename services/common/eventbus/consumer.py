"""Durable JetStream pull consumers that apply each event exactly once to the database."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
from google.protobuf import message as pb_message
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from linli.v1 import events_pb2
from services.common import metrics
from services.common.eventbus.sealing import UnreadableEvent, unseal
from services.common.eventbus.streams import ensure_stream
from services.common.eventkeys import KeyRing
from services.common.tracing import SCOPE, context_from_headers, messaging

log = logging.getLogger(__name__)


Handler = Callable[[asyncpg.Connection, events_pb2.EventEnvelope], Awaitable[None]]


class Consumer:
    """A durable JetStream pull consumer that applies each event exactly once to the database.

    `handler` runs inside the event's transaction, on the unsealed envelope; `after`, if given,
    runs once the event is committed and acknowledged (for in-memory state and reactions that must
    not roll back). An event that fails in its handler is tried again with a growing delay and
    set aside after `max_deliver` tries; one that fails because the database connection was lost
    is tried again for as long as it takes, since the event is not at fault. An event that cannot
    be unsealed (tampered, not sealed) is set aside at once, logged without its content.

    Each try is a CONSUMER span around the unsealing, the transaction, the ack and `after`: the
    child of the relay's publishing span named by the message's `traceparent` header. A child
    rather than a link, because one event is applied on its own, in its own transaction, for
    exactly one cause: the trace then reads as one tree from the call to every consumer.
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
        service: str = "",
        tracer: trace.Tracer | None = None,
    ) -> None:
        # The metrics' service label; the runtime fills it in when the service left it empty.
        self.service = service
        self._sampled = 0.0
        self._tracer = tracer or trace.get_tracer(SCOPE)
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
        metrics.consumer_series(self.service or self._durable, self._durable)
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
                        info = await self._js.consumer_info(self._stream, self._durable)
                        self._show_pending(info)
                        quiet_since = time.monotonic()
                    continue
                quiet_since = time.monotonic()
                failed = False
                for msg in msgs:
                    failed |= not await self._apply(msg)
                await self._sample_pending()
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

    def _count(self, outcome: str) -> None:
        metrics.consumer_outcome(self.service or self._durable, self._durable, outcome)

    def _show_pending(self, info: api.ConsumerInfo) -> None:
        self._sampled = time.monotonic()
        pending = (info.num_pending or 0) + (info.num_ack_pending or 0)
        metrics.CONSUMER_PENDING.labels(self.service or self._durable, self._durable).set(pending)

    async def _sample_pending(self) -> None:
        """What the durable has still to deliver or have acked, asked at most once a second."""
        if time.monotonic() - self._sampled < 1.0:
            return
        try:
            self._show_pending(await self._js.consumer_info(self._stream, self._durable))
        except Exception as e:  # noqa: BLE001 (asked again after the next batch)
            log.debug("consumer %s: no consumer info: %r", self._durable, e)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _set_aside(self, msg: Msg) -> None:
        self.dropped += 1
        self._count("set_aside")
        with contextlib.suppress(Exception):
            await msg.term()

    async def _apply(self, msg: Msg) -> bool:
        """Apply one message; False when it failed and will come again.

        While the database is away the message is held (its ack deadline pushed back) and tried
        again until the database answers: the batch behind it waits, so the order is kept, and
        the outage does not count against the event."""
        pause = 0.2
        with contextlib.suppress(Exception):  # a message without JetStream metadata: not counted
            if msg.metadata.num_delivered and msg.metadata.num_delivered > 1:
                metrics.CONSUMER_REDELIVERIES.labels(
                    self.service or self._durable, self._durable
                ).inc()
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
        with self._tracer.start_as_current_span(
            f"process {msg.subject}",
            context=context_from_headers(msg.headers),
            kind=trace.SpanKind.CONSUMER,
            attributes=messaging(
                msg.subject,
                env.id,
                "process",
                **{"messaging.consumer.group.name": self._durable, "linli.event.type": env.type},
            ),
        ) as span:
            outcome = await self._open_and_apply(msg, env, event_id, span)
            if outcome is not _Outcome.DONE:
                span.set_status(Status(StatusCode.ERROR, outcome.value))
            return outcome

    async def _open_and_apply(
        self, msg: Msg, env: events_pb2.EventEnvelope, event_id: uuid.UUID, span: trace.Span
    ) -> _Outcome:
        """Unseal, apply in the inbox transaction, ack, then the after-commit work."""
        delivered = msg.metadata.num_delivered or 1
        span.set_attribute("messaging.nats.delivered", delivered)
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
                self._count("failed")
                return _Outcome.FAILED
            log.error(
                "consumer %s: setting aside event %s on %s: %s",
                self._durable,
                env.id,
                msg.subject,
                e,
            )
            self.unreadable += 1
            span.set_status(Status(StatusCode.ERROR, "unreadable: set aside"))
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
                span.set_status(Status(StatusCode.ERROR, f"{type(e).__name__}: set aside"))
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
            self._count("failed")
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
                span.add_event("after-commit work failed")
                log.exception("consumer %s: after-commit work for %s failed", self._durable, env.id)
        if fresh:
            self.applied += 1
        else:
            self.skipped += 1
            span.set_attribute("linli.event.duplicate", True)
        self._count("applied" if fresh else "skipped")
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
