"""NATS loses its data while the matching service is down: once it is back, matching's read model
holds exactly the registry's members, the ones it had missed included. Real PostgreSQL (a
database of its own), a NATS server of its own, and the real registry and matching services."""

from __future__ import annotations

import asyncio
import contextlib
import shutil

import asyncpg
import pytest
from grpc import aio

from dev.localinfra import NatsServer
from linli.v1 import registry_pb2, registry_pb2_grpc
from services.common.auth import Role
from services.common.runtime import ServiceRuntime
from services.common.settings import MatchingSettings, RegistrySettings
from services.matching.app import build as build_matching
from services.registry.app import build as build_registry
from tests.conftest import ROOT, Servers, _fresh_database
from tests.integration.tasks_support import until
from tests.support import auth, member_proto, ref, request_id, token

pytestmark = pytest.mark.integration


async def test_matching_catches_up_with_the_registry_after_nats_loses_its_data(
    servers: Servers,
) -> None:
    database_url = await asyncio.to_thread(_fresh_database, servers.admin_url)
    nats = NatsServer.start(ROOT / ".linli" / f"nats-{ref('recovery')}")
    registry_settings = RegistrySettings(grpc_port=0, health_check_interval_s=0.2)
    matching_settings = MatchingSettings(grpc_port=0, health_check_interval_s=0.2)
    admin = auth(token(registry_settings, Role.DISTRICT_ADMIN, "district-admin"))
    community, grid = ref("c"), ref("g")
    registry = build_registry(registry_settings, database_url, nats.url)
    matching: ServiceRuntime | None = None
    db = await asyncpg.connect(database_url)
    try:
        await registry.start()
        matching = build_matching(matching_settings, database_url, nats.url)
        await matching.start()
        async with aio.insecure_channel(f"127.0.0.1:{registry.port}") as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)
            await stub.ImportDistrict(
                registry_pb2.ImportDistrictRequest(
                    content=f"""
streets:
  - id: {ref("st")}
    name: 恢复测试街道
    communities:
      - id: {community}
        name: 恢复社区
        station: {{lat: 36.980, lng: 117.170}}
        grids:
          - {{id: {grid}, name: 一, center: {{lat: 36.981, lng: 117.171}}, radius_m: 300}}
"""
                ),
                metadata=admin,
            )

            async def register(n: int) -> None:
                for _ in range(n):
                    await stub.RegisterMember(
                        registry_pb2.RegisterMemberRequest(
                            request_id=request_id(), member=member_proto(community, grid)
                        ),
                        metadata=admin,
                    )

            async def ids(schema: str) -> set[str]:
                rows = await db.fetch(f"SELECT id FROM {schema}.member")
                return {str(r["id"]) for r in rows}

            async def caught_up() -> bool:
                return await ids("matching") == await ids("registry")

            await register(10)
            await until(caught_up, timeout=30)

            await matching.stop(grace=1.0)  # matching is down ...
            await register(30)  # ... while these are published
            await until(lambda: _none_unsent(db), timeout=30)
            assert len(await ids("matching")) == 10

            nats.stop()
            shutil.rmtree(nats.store_dir)  # NATS comes back empty: no stream, no consumers
            nats.resume()
            await register(5)

            matching = build_matching(matching_settings, database_url, nats.url)
            await matching.start()
            await until(caught_up, timeout=60)
            assert len(await ids("matching")) == 45
    finally:
        await db.close()
        for runtime in (matching, registry):
            if runtime is not None:
                with contextlib.suppress(Exception):
                    await runtime.stop(grace=1.0)
        nats.stop()
        shutil.rmtree(nats.store_dir.parent, ignore_errors=True)


async def _none_unsent(db: asyncpg.Connection) -> bool:
    return bool(
        await db.fetchval("SELECT count(*) FROM registry.outbox WHERE sent_at IS NULL") == 0
    )
