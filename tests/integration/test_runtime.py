"""The shared runtime: supervised loops, readiness and liveness that a broker outage does not
fail, a graceful stop that ends no received call CANCELLED, the stream's settings, NATS login."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator

import grpc
import nats
import pytest
from grpc import aio
from nats.errors import NoServersError
from nats.js import api

from dev.localinfra import NatsServer
from linli.v1 import registry_pb2_grpc
from services.common import eventbus
from services.common.auth import Role
from services.common.runtime import EVENTS, LIVENESS, ServiceRuntime, redacted
from services.common.settings import RegistrySettings
from services.common.streamspec import StreamSpec
from services.registry.app import build
from tests.conftest import ROOT, Servers
from tests.integration.events import read_events
from tests.integration.runtime_support import (
    NOT_SERVING,
    READY,
    SERVING,
    eventually,
    loops,
    new_database,
    register,
    status,
    wait_status,
)
from tests.support import auth, ref, token

pytestmark = pytest.mark.integration


@pytest.fixture
async def nats_server() -> AsyncIterator[NatsServer]:
    root = ROOT / ".linli" / ref("nats-rt")
    server = NatsServer.start(root)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def database(servers: Servers) -> str:
    return await new_database(servers.admin_url)


class FailingFirst:
    """A background worker whose run fails `times` times, then runs until stopped."""

    name = "failing first"

    def __init__(self, times: int) -> None:
        self.times = times
        self.runs = 0
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        self.runs += 1
        if self.runs <= self.times:
            raise RuntimeError(f"boom {self.runs}")
        await self._stopping.wait()

    def stop(self) -> None:
        self._stopping.set()


class Returning:
    """A worker whose run returns at once every time (as a loop that ended by mistake)."""

    name = "returning"

    async def run(self) -> None:
        return None

    def stop(self) -> None:
        pass


def quick(**kw: object) -> RegistrySettings:
    base: dict[str, object] = {
        "grpc_port": 0,
        "health_check_interval_s": 0.1,
        "loop_restart_min_s": 0.05,
        "loop_restart_max_s": 0.2,
        "shutdown_grace_s": 2.0,
    }
    return RegistrySettings(**(base | kw))  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running(runtime: ServiceRuntime) -> AsyncIterator[aio.Channel]:
    await runtime.start()
    try:
        async with aio.insecure_channel(f"127.0.0.1:{runtime.port}") as channel:
            yield channel
    finally:
        with contextlib.suppress(Exception):
            await runtime.stop(grace=1)


async def test_a_failing_worker_is_restarted_and_health_shows_it(
    servers: Servers, database: str
) -> None:
    worker = FailingFirst(times=3)
    runtime = build(quick(), database, servers.nats_url)
    runtime.workers = lambda _rt: [worker]
    async with running(runtime) as channel:

        async def restarted() -> bool:
            shown = (await loops(channel))["failing first"]
            return worker.runs == 4 and shown["state"] == "running"

        await eventually(restarted, "the worker runs again after three failures")
        shown = (await loops(channel))["failing first"]
        assert shown["restarts"] == 3
        assert "RuntimeError" in str(shown["last_error"])
        assert (await loops(channel))["outbox relay"]["state"] == "running"
        await wait_status(channel, READY, SERVING)
        assert await status(channel, LIVENESS) == SERVING


async def test_a_loop_that_keeps_failing_makes_the_service_unready_then_not_live(
    servers: Servers, database: str
) -> None:
    settings = quick(loop_failing_limit_s=0.5, loop_dead_after_s=1.5)
    runtime = build(settings, database, servers.nats_url)
    runtime.workers = lambda _rt: [Returning()]
    async with running(runtime) as channel:
        await wait_status(channel, READY, NOT_SERVING)
        await wait_status(channel, LIVENESS, NOT_SERVING)
        shown = (await loops(channel))["returning"]
        assert shown["restarts"] >= 2
        assert shown["last_error"] == "returned before the stop"


async def test_while_nats_is_away_the_service_stays_ready_and_answers_writes(
    servers: Servers, database: str, nats_server: NatsServer
) -> None:
    settings = quick(events_behind_after_s=0.3, relay_idle_poll_s=0.1)
    runtime = build(settings, database, nats_server.url)
    md = auth(token(settings, Role.DISTRICT_ADMIN, "district-admin"))
    async with running(runtime) as channel:
        stub = registry_pb2_grpc.RegistryServiceStub(channel)
        await wait_status(channel, READY, SERVING)
        await wait_status(channel, EVENTS, SERVING)
        nats_server.stop()
        await wait_status(channel, EVENTS, NOT_SERVING)
        written = [await register(stub, md) for _ in range(3)]
        # Several health intervals pass: readiness and liveness hold all along.
        for _ in range(10):
            assert await status(channel, READY) == SERVING
            assert await status(channel, "") == SERVING
            assert await status(channel, LIVENESS) == SERVING
            await asyncio.sleep(settings.health_check_interval_s)
        unsent = "SELECT count(*) FROM registry.outbox WHERE sent_at IS NULL"
        assert await runtime.pool.fetchval(unsent) >= len(written)

        nats_server.resume()

        async def drained() -> bool:
            return int(await runtime.pool.fetchval(unsent)) == 0

        await eventually(drained, "the outbox drains once NATS is back")
        await wait_status(channel, EVENTS, SERVING)
        nc = await nats.connect(nats_server.url)
        try:
            published = await read_events(nc.jetstream(), "linli.registry.member.>")
        finally:
            await nc.drain()
        # This server is the test's own: exactly the members written while it was away.
        assert len(published) == len(written)


SLOW = "/linli.test.Slow/Wait"


def with_slow_method(runtime: ServiceRuntime) -> None:
    """Adds a method that sleeps as long as its request says (seconds, as text)."""
    base = runtime.register

    async def wait(request: bytes, _context: aio.ServicerContext) -> bytes:
        await asyncio.sleep(float(request.decode()))
        return b"done"

    def register(server: aio.Server, rt: ServiceRuntime) -> list[str]:
        names = base(server, rt)
        handler = grpc.method_handlers_generic_handler(
            "linli.test.Slow", {"Wait": grpc.unary_unary_rpc_method_handler(wait)}
        )
        server.add_generic_rpc_handlers((handler,))
        return names

    runtime.register = register


async def test_calls_in_flight_at_stop_finish_and_later_calls_are_unavailable(
    servers: Servers, database: str
) -> None:
    settings = quick()
    runtime = build(settings, database, servers.nats_url)
    with_slow_method(runtime)
    stopped: list[str] = []

    async def hook() -> None:
        stopped.append("hook")

    runtime.on_stop.append(hook)
    md = auth(token(settings, Role.DISTRICT_ADMIN, "district-admin"))
    await runtime.start()
    async with aio.insecure_channel(f"127.0.0.1:{runtime.port}") as channel:
        slow = channel.unary_unary(SLOW)
        calls = [asyncio.ensure_future(slow(b"1.0", metadata=md)) for _ in range(5)]
        await eventually(_in_flight(runtime, 5), "five calls in flight")
        stopping = asyncio.ensure_future(runtime.stop(grace=20))
        await eventually(_gate_closed(runtime), "the stop has begun")
        with pytest.raises(aio.AioRpcError) as late:
            await slow(b"0", metadata=md, timeout=10)
        assert late.value.code() == grpc.StatusCode.UNAVAILABLE
        assert await asyncio.gather(*calls) == [b"done"] * 5
        await stopping
    assert stopped == ["hook"]


async def test_calls_still_running_at_the_end_of_the_grace_period_end_unavailable(
    servers: Servers, database: str
) -> None:
    settings = quick()
    runtime = build(settings, database, servers.nats_url)
    with_slow_method(runtime)
    md = auth(token(settings, Role.DISTRICT_ADMIN, "district-admin"))
    await runtime.start()
    async with aio.insecure_channel(f"127.0.0.1:{runtime.port}") as channel:
        slow = channel.unary_unary(SLOW)
        calls = [asyncio.ensure_future(slow(b"60", metadata=md)) for _ in range(3)]
        await eventually(_in_flight(runtime, 3), "three calls in flight")
        await runtime.stop(grace=0.5)
        results = await asyncio.gather(*calls, return_exceptions=True)
    codes = [r.code() for r in results if isinstance(r, aio.AioRpcError)]
    assert codes == [grpc.StatusCode.UNAVAILABLE] * 3


def _in_flight(runtime: ServiceRuntime, n: int):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return runtime.gate.in_flight >= n

    return check


def _gate_closed(runtime: ServiceRuntime):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return runtime.gate._closed

    return check


async def test_the_local_nats_refuses_a_client_without_credentials(
    nats_server: NatsServer,
) -> None:
    with pytest.raises((NoServersError, nats.errors.Error, OSError)):
        await nats.connect(
            nats_server.anonymous_url, allow_reconnect=False, max_reconnect_attempts=0
        )
    nc = await nats.connect(nats_server.url)
    assert nc.is_connected
    await nc.close()


async def test_the_stream_takes_its_settings_and_follows_their_changes(
    nats_server: NatsServer,
) -> None:
    nc = await eventbus.connect(nats_server.url, "test")
    try:
        js = nc.jetstream()
        first = StreamSpec(name="LINLI", max_age_s=3600, max_bytes=1 << 20, duplicate_window_s=60)
        await eventbus.ensure_stream(js, first)
        config = (await js.stream_info("LINLI")).config
        assert (config.max_age, config.max_bytes, config.duplicate_window) == (3600, 1 << 20, 60)
        assert config.num_replicas == 1
        assert api.StorageType(config.storage) is api.StorageType.FILE

        changed = StreamSpec(name="LINLI", max_age_s=7200, max_bytes=2 << 20)
        await eventbus.ensure_stream(js, changed)
        config = (await js.stream_info("LINLI")).config
        assert (config.max_age, config.max_bytes, config.duplicate_window) == (7200, 2 << 20, 120)
        # A name alone (the relay recreating a lost stream) leaves the settings alone.
        await eventbus.ensure_stream(js, "LINLI")
        assert (await js.stream_info("LINLI")).config.max_age == 7200
    finally:
        await nc.close()


async def test_a_runtime_creates_the_stream_from_its_settings(
    database: str, nats_server: NatsServer
) -> None:
    settings = quick(stream_max_age_s=86400.0, stream_duplicate_window_s=30.0)
    runtime = build(settings, database, nats_server.url)
    async with running(runtime):
        config = (await runtime.js.stream_info("LINLI")).config
        assert (config.max_age, config.duplicate_window) == (86400, 30)


async def test_a_service_logs_in_to_nats_with_the_credentials_from_its_settings(
    database: str, nats_server: NatsServer
) -> None:
    settings = quick(nats_user="linli", nats_password=nats_server.password)
    runtime = build(settings, database, nats_server.anonymous_url)
    async with running(runtime) as channel:
        await wait_status(channel, EVENTS, SERVING)
        assert runtime.nc.is_connected
    assert redacted(nats_server.url) == f"nats://linli:***@127.0.0.1:{nats_server.port}"
