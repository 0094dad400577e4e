"""The shared runtime: health follows PostgreSQL and NATS, deadlines are honoured on the server."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.localinfra import NatsServer
from services.common.settings import RegistrySettings
from services.registry.app import build
from tests.conftest import ROOT, Servers
from tests.support import ref

pytestmark = pytest.mark.integration

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def wait_status(health: health_pb2_grpc.HealthStub, want: int, timeout: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    status = None
    while asyncio.get_running_loop().time() < deadline:
        status = (
            await health.Check(health_pb2.HealthCheckRequest(service="linli.v1.RegistryService"))
        ).status
        if status == want:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"health stayed {status}, wanted {want}")


async def test_health_is_not_serving_while_nats_is_away(servers: Servers) -> None:
    nats = NatsServer.start(ROOT / ".linli" / ref("nats-health"))
    runtime = build(
        RegistrySettings(grpc_port=0, health_check_interval_s=0.1), servers.database_url, nats.url
    )
    await runtime.start()
    try:
        async with aio.insecure_channel(f"127.0.0.1:{runtime.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            await wait_status(health, SERVING)
            nats.stop()
            await wait_status(health, NOT_SERVING)
            nats.resume()
            await wait_status(health, SERVING)
    finally:
        with contextlib.suppress(Exception):
            await runtime.stop(grace=1)
        nats.stop()
