"""A revoked sign-in ends at every service: the identity service, the registry, the task and the
matching service (trusting its JWKS, on a database and a NATS server of their own) refuse an
unexpired access token once its account is disabled, its password changed or that sign-in
signed out, also after a restart; a sign-in after the revocation works."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
import pytest
from grpc import aio

from dev.localinfra import NatsServer
from linli.v1 import identity_pb2 as pb
from linli.v1 import (
    matching_pb2,
    matching_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
    tasks_pb2,
    tasks_pb2_grpc,
)
from services.common.runtime import ServiceRuntime
from services.common.settings import (
    IdentitySettings,
    MatchingSettings,
    RegistrySettings,
    TasksSettings,
)
from tests.conftest import ROOT, Servers
from tests.integration.identity_support import (
    PASSWORD,
    IdentityUnderTest,
    another_admin,
    running_identity,
)
from tests.support import auth

pytestmark = pytest.mark.integration

Call = Callable[[str], Awaitable[Any]]
# Generous: the event crosses the outbox relay, NATS and a consumer on a shared machine.
REACH_S = 30.0


@dataclass
class System:
    identity: IdentityUnderTest
    runtimes: dict[str, ServiceRuntime]
    build: dict[str, Callable[[], ServiceRuntime]]
    channels: dict[str, aio.Channel]

    def calls(self) -> dict[str, Call]:
        ch = self.channels
        registry = registry_pb2_grpc.RegistryServiceStub(ch["registry"])
        tasks = tasks_pb2_grpc.TaskServiceStub(ch["tasks"])
        matching = matching_pb2_grpc.MatchingServiceStub(ch["matching"])
        identity = self.identity.stub
        return {
            "identity": lambda t: identity.ListAccounts(pb.ListAccountsRequest(), metadata=auth(t)),
            "registry": lambda t: registry.ListSkills(
                registry_pb2.ListSkillsRequest(), metadata=auth(t)
            ),
            "tasks": lambda t: tasks.ListRoles(tasks_pb2.ListRolesRequest(), metadata=auth(t)),
            "matching": lambda t: matching.ListMatchRuns(
                matching_pb2.ListMatchRunsRequest(), metadata=auth(t)
            ),
        }

    async def restart(self, service: str) -> None:
        await self.channels[service].close()
        await self.runtimes[service].stop(grace=1.0)
        runtime = self.build[service]()
        await runtime.start()
        self.runtimes[service] = runtime
        self.channels[service] = aio.insecure_channel(f"127.0.0.1:{runtime.port}")


@pytest.fixture(scope="module")
async def system(servers: Servers) -> AsyncIterator[System]:
    from services.matching.app import build as build_matching
    from services.registry.app import build as build_registry
    from services.tasks.app import build as build_tasks

    name = f"linli_revoke_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(servers.admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    db = urlunsplit(urlsplit(servers.admin_url)._replace(path=f"/{name}"))
    state = ROOT / ".linli" / f"test-revoke-{uuid.uuid4().hex[:8]}"
    nats = NatsServer.start(state)
    identity_settings = IdentitySettings(
        grpc_port=0,
        identity_http_port=0,
        health_check_interval_s=0.2,
        dev_mode=True,
        database_url=db,
    )
    runtimes: dict[str, ServiceRuntime] = {}
    channels: dict[str, aio.Channel] = {}
    try:
        async with running_identity(identity_settings, nats.url) as identity:
            common: dict[str, Any] = {
                "grpc_port": 0,
                "health_check_interval_s": 0.2,
                "dev_mode": False,
                "jwks_url": identity.jwks_url,
                "jwks_refetch_min_s": 0.0,
            }
            build: dict[str, Callable[[], ServiceRuntime]] = {
                "registry": lambda: build_registry(RegistrySettings(**common), db, nats.url),
                "tasks": lambda: build_tasks(
                    TasksSettings(sweep_interval_s=3600, **common), db, nats.url
                ),
                "matching": lambda: build_matching(MatchingSettings(**common), db, nats.url),
            }
            for service, make in build.items():
                runtimes[service] = make()
                await runtimes[service].start()
                channels[service] = aio.insecure_channel(f"127.0.0.1:{runtimes[service].port}")
            yield System(identity, runtimes, build, channels)
    finally:
        for channel in channels.values():
            await channel.close()
        for runtime in reversed(runtimes.values()):
            if getattr(runtime, "server", None) is not None:
                await runtime.stop(grace=1.0)
        nats.stop()
        shutil.rmtree(state, ignore_errors=True)


async def outcome(call: Call, token: str) -> tuple[grpc.StatusCode, str]:
    try:
        await call(token)
    except aio.AioRpcError as e:
        return e.code(), e.details() or ""
    return grpc.StatusCode.OK, ""


async def all_accept(system: System, token: str) -> None:
    for service, call in system.calls().items():
        assert await outcome(call, token) == (grpc.StatusCode.OK, ""), service


async def all_refuse(system: System, token: str) -> None:
    """Waits (on the answers, with a generous limit) until every service refuses `token` as
    revoked."""
    deadline = time.monotonic() + REACH_S
    pending = dict(system.calls())
    while pending:
        for service, call in list(pending.items()):
            if await outcome(call, token) == (grpc.StatusCode.UNAUTHENTICATED, "token revoked"):
                del pending[service]
        if pending:
            assert time.monotonic() < deadline, f"still accepted by {sorted(pending)}"
            await asyncio.sleep(0.1)


async def test_a_disabled_account_is_refused_everywhere_also_after_a_restart(
    system: System,
) -> None:
    staff, account_id = await another_admin(system.identity)
    token = (await staff.admin_tokens()).access_token
    await all_accept(system, token)

    await system.identity.stub.DisableAccount(
        pb.DisableAccountRequest(id=account_id), metadata=await system.identity.admin()
    )
    await all_refuse(system, token)

    # Loaded from its table at start: a restarted service refuses the token at once.
    await system.restart("registry")
    assert await outcome(system.calls()["registry"], token) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "token revoked",
    )
    # Nobody else is touched.
    await all_accept(system, (await system.identity.admin_tokens()).access_token)


async def test_a_new_password_ends_older_tokens_and_a_new_sign_in_works(
    system: System,
) -> None:
    staff, _ = await another_admin(system.identity)
    old = (await staff.admin_tokens()).access_token
    await all_accept(system, old)

    await staff.stub.ChangePassword(
        pb.ChangePasswordRequest(old_password=PASSWORD, new_password=PASSWORD + " anew"),
        metadata=auth(old),
    )
    await all_refuse(system, old)

    signed = await staff.stub.SignIn(
        pb.SignInRequest(
            user_name=staff.admin_name,
            password=PASSWORD + " anew",
            totp_code=await staff.fresh_code(),
        )
    )
    await all_accept(system, signed.tokens.access_token)


async def test_a_sign_out_ends_that_sign_in_everywhere_and_no_other(system: System) -> None:
    staff, _ = await another_admin(system.identity)
    signed_out = await staff.admin_tokens()
    kept = await staff.admin_tokens()
    await all_accept(system, signed_out.access_token)

    await staff.stub.SignOut(pb.SignOutRequest(refresh_token=signed_out.refresh_token))
    await all_refuse(system, signed_out.access_token)
    # The same person's other sign-in (another device) goes on.
    await all_accept(system, kept.access_token)
