"""Faults on the real servers: a PostgreSQL crash keeps every acknowledged write, and after a
PostgreSQL restart the running services publish and consume again and are ready again, without
being restarted themselves. (Service processes killed and stopped: tests/e2e/test_faults.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Iterator

import asyncpg
import grpc
import pytest
from grpc import aio

from dev.localinfra import NatsServer, PostgresServer
from linli.v1 import registry_pb2, registry_pb2_grpc
from services.common.auth import Role
from services.common.runtime import LIVENESS
from services.common.settings import RegistrySettings, TasksSettings
from services.registry.app import build as build_registry
from services.tasks.app import build as build_tasks
from tests.conftest import ROOT
from tests.integration.runtime_support import (
    NOT_SERVING,
    READY,
    SERVING,
    eventually,
    loops,
    register,
    status,
    wait_status,
)
from tests.support import auth, phone, ref, request_id, token

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def durable_pg() -> Iterator[PostgresServer]:
    """A PostgreSQL of this module's own, with the default (durable) settings: it is crashed."""
    root = ROOT / ".linli" / ref("pg-faults")
    server = PostgresServer.start(root)
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def nats_server() -> AsyncIterator[NatsServer]:
    root = ROOT / ".linli" / ref("nats-faults")
    server = NatsServer.start(root)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_an_immediate_crash_loses_no_acknowledged_write(durable_pg: PostgresServer) -> None:
    conn = await asyncpg.connect(durable_pg.url)
    try:
        for name in ("fsync", "synchronous_commit", "full_page_writes"):
            assert await conn.fetchval(f"SHOW {name}") == "on", name
        table = f"acked_{ref('w').replace('-', '_')}"
        await conn.execute(f"CREATE TABLE {table} (n integer PRIMARY KEY)")
        acknowledged = 0
        for n in range(300):  # each INSERT is its own transaction, acknowledged on return
            await conn.execute(f"INSERT INTO {table} VALUES ($1)", n)
            acknowledged += 1
    finally:
        await conn.close()
    durable_pg.stop("immediate")  # no checkpoint: only the write-ahead log on disk counts
    durable_pg.resume()
    conn = await asyncpg.connect(durable_pg.url)
    try:
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == acknowledged
    finally:
        await conn.close()


async def _register_retrying(
    stub: registry_pb2_grpc.RegistryServiceStub, md: tuple[tuple[str, str], ...]
) -> registry_pb2.Member:
    """RegisterMember with one request id, retried while the service says UNAVAILABLE."""
    rid, number = request_id(), phone()
    for _ in range(100):
        try:
            return await register(stub, md, rid=rid, phone_number=number)
        except aio.AioRpcError as e:
            if e.code() is not grpc.StatusCode.UNAVAILABLE:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("the registry stayed UNAVAILABLE")


async def test_after_postgresql_restarts_events_flow_again_and_health_recovers(
    durable_pg: PostgresServer, nats_server: NatsServer
) -> None:
    quick = {"grpc_port": 0, "health_check_interval_s": 0.2, "relay_idle_poll_s": 0.2}
    registry_settings = RegistrySettings(**quick)  # type: ignore[arg-type]
    registry = build_registry(registry_settings, durable_pg.url, nats_server.url)
    tasks = build_tasks(
        TasksSettings(sweep_interval_s=3600, **quick),  # type: ignore[arg-type]
        durable_pg.url,
        nats_server.url,
    )
    md = auth(token(registry_settings, Role.DISTRICT_ADMIN, "district-admin"))
    await registry.start()
    await tasks.start()
    try:
        async with aio.insecure_channel(f"127.0.0.1:{registry.port}") as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)

            def known_to_tasks(member_id: str):  # type: ignore[no-untyped-def]
                async def check() -> bool:
                    with contextlib.suppress(OSError, asyncpg.PostgresError):
                        conn = await asyncpg.connect(durable_pg.url)
                        try:
                            return bool(
                                await conn.fetchval(
                                    "SELECT count(*) FROM tasks.member WHERE id = $1::uuid",
                                    member_id,
                                )
                            )
                        finally:
                            await conn.close()
                    return False

                return check

            before = await _register_retrying(stub, md)
            await eventually(known_to_tasks(before.id), "the member reaches the task service")
            await wait_status(channel, READY, SERVING)

            durable_pg.stop("fast")
            await wait_status(channel, READY, NOT_SERVING)
            assert await status(channel, LIVENESS) == SERVING  # not restarted for it
            await asyncio.sleep(1.0)  # the loops meet the closed connections
            durable_pg.resume()

            await wait_status(channel, READY, SERVING)
            after = [await _register_retrying(stub, md) for _ in range(3)]
            for m in after:
                await eventually(known_to_tasks(m.id), "a member written after the restart")
            async with aio.insecure_channel(f"127.0.0.1:{tasks.port}") as task_channel:
                await wait_status(task_channel, "", SERVING)
            shown = await loops(channel)
            assert shown["outbox relay"]["state"] == "running"
            assert await status(channel, LIVENESS) == SERVING
    finally:
        await tasks.stop(grace=1)
        await registry.stop(grace=1)
