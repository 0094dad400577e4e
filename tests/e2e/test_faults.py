"""A registry process SIGTERMed or SIGKILLed under a bounded load of writes: no acknowledged
write is lost, none is applied twice, a SIGTERM ends no call CANCELLED, and retrying each
unacknowledged write with its request id against the restarted process lands it exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
import pytest
from grpc import aio

from dev.localinfra import free_port
from linli.v1 import events_pb2, registry_pb2_grpc
from services.common.auth import Role
from services.common.runtime import health_check
from services.common.settings import Settings
from tests.conftest import ROOT, Servers
from tests.integration.runtime_support import new_database, register
from tests.support import auth, phone, request_id, token

pytestmark = pytest.mark.e2e

# Enough concurrent writers that calls queue up in the server at the signal (with a few,
# gRPC's own stop never meets a call it has received but not yet handed to the service).
WRITERS = 48
BEFORE_SIGNAL = 40  # acknowledged writes before the signal: the load is bounded


class Registry:
    """`python -m services.registry` as its own process, as `make up` runs it."""

    def __init__(self, database_url: str, nats_url: str, log: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "LINLI_DATABASE_URL": database_url,
            "LINLI_NATS_URL": nats_url,
            "LINLI_REGISTRY_PORT": str(self.port),
            "LINLI_METRICS_PORT": "0",
            "LINLI_DEV_MODE": "true",
            "LINLI_HEALTH_CHECK_INTERVAL_S": "0.2",
            "LINLI_SHUTDOWN_GRACE_S": "20",
        }
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.registry"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 60
        while not health_check(f"127.0.0.1:{self.port}", "linli.v1.RegistryService", timeout=1):
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the registry did not become ready"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Write:
    rid: str
    phone: str
    outcome: grpc.StatusCode | None = None  # None: not answered yet
    codes: list[grpc.StatusCode] = field(default_factory=list)


async def _load(
    address: str, md: tuple[tuple[str, str], ...], signalled: asyncio.Event
) -> list[Write]:
    """Writers register members until the service is gone; every attempt is recorded."""
    writes: list[Write] = []
    acknowledged = asyncio.Event()

    async def writer(stub: registry_pb2_grpc.RegistryServiceStub) -> None:
        while True:
            w = Write(request_id(), phone())
            writes.append(w)
            try:
                await register(stub, md, rid=w.rid, phone_number=w.phone, timeout=30)
                w.outcome = grpc.StatusCode.OK
            except aio.AioRpcError as e:
                w.outcome = e.code()
            w.codes.append(w.outcome)
            if sum(x.outcome is grpc.StatusCode.OK for x in writes) >= BEFORE_SIGNAL:
                acknowledged.set()
            if signalled.is_set() and w.outcome is not grpc.StatusCode.OK:
                return  # the service has gone away

    async with aio.insecure_channel(address) as channel:
        stub = registry_pb2_grpc.RegistryServiceStub(channel)
        tasks = [asyncio.ensure_future(writer(stub)) for _ in range(WRITERS)]
        await acknowledged.wait()
        signalled.set()
        await asyncio.gather(*tasks)
    return writes


async def _members_and_events(url: str, phones: list[str]) -> tuple[Counter[str], Counter[str]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT id::text, phone FROM registry.member WHERE phone = ANY($1::text[])", phones
        )
        blobs = await conn.fetch(
            "SELECT envelope FROM registry.outbox WHERE subject = $1",
            "linli.registry.member.registered",
        )
    finally:
        await conn.close()
    ids = {r["id"]: r["phone"] for r in rows}
    events: Counter[str] = Counter()
    for b in blobs:
        env = events_pb2.EventEnvelope()
        env.ParseFromString(b["envelope"])
        payload = events_pb2.MemberRegistered()
        env.payload.Unpack(payload)
        if payload.member.id in ids:
            events[ids[payload.member.id]] += 1
    return Counter(r["phone"] for r in rows), events


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_a_registry_stopped_under_load_loses_nothing_and_applies_nothing_twice(
    servers: Servers, tmp_path: Path, sig: signal.Signals
) -> None:
    url = await new_database(servers.admin_url)
    service = Registry(url, servers.nats_url, tmp_path / "registry.log")
    md = auth(token(Settings(), Role.DISTRICT_ADMIN, "district-admin"))
    service.start()
    try:
        signalled = asyncio.Event()
        load = asyncio.ensure_future(_load(f"127.0.0.1:{service.port}", md, signalled))
        await signalled.wait()
        assert service.proc is not None
        service.proc.send_signal(sig)
        writes = await asyncio.wait_for(load, 120)
        code = await asyncio.to_thread(service.proc.wait, 60)
        if sig is signal.SIGTERM:
            assert code == 0, service.log.read_text()[-3000:]
            # Received calls finished or were refused retryably; none was cut off.
            assert {w.outcome for w in writes} <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}

        acked = [w.phone for w in writes if w.outcome is grpc.StatusCode.OK]
        members, events = await _members_and_events(url, [w.phone for w in writes])
        assert len(acked) >= BEFORE_SIGNAL
        assert all(members[p] == 1 for p in acked), "an acknowledged write is missing"
        assert all(n == 1 for n in members.values()), "a write was applied twice"

        # The unanswered writes, retried with their request ids, land once each.
        service.start()
        async with aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)
            for w in writes:
                if w.outcome is not grpc.StatusCode.OK:
                    await register(stub, md, rid=w.rid, phone_number=w.phone, timeout=30)
        members, events = await _members_and_events(url, [w.phone for w in writes])
        assert set(members) == {w.phone for w in writes}
        assert set(members.values()) == {1}
        assert set(events.values()) == {1} and set(events) == set(members)
    finally:
        service.stop()
