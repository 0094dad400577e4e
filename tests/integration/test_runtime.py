"""The shared runtime: health follows PostgreSQL and NATS, deadlines are honoured on the server."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from linli.v1 import registry_pb2
from linli.v1.registry_pb2_grpc import RegistryServiceStub
from services.common.localinfra import NatsServer
from services.common.settings import RegistrySettings
from services.registry.app import build
from tests.conftest import ROOT, Servers
from tests.integration.conftest import District
from tests.support import member_proto, ref, request_id

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


async def test_a_call_past_its_deadline_is_cut_on_the_server_and_writes_nothing(
    stub: RegistryServiceStub,
    admin: tuple[tuple[str, str], ...],
    district: District,
    db: object,
) -> None:
    ids = [request_id() for _ in range(20)]

    async def slow_rows():  # type: ignore[no-untyped-def]
        for rid in ids:
            yield registry_pb2.ImportMembersRequest(
                row=registry_pb2.RegisterMemberRequest(
                    request_id=rid, member=member_proto(district.community, district.grid)
                )
            )
        await asyncio.sleep(5)  # the client stalls: the deadline passes first

    with pytest.raises(aio.AioRpcError) as err:
        await stub.ImportMembers(slow_rows(), metadata=admin, timeout=0.5)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.sleep(0.5)
    assert (
        await db.fetchval(  # type: ignore[attr-defined]
            "SELECT count(*) FROM registry.member WHERE request_id = ANY($1::text[])", ids
        )
        == 0
    )
