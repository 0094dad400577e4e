"""Helpers for the runtime and fault tests: databases of their own, health, waiting."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from linli.v1 import registry_pb2, registry_pb2_grpc
from services.common.runtime import LOOPS_METADATA
from tests.support import member_proto, request_id

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
READY = "linli.v1.RegistryService"


async def new_database(admin_url: str) -> str:
    """A database of the test's own on the server at admin_url; its URL."""
    name = f"linli_rt_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30.0
) -> None:
    """Wait until `check` holds; the limit is generous because the machines are loaded."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still not true after {timeout:.0f}s: {what}")
        await asyncio.sleep(0.1)


async def status(channel: aio.Channel, service: str) -> int | None:
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
    except aio.AioRpcError:
        return None
    return int(reply.status)


async def wait_status(channel: aio.Channel, service: str, want: int, timeout: float = 30) -> None:
    async def check() -> bool:
        return await status(channel, service) == want

    await eventually(check, f"health {service!r} is {want}", timeout)


async def loops(channel: aio.Channel) -> dict[str, dict[str, object]]:
    """The supervised loops as the liveness check shows them, by name."""
    call = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="liveness"), timeout=5
    )
    await call
    trailing = dict(await call.trailing_metadata() or ())  # type: ignore[attr-defined]
    return {loop["name"]: loop for loop in json.loads(trailing[LOOPS_METADATA])}


async def register(
    stub: registry_pb2_grpc.RegistryServiceStub,
    md: tuple[tuple[str, str], ...],
    rid: str | None = None,
    phone_number: str | None = None,
    timeout: float = 10.0,
) -> registry_pb2.Member:
    reply = await stub.RegisterMember(
        registry_pb2.RegisterMemberRequest(
            request_id=rid or request_id(), member=member_proto(phone_number=phone_number)
        ),
        metadata=md,
        timeout=timeout,
    )
    return reply.member
