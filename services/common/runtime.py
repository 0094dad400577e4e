"""What every service runs on: pool and migrations, NATS and the stream, the gRPC server with
health, reflection and the interceptors, supervised background loops (the outbox relay,
consumers, sweeps, the health loop), and a graceful stop.

A service's composition root builds a `ServiceRuntime` with its schema, its migrations and a
function that adds its servicers; `run_until_signal` is what its `__main__` calls.

Health (grpc.health.v1) answers under distinct names (docs/architecture.md):
- readiness: "" and each API service: the database answers, no loop has kept failing past its
  limit, and the service is not stopping. NATS being away does NOT make a service unready: the
  outbox keeps every event until the broker is back.
- "liveness": the process and its loops are alive (the health loop ticks, no loop has failed
  for long); never depends on PostgreSQL or NATS.
- "linli.events": event delivery is keeping up (NATS connected, the relay publishing); NOT_SERVING
  means events are behind, which is logged and shown but fails neither probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import grpc
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from services.common import eventbus, migrations, reflection
from services.common.db import create_pool
from services.common.interceptors import OPEN_PREFIXES, ServerInterceptor
from services.common.settings import Settings

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# Health service names besides readiness's "" and the API services.
LIVENESS = "liveness"
EVENTS = "linli.events"
# Trailing metadata of a health Check on LIVENESS: the state of every supervised loop.
LOOPS_METADATA = "linli-loops"


class Worker(Protocol):
    """Something that runs in the background until stopped: a consumer, a periodic job."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


class Periodic:
    """Runs `job` every `interval_s` until stopped; a failing run is logged and retried."""

    def __init__(self, name: str, job: Callable[[], Awaitable[object]], interval_s: float) -> None:
        self.name = name
        self._job = job
        self._interval_s = interval_s
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "periodic job %s failed; retrying in %.1fs", self.name, self._interval_s
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval_s):
                    await self._stopping.wait()

    def stop(self) -> None:
        self._stopping.set()


@dataclass
class LoopState:
    """What health shows of one supervised loop."""

    name: str
    state: str = "starting"  # running | restarting | stopped
    since: float = field(default_factory=time.time)  # wall clock, for people reading it
    restarts: int = 0
    last_error: str | None = None
    # Monotonic time of the first failure not yet followed by a stable run.
    failing_since: float | None = None

    def failing_for(self, now: float) -> float:
        return 0.0 if self.failing_since is None else now - self.failing_since

    def public(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": self.state,
            "since": round(self.since, 3),
            "restarts": self.restarts,
            "last_error": self.last_error,
        }


class Supervisor:
    """Runs background loops and restarts any whose `run()` returns or raises before `stop()`.

    Restarts wait with exponential backoff (min_s doubling to max_s, back to min_s after a run
    that lasted longer than max_s); each is logged and counted in the loop's `LoopState`.
    """

    def __init__(self, service: str, *, min_s: float = 0.5, max_s: float = 30.0) -> None:
        self._service = service
        self._min_s = min_s
        self._max_s = max(max_s, min_s)
        self._stopping = asyncio.Event()
        self._loops: list[tuple[LoopState, Worker, asyncio.Task[None]]] = []

    @property
    def states(self) -> list[LoopState]:
        return [state for state, _, _ in self._loops]

    def start(self, name: str, worker: Worker) -> LoopState:
        state = LoopState(name)
        task = asyncio.ensure_future(self._supervise(state, worker))
        task.set_name(f"{self._service} {name}")
        self._loops.append((state, worker, task))
        return state

    def dead(self) -> list[str]:
        """Loops whose supervision itself ended before the stop: nothing restarts them."""
        if self._stopping.is_set():
            return []
        return [state.name for state, _, task in self._loops if task.done()]

    async def _supervise(self, state: LoopState, worker: Worker) -> None:
        backoff = self._min_s
        while not self._stopping.is_set():
            started = time.monotonic()
            state.state, state.since = "running", time.time()
            failure: BaseException | None = None
            try:
                await worker.run()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 (any failure of a loop is restarted)
                failure = e
            if self._stopping.is_set():
                if failure is not None:
                    log.warning(
                        "loop %r of %s failed while stopping: %r",
                        state.name,
                        self._service,
                        failure,
                    )
                break
            now = time.monotonic()
            if now - started > self._max_s:  # it had been running well: start over gently
                backoff, state.failing_since = self._min_s, None
            if failure is None:
                state.last_error = "returned before the stop"
            else:
                state.last_error = f"{type(failure).__name__}: {failure}"[:300]
            log.error(
                "loop %r of %s: %s; restarting in %.1fs",
                state.name,
                self._service,
                state.last_error,
                backoff,
                exc_info=failure,
            )
            state.restarts += 1
            state.state, state.since = "restarting", time.time()
            if state.failing_since is None:
                state.failing_since = now
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self._stopping.wait()
            backoff = min(backoff * 2, self._max_s)
        state.state, state.since = "stopped", time.time()

    def mark_stable(self) -> None:
        """Forget the failures of loops that have been running since long enough."""
        for state in self.states:
            if (
                state.state == "running"
                and state.failing_since is not None
                and time.time() - state.since > self._max_s
            ):
                state.failing_since = None

    async def stop(self, timeout: float) -> None:
        """Ask every loop to stop, wait up to `timeout`, then cancel what is left."""
        self._stopping.set()
        for _, worker, _ in self._loops:
            worker.stop()
        tasks = [task for _, _, task in self._loops]
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)


