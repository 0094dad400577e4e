"""One service process: pool and migrations, NATS and the stream, the gRPC server, the
supervised loops and the health they show, and the graceful stop; `serve` runs it until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from grpc import aio
from grpc_health.v1 import health, health_pb2_grpc
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from opentelemetry import trace

from services.common import audit, audit_api, eventbus, metrics, migrations, reflection
from services.common.auth import Principal
from services.common.db import create_pool
from services.common.interceptors import OPEN_PREFIXES, ServerInterceptor
from services.common.revocations import Revocations, refusing_revoked
from services.common.runtime.entry import redacted
from services.common.runtime.gate import CallGate
from services.common.runtime.health import EVENTS, LIVENESS, NOT_SERVING, SERVING, RuntimeHealth
from services.common.runtime.ports import bind_api, serve_health
from services.common.runtime.supervisor import Loop, Periodic, Supervisor, Worker
from services.common.settings import Settings
from services.common.tokens import TokenVerifier
from services.common.tracing import Tracing

log = logging.getLogger(__name__)


@dataclass
class ServiceRuntime:
    """The running pieces of one service process. Build, then `start()`; `stop()` undoes it."""

    settings: Settings
    schema: str
    migrations_dir: Path
    # Adds the service's servicers to the server; returns their full service names.
    register: Callable[[aio.Server, ServiceRuntime], list[str]]
    # Builds the service's background workers (event consumers, periodic jobs) once the pool
    # and JetStream are ready. Each runs supervised: restarted whenever it returns or raises.
    workers: Callable[[ServiceRuntime], list[Worker]] = lambda _rt: []
    # Runs once the servicers exist and before the server answers (e.g. loading memory).
    ready: Callable[[ServiceRuntime], Awaitable[None]] | None = None
    database_url: str = ""
    nats_url: str = ""
    # Run at stop once no call is in flight any more and before the pool closes (e.g. to mark
    # work that a cut-off call left half done). Servicers may append to it in `register`.
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Methods a member may never call (see ServerInterceptor), refused before anything else.
    staff_only: frozenset[str] = frozenset()
    # Traces: from the settings when not given (tests give one with an in-memory exporter); the
    # runtime shuts down (flushes) only one it made itself.
    tracing: Tracing | None = None
    # Methods callable without a token (signing in), and a token check of the service's own
    # (the identity service's, with its own keys) instead of the JWKS verifier.
    public: frozenset[str] = frozenset()
    token_check: Callable[[str], Awaitable[Principal]] | None = None

    pool: asyncpg.Pool = field(init=False)
    nc: NatsClient = field(init=False)
    js: JetStreamContext = field(init=False)
    server: aio.Server = field(init=False)
    port: int = field(init=False, default=0)
    # The plaintext health-only server (LINLI_HEALTH_PORT), when there is one.
    health_server: aio.Server | None = field(init=False, default=None)
    health_port: int = field(init=False, default=0)
    health: RuntimeHealth = field(init=False)
    relay: eventbus.OutboxRelay = field(init=False)
    supervisor: Supervisor = field(init=False)
    gate: CallGate = field(init=False)
    verifier: TokenVerifier = field(init=False)
    revocations: Revocations = field(init=False)
    metrics_server: metrics.MetricsServer | None = field(init=False, default=None)
    _service_names: list[str] = field(init=False, default_factory=list)
    _workers: list[Worker] = field(init=False, default_factory=list)
    _stopped: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _last_tick: float = field(init=False, default=0.0)
    _events_ok: bool = field(init=False, default=True)
    _not_ready_because: str = field(init=False, default="")
    _stream_checked: float = field(init=False, default=0.0)
    _owns_tracing: bool = field(init=False, default=False)

    @property
    def readiness_names(self) -> list[str]:
        return ["", *self._service_names]

    async def start(self) -> int:
        try:
            return await self._start()
        except BaseException:
            await self._abandon()
            raise

    async def _abandon(self) -> None:
        """Undo a start that failed half-way: nothing is left open."""
        if getattr(self, "supervisor", None) is not None:
            await self.supervisor.stop(1.0)
        if getattr(self, "server", None) is not None:
            await self.server.stop(0)
        if self.health_server is not None:
            await self.health_server.stop(0)
        if getattr(self, "verifier", None) is not None:
            await self.verifier.close()
        if getattr(self, "nc", None) is not None:
            with contextlib.suppress(Exception):
                await self.nc.close()
        if getattr(self, "pool", None) is not None:
            await self.pool.close()
        await self._stop_metrics()
        await self._stop_tracing()

    async def _stop_tracing(self) -> None:
        if self._owns_tracing and self.tracing is not None:
            # Forgotten once shut down: a runtime started again makes a new one.
            tracing, self.tracing, self._owns_tracing = self.tracing, None, False
            await tracing.shutdown()

    @property
    def tracer(self) -> trace.Tracer:
        """The tracer of this runtime's own spans (its consumers take it from here)."""
        assert self.tracing is not None, "the runtime has not started"
        return self.tracing.tracer

    async def _start(self) -> int:
        s = self.settings
        if self.tracing is None:
            self.tracing = Tracing.from_settings(s)
            self._owns_tracing = True
            if self.tracing.enabled:
                # The process's own provider for anything that asks OpenTelemetry's global one.
                trace.set_tracer_provider(self.tracing.provider)
        self.supervisor = Supervisor(
            s.service_name, min_s=s.loop_restart_min_s, max_s=s.loop_restart_max_s
        )
        self.pool = await create_pool(s, self.database_url, self.schema)
        self._start_metrics()
        async with self.pool.acquire() as conn:
            await migrations.apply(conn, self.schema, self.migrations_dir)
        self.nc = await _connect_with_retry(self.nats_url, f"linli-{s.service_name}", s.nats_auth())
        self.js = self.nc.jetstream()
        await eventbus.ensure_stream(self.js, s.stream_spec())
        self._stream_checked = time.monotonic()

        self.gate = CallGate(OPEN_PREFIXES)
        self.verifier = TokenVerifier.from_settings(s)
        # Revoked sign-ins, loaded before the first call: a restarted service still refuses.
        self.revocations = Revocations(self.pool, s.revocation_keep_s)
        await self.revocations.load()
        traced = self.tracing.server_interceptor(skip=OPEN_PREFIXES)
        self.server = aio.server(
            # The server span (when tracing) stands around everything, so that it is current in
            # every interceptor and records the status they end a call with; then the gate sees
            # every call first and ends cut-off ones retryably.
            interceptors=[
                *([traced] if traced is not None else []),
                self.gate,
                ServerInterceptor(
                    s,
                    self.staff_only,
                    self.public,
                    refusing_revoked(self.token_check or self.verifier.verify, self.revocations),
                    audit.RevealWriter(self.pool),
                ),
            ],
            options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 32 << 20)],
        )
        self._service_names = self.register(self.server, self)
        self._service_names.append(audit_api.add_to_server(self.server, self.schema, self.pool))
        self.health = RuntimeHealth(self._alive, lambda: self.supervisor.states, s.service_name)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable([*self._service_names, health.SERVICE_NAME], self.server)
        for name in [*self.readiness_names, EVENTS]:
            await self.health.set(name, NOT_SERVING)
        await self.health.set(LIVENESS, SERVING)
        if self.ready is not None:
            await self.ready(self)
        self.port = bind_api(self.server, s)
        await self.server.start()
        self.health_server, self.health_port = await serve_health(self.health, s)

        self.relay = eventbus.OutboxRelay(
            self.pool,
            self.js,
            schema=self.schema,
            service=s.service_name,
            keys=eventbus.KeyRing.from_settings(s),
            stream=s.stream_name,
            batch=s.relay_batch,
            idle_poll_s=s.relay_idle_poll_s,
            stuck_after_s=s.events_behind_after_s,
            tracer=self.tracing.tracer,
        )
        pool = self.pool
        self._workers = [
            *self.workers(self),
            self.revocations.consumer(self.js, s),
            Periodic("revocations reload", self.revocations.load, s.revocation_reload_s),
            Periodic("revocations prune", self.revocations.prune, 3600.0),
            Periodic(
                "event bus prune",
                lambda: eventbus.prune(pool, outbox_days=s.outbox_retention_days),
                3600.0,
            ),
        ]
        for worker in self._workers:  # the consumers' metrics carry the service's name
            if isinstance(worker, eventbus.Consumer) and not worker.service:
                worker.service = s.service_name
        self.supervisor.start("outbox relay", self.relay)
        for worker in self._workers:
            self.supervisor.start(_worker_name(worker), worker)
        self._last_tick = time.monotonic()
        await self._check_health()
        self.supervisor.start("health", Loop(self._health_loop))
        log.info("%s listening on %s:%d", s.service_name, s.grpc_host, self.port)
        return self.port

    def _alive(self) -> bool:
        """Liveness: the loops are alive. Never asks PostgreSQL or NATS."""
        s = self.settings
        now = time.monotonic()
        stale_after = max(10 * s.health_check_interval_s, 30.0)
        if self._stopped.is_set():
            return True  # stopping on purpose: let the stop finish rather than be killed
        if self.supervisor.dead() or now - self._last_tick > stale_after:
            return False
        return all(st.failing_for(now) < s.loop_dead_after_s for st in self.supervisor.states)

    async def _check_health(self) -> None:
        s = self.settings
        now = time.monotonic()
        self._last_tick = now
        self.supervisor.mark_stable()
        limit = s.loop_failing_limit_s
        failing = [st.name for st in self.supervisor.states if st.failing_for(now) >= limit]
        why = f"loops failing for long: {failing}" if failing else ""
        if not failing:
            try:
                # asyncpg's own timeout cancels the query cleanly; the outer one bounds the wait
                # for a connection from the pool.
                async with asyncio.timeout(5.0):
                    await self.pool.fetchval("SELECT 1", timeout=2.0)
            except Exception as e:  # noqa: BLE001 (whatever the database says, it is not ready)
                why = f"the database does not answer ({type(e).__name__})"
        if self._stopped.is_set():
            return  # stop() has said NOT_SERVING; nothing may say otherwise
        if why != self._not_ready_because:  # log changes, not every interval
            if why:
                log.warning("%s not ready: %s", s.service_name, why)
            else:
                log.info("%s ready", s.service_name)
            self._not_ready_because = why
        for name in self.readiness_names:
            await self.health.set(name, NOT_SERVING if why else SERVING)
        # Liveness is answered when asked; its gauge follows the loops between probes too.
        metrics.HEALTH_SERVING.labels(s.service_name, LIVENESS).set(int(self._alive()))
        await self._check_events(now)

    async def _check_events(self, now: float) -> None:
        """Event delivery: shown under EVENTS and logged when it falls behind or catches up."""
        events_ok = self.nc.is_connected and self.relay.healthy
        if events_ok != self._events_ok:
            if events_ok:
                log.info("%s: event delivery caught up", self.settings.service_name)
            else:
                log.warning(
                    "%s: event delivery is behind (NATS %s); events wait in the outbox",
                    self.settings.service_name,
                    "connected" if self.nc.is_connected else "away",
                )
        self._events_ok = events_ok
        await self.health.set(EVENTS, SERVING if events_ok else NOT_SERVING)
        await self._sample_outbox()
        # A broker that lost its data gets the stream back with the configured settings.
        if events_ok and now - self._stream_checked > STREAM_CHECK_INTERVAL_S:
            self._stream_checked = now
            try:
                async with asyncio.timeout(5.0):
                    await eventbus.ensure_stream(self.js, self.settings.stream_spec())
            except Exception as e:  # noqa: BLE001 (tried again at the next interval)
                log.warning("stream %s not checked: %r", self.settings.stream_name, e)

    async def _health_loop(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set() and not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.health_check_interval_s):
                    await stopping.wait()
            if not stopping.is_set():
                await self._check_health()

    async def stop(self, grace: float | None = None) -> None:
        """Graceful stop: not ready, finish the calls in flight (or end them UNAVAILABLE at the
        grace period), refuse new ones UNAVAILABLE, run on_stop, stop the loops, drain, close."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        grace = self.settings.shutdown_grace_s if grace is None else grace
        for name in self.readiness_names:
            await self.health.set(name, NOT_SERVING)
        if self.settings.shutdown_drain_s:
            await asyncio.sleep(self.settings.shutdown_drain_s)
        self.gate.close()
        if not await self.gate.wait_idle(grace):
            log.warning(
                "%s: %d calls still running after %.1fs; ending them UNAVAILABLE",
                self.settings.service_name,
                self.gate.in_flight,
                grace,
            )
            self.gate.abort_all()
            await self.gate.wait_idle(2.0, quiet_s=0.0)
        await self.server.stop(1.0)
        await self.verifier.close()
        for hook in self.on_stop:
            try:
                await hook()
            except Exception:
                log.exception("%s: a stop hook failed", self.settings.service_name)
        # The relay finishes the batch in hand; anything left stays in the outbox for next time.
        await self.supervisor.stop(5.0)
        with contextlib.suppress(Exception):
            await self.nc.drain()
        await self._stop_metrics()
        await self.pool.close()
        await self._stop_tracing()
        if self.health_server is not None:  # last: the probes see the whole stop
            await self.health_server.stop(0)
        log.info("%s stopped", self.settings.service_name)

    def _start_metrics(self) -> None:
        s = self.settings
        if s.metrics_port >= 0:
            self.metrics_server = metrics.MetricsServer(
                s.metrics_host or s.grpc_host, s.metrics_port
            )
            self.metrics_server.start()
        metrics.POOLS.watch(s.service_name, self.pool)

    async def _stop_metrics(self) -> None:
        metrics.POOLS.forget(getattr(self, "pool", None))
        if self.metrics_server is not None:
            await asyncio.to_thread(self.metrics_server.stop)  # waits for a scrape in progress

    async def _sample_outbox(self) -> None:
        """The outbox's backlog and lag, seen alike by every replica (not only the relaying one)."""
        try:
            async with asyncio.timeout(2.0):
                rows, age = await eventbus.backlog(self.pool)
        except Exception as e:  # noqa: BLE001 (sampled again at the next interval)
            log.debug("outbox backlog not sampled: %r", e)
            return
        metrics.OUTBOX_BACKLOG.labels(self.settings.service_name).set(rows)
        metrics.OUTBOX_OLDEST_UNSENT.labels(self.settings.service_name).set(age)


STREAM_CHECK_INTERVAL_S = 60.0


def _worker_name(worker: Worker) -> str:
    return str(getattr(worker, "name", None) or type(worker).__name__)


async def _connect_with_retry(
    url: str, name: str, credentials: dict[str, str], attempts: int = 60
) -> NatsClient:
    for attempt in range(attempts):
        try:
            return await eventbus.connect(url, name, **credentials)
        except (OSError, TimeoutError, Exception) as e:
            if attempt == attempts - 1:
                raise
            log.warning("nats not reachable at %s (%s); retrying", redacted(url), e)
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")
