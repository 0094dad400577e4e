"""What every service runs on: pool and migrations, NATS and the stream, the gRPC server with
health, reflection and the interceptor, the outbox relay, consumers, and a graceful stop.

A service's composition root builds a `ServiceRuntime` with its schema, its migrations and a
function that adds its servicers; `run_until_signal` is what its `__main__` calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import asyncpg
import grpc
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from services.common import eventbus, migrations
from services.common.db import create_pool
from services.common.interceptors import ServerInterceptor
from services.common.settings import Settings

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


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
class ServiceRuntime:
    """The running pieces of one service process. Build, then `start()`; `stop()` undoes it."""

    settings: Settings
    schema: str
    migrations_dir: Path
    # Adds the service's servicers to the server; returns their full service names.
    register: Callable[[aio.Server, ServiceRuntime], list[str]]
    # Builds the service's background workers (event consumers, periodic jobs) once the pool
    # and JetStream are ready.
    workers: Callable[[ServiceRuntime], list[Worker]] = lambda _rt: []
    # Runs once the servicers exist and before the server answers (e.g. loading memory).
    ready: Callable[[ServiceRuntime], Awaitable[None]] | None = None
    database_url: str = ""
    nats_url: str = ""

    pool: asyncpg.Pool = field(init=False)
    nc: NatsClient = field(init=False)
    js: JetStreamContext = field(init=False)
    server: aio.Server = field(init=False)
    port: int = field(init=False, default=0)
    health: health.aio.HealthServicer = field(init=False)
    relay: eventbus.OutboxRelay = field(init=False)
    _service_names: list[str] = field(init=False, default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(init=False, default_factory=list)
    _workers: list[Worker] = field(init=False, default_factory=list)
    _stopped: asyncio.Event = field(init=False, default_factory=asyncio.Event)

    async def start(self) -> int:
        try:
            return await self._start()
        except BaseException:
            await self._abandon()
            raise

    async def _abandon(self) -> None:
        """Undo a start that failed half-way: nothing is left open."""
        for task in self._tasks:
            task.cancel()
        if getattr(self, "server", None) is not None:
            await self.server.stop(0)
        if getattr(self, "nc", None) is not None:
            with contextlib.suppress(Exception):
                await self.nc.close()
        if getattr(self, "pool", None) is not None:
            await self.pool.close()

    async def _start(self) -> int:
        s = self.settings
        self.pool = await create_pool(s, self.database_url, self.schema)
        async with self.pool.acquire() as conn:
            await migrations.apply(conn, self.schema, self.migrations_dir)
        self.nc = await _connect_with_retry(self.nats_url, f"linli-{s.service_name}")
        self.js = self.nc.jetstream()
        await eventbus.ensure_stream(self.js, s.stream_name)

        self.server = aio.server(
            interceptors=[ServerInterceptor(s)],
            options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 32 << 20)],
        )
        self._service_names = self.register(self.server, self)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [*self._service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server
        )
        for name in ["", *self._service_names]:
            await self.health.set(name, NOT_SERVING)
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
        self._spawn(self.relay.run(), "outbox relay")
        for worker in self._workers:
            self._spawn(worker.run(), type(worker).__name__)
        await self._check_health()
        self._spawn(self._health_loop(), "health")
        log.info("%s listening on %s:%d", s.service_name, s.grpc_host, self.port)
        return self.port

    def _spawn(self, coro: Coroutine[object, object, None], what: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(f"{self.settings.service_name} {what}")
        self._tasks.append(task)

    async def _check_health(self) -> None:
        ok = self.nc.is_connected and self.relay.healthy
        if ok:
            try:
                async with asyncio.timeout(2.0):
                    await self.pool.fetchval("SELECT 1")
            except (OSError, asyncpg.PostgresError, TimeoutError):
                ok = False
        for name in ["", *self._service_names]:
            await self.health.set(name, SERVING if ok else NOT_SERVING)

    async def _health_loop(self) -> None:
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.health_check_interval_s):
                    await self._stopped.wait()
            if not self._stopped.is_set():
                await self._check_health()

    async def stop(self, grace: float | None = None) -> None:
        """Graceful stop: NOT_SERVING, finish in-flight calls, stop the loops, drain NATS, close."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        grace = self.settings.shutdown_grace_s if grace is None else grace
        await self.health.enter_graceful_shutdown()
        if self.settings.shutdown_drain_s:
            await asyncio.sleep(self.settings.shutdown_drain_s)
        await self.server.stop(grace)
        self.relay.stop()
        for worker in self._workers:
            worker.stop()
        # The relay finishes the batch in hand; anything left stays in the outbox for next time.
        _done, pending = await asyncio.wait(self._tasks, timeout=5.0) if self._tasks else ((), ())
        for task in pending:
            task.cancel()
        with contextlib.suppress(Exception):
            await self.nc.drain()
        await self.pool.close()
        log.info("%s stopped", self.settings.service_name)


async def _connect_with_retry(url: str, name: str, attempts: int = 60) -> NatsClient:
    for attempt in range(attempts):
        try:
            return await eventbus.connect(url, name)
        except (OSError, TimeoutError, Exception) as e:
            if attempt == attempts - 1:
                raise
            log.warning("nats not reachable at %s (%s); retrying", url, e)
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


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