class _Loop:
    """A Worker made of a coroutine function and a stop event (the health loop)."""

    def __init__(self, body: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        self._body = body
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        await self._body(self._stopping)

    def stop(self) -> None:
        self._stopping.set()


class CallGate(aio.ServerInterceptor):
    """Counts the API calls in flight and, once closed, refuses new ones with UNAVAILABLE.

    gRPC's own stop kills calls that reached the server but were not yet handed to Python with
    CANCELLED, which a client cannot tell from its own cancellation. So the runtime closes this
    gate first, keeps the server taking calls (each refused at once, retryably) until the calls
    in flight are done, and only then stops the server. Calls still running at the end of the
    grace period are ended with UNAVAILABLE rather than cut off.
    """

    def __init__(self, open_prefixes: tuple[str, ...]) -> None:
        self._open_prefixes = open_prefixes
        self._closed = False
        self._aborting = False
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._last_arrival = time.monotonic()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def close(self) -> None:
        self._closed = True

    async def wait_idle(
        self, timeout: float, quiet_s: float = 0.2, quiet_cap_s: float = 1.0
    ) -> bool:
        """Wait until no call is in flight and none arrived for quiet_s (or none has been in
        flight for quiet_cap_s, for clients that keep retrying on this connection: stopping the
        server moves them elsewhere); False when calls are still in flight at the timeout."""
        deadline = time.monotonic() + timeout
        idle_since: float | None = None
        while time.monotonic() < deadline:
            now = time.monotonic()
            if self._in_flight:
                idle_since = None
            else:
                idle_since = idle_since or now
                if now - self._last_arrival >= quiet_s or now - idle_since >= quiet_cap_s:
                    return True
            await asyncio.sleep(0.02)
        return not self._in_flight

    def abort_all(self) -> None:
        """End every call still in flight with UNAVAILABLE (see the wrappers)."""
        self._aborting = True
        for task in list(self._in_flight):
            task.cancel()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method: str = details.method  # type: ignore[attr-defined]
        if handler is None or method.startswith(self._open_prefixes):
            return handler
        self._last_arrival = time.monotonic()
        kwargs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(self._unary(handler.unary_unary), **kwargs)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(self._unary(handler.stream_unary), **kwargs)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream), **kwargs
            )
        return grpc.stream_stream_rpc_method_handler(self._stream(handler.stream_stream), **kwargs)

    async def _refuse(self, context: aio.ServicerContext, why: str) -> None:
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"{why}; retry the call")

    def _unary(
        self, behaviour: Callable[..., Awaitable[Any]]
    ) -> Callable[[Any, aio.ServicerContext], Awaitable[Any]]:
        async def wrapper(request: Any, context: aio.ServicerContext) -> Any:
            if self._closed:
                await self._refuse(context, "the service is stopping")
            task = asyncio.current_task()
            assert task is not None
            self._in_flight.add(task)
            try:
                return await behaviour(request, context)
            except asyncio.CancelledError:
                if not self._aborting:
                    raise
                task.uncancel()
                await self._refuse(context, "the service stopped before the call finished")
            finally:
                self._in_flight.discard(task)

        return wrapper

    def _stream(
        self, behaviour: Callable[..., AsyncIterator[Any]]
    ) -> Callable[[Any, aio.ServicerContext], AsyncIterator[Any]]:
        async def wrapper(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
            if self._closed:
                await self._refuse(context, "the service is stopping")
            task = asyncio.current_task()
            assert task is not None
            self._in_flight.add(task)
            try:
                async for response in behaviour(request, context):
                    yield response
            except asyncio.CancelledError:
                if not self._aborting:
                    raise
                task.uncancel()
                await self._refuse(context, "the service stopped before the call finished")
            finally:
                self._in_flight.discard(task)

        return wrapper


class RuntimeHealth(health.aio.HealthServicer):
    """The standard health servicer; a Check on LIVENESS is answered from the loops' state at
    that moment, with every loop's state in the trailing metadata (LOOPS_METADATA)."""

    def __init__(self, liveness: Callable[[], bool], loops: Callable[[], list[LoopState]]) -> None:
        super().__init__()
        self._liveness = liveness
        self._loops = loops

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: aio.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        if request.service == LIVENESS:
            await self.set(LIVENESS, SERVING if self._liveness() else NOT_SERVING)
            loops = json.dumps([s.public() for s in self._loops()], ensure_ascii=False)
            context.set_trailing_metadata(((LOOPS_METADATA, loops),))
        return await super().Check(request, context)  # type: ignore[no-any-return]


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

    pool: asyncpg.Pool = field(init=False)
    nc: NatsClient = field(init=False)
    js: JetStreamContext = field(init=False)
    server: aio.Server = field(init=False)
    port: int = field(init=False, default=0)
    health: RuntimeHealth = field(init=False)
    relay: eventbus.OutboxRelay = field(init=False)
    supervisor: Supervisor = field(init=False)
    gate: CallGate = field(init=False)
    _service_names: list[str] = field(init=False, default_factory=list)
    _workers: list[Worker] = field(init=False, default_factory=list)
    _stopped: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _last_tick: float = field(init=False, default=0.0)
    _events_ok: bool = field(init=False, default=True)
    _not_ready_because: str = field(init=False, default="")
    _stream_checked: float = field(init=False, default=0.0)

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
        if getattr(self, "nc", None) is not None:
            with contextlib.suppress(Exception):
                await self.nc.close()
        if getattr(self, "pool", None) is not None:
            await self.pool.close()

    async def _start(self) -> int:
        s = self.settings
        self.supervisor = Supervisor(
            s.service_name, min_s=s.loop_restart_min_s, max_s=s.loop_restart_max_s
        )
        self.pool = await create_pool(s, self.database_url, self.schema)
        async with self.pool.acquire() as conn:
            await migrations.apply(conn, self.schema, self.migrations_dir)
        self.nc = await _connect_with_retry(self.nats_url, f"linli-{s.service_name}", s.nats_auth())
        self.js = self.nc.jetstream()
        await eventbus.ensure_stream(self.js, s.stream_spec())
        self._stream_checked = time.monotonic()

        self.gate = CallGate(OPEN_PREFIXES)
        self.server = aio.server(
            # The gate is outermost: it sees every call first and ends cut-off ones retryably.
            interceptors=[self.gate, ServerInterceptor(s, self.staff_only)],
            options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 32 << 20)],
        )
        self._service_names = self.register(self.server, self)
        self.health = RuntimeHealth(self._alive, lambda: self.supervisor.states)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable([*self._service_names, health.SERVICE_NAME], self.server)
        for name in [*self.readiness_names, EVENTS]:
            await self.health.set(name, NOT_SERVING)
        await self.health.set(LIVENESS, SERVING)
        if self.ready is not None:
            await self.ready(self)
        self.port = self.server.add_insecure_port(f"{s.grpc_host}:{s.grpc_port}")
        await self.server.start()

        self.relay = eventbus.OutboxRelay(
            self.pool,
            self.js,
            schema=self.schema,
            keys=eventbus.KeyRing.from_settings(s),
            stream=s.stream_name,
            batch=s.relay_batch,
            idle_poll_s=s.relay_idle_poll_s,
            stuck_after_s=s.events_behind_after_s,
        )
        pool = self.pool
        self._workers = [
            *self.workers(self),
            Periodic(
                "event bus prune",
                lambda: eventbus.prune(pool, outbox_days=s.outbox_retention_days),
                3600.0,
            ),
        ]
        self.supervisor.start("outbox relay", self.relay)
        for worker in self._workers:
            self.supervisor.start(_worker_name(worker), worker)
        self._last_tick = time.monotonic()
        await self._check_health()
        self.supervisor.start("health", _Loop(self._health_loop))
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
        for hook in self.on_stop:
            try:
                await hook()
            except Exception:
                log.exception("%s: a stop hook failed", self.settings.service_name)
        # The relay finishes the batch in hand; anything left stays in the outbox for next time.
        await self.supervisor.stop(5.0)
        with contextlib.suppress(Exception):
            await self.nc.drain()
        await self.pool.close()
        log.info("%s stopped", self.settings.service_name)


# How often the health loop checks that the stream exists with the configured settings.
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


def redacted(url: str) -> str:
    """The URL without its password, for logs and screens."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{parts.hostname}:{parts.port}"))


async def run_until_signal(runtime: ServiceRuntime) -> None:
    """Start the runtime and stop it gracefully on SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start()
    await stop.wait()
    log.info("signal received: stopping within %.0fs", runtime.settings.shutdown_grace_s)
    await runtime.stop()


def health_check(address: str, service: str = "", timeout: float = 2.0) -> bool:
    """Ask a server's standard health service (blocking); True when it answers SERVING."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError:
            return False
        return bool(reply.status == SERVING)


def serve(settings: Settings, build: Callable[[], ServiceRuntime]) -> None:
    """A service's `__main__`: logging, the safety checks, then run until SIGTERM."""
    from services.common.logs import setup_logging

    setup_logging(settings.log_level)
    settings.refuse_unsafe()
    if not settings.database_url or not settings.nats_url:
        raise SystemExit("set LINLI_DATABASE_URL and LINLI_NATS_URL (make up does it for you)")
    asyncio.run(run_until_signal(build()))
