"""A service process as a deployment runs it: its metrics on its metrics port over HTTP, and its
log as JSON lines with the fields operators search by, its calls' request ids among them."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

import pytest
from grpc import aio
from prometheus_client.parser import text_string_to_metric_families

from dev.localinfra import free_port
from linli.v1 import registry_pb2_grpc
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import Servers
from tests.e2e.test_faults import Registry
from tests.integration.runtime_support import eventually, new_database, register
from tests.support import auth, phone, token

pytestmark = pytest.mark.e2e


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_a_registry_process_serves_its_metrics_and_logs_json_lines(
    servers: Servers, tmp_path: Path
) -> None:
    url = await new_database(servers.admin_url)
    service = Registry(url, servers.nats_url, tmp_path / "registry.log")
    metrics_port = free_port()
    service.env.update(
        {"LINLI_REGISTRY_METRICS_PORT": str(metrics_port), "LINLI_LOG_FORMAT": "json"}
    )
    md = auth(token(Settings(), Role.DISTRICT_ADMIN, "district-admin"))
    number = phone()
    service.start()
    try:
        async with aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)
            traced = (*md, ("x-request-id", "ops-check-1"))  # the caller's id, kept
            await register(stub, traced, phone_number=number)

        async def counted() -> bool:
            seen = await asyncio.to_thread(scrape, metrics_port)
            call = {"service": "registry", "grpc_method": "RegisterMember", "grpc_code": "OK"}
            ready = {"service": "registry", "name": ""}
            return (
                seen.get(("linli_grpc_server_handled_total", frozenset(call.items()))) == 1
                and seen.get(("linli_health_serving", frozenset(ready.items()))) == 1
            )

        await eventually(counted, "the process's /metrics shows the call and its readiness")
    finally:
        service.stop()
    lines = [json.loads(line) for line in service.log.read_text().splitlines() if line]
    assert all(r["service"] == "registry" and "time" in r and "level" in r for r in lines)
    [call] = [r for r in lines if r.get("grpc_method", "").endswith("/RegisterMember")]
    assert call["request_id"] == "ops-check-1" and call["grpc_code"] == "OK"
    assert call["principal"] == "district_admin:district-admin"
    assert number not in service.log.read_text()
