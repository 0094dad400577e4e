"""The gRPC service config that docs/clients.md gives clients: a channel accepts it as written,
retries UNAVAILABLE (and nothing else) up to its attempts, and still talks to a running service."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc import aio

from linli.v1 import registry_pb2, registry_pb2_grpc
from services.common.runtime import ServiceRuntime

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parent.parent.parent / "docs/clients.md"


def documented_config() -> dict[str, Any]:
    """The one JSON block of docs/clients.md: the service config, exactly as clients copy it."""
    [block] = re.findall(r"```json\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    config: dict[str, Any] = json.loads(block)
    return config


def channel_to(port: int) -> aio.Channel:
    return aio.insecure_channel(
        f"127.0.0.1:{port}",
        options=[("grpc.service_config", json.dumps(documented_config()))],
    )


class Refusing(registry_pb2_grpc.RegistryServiceServicer):
    """ListSkills answering `code` to its first `times` calls, then a skill list."""

    def __init__(self, code: grpc.StatusCode, times: int) -> None:
        self.code, self.times, self.calls = code, times, 0

    async def ListSkills(
        self, request: registry_pb2.ListSkillsRequest, context: aio.ServicerContext
    ) -> registry_pb2.ListSkillsResponse:
        self.calls += 1
        if self.calls <= self.times:
            await context.abort(self.code, "refused on purpose")
        return registry_pb2.ListSkillsResponse()


@pytest.fixture
async def refusing() -> AsyncIterator[tuple[Refusing, aio.Channel]]:
    """A real gRPC server on a free port whose refusals the test sets, and a channel to it."""
    servicer = Refusing(grpc.StatusCode.OK, 0)
    server = aio.server()
    registry_pb2_grpc.add_RegistryServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with channel_to(port) as channel:
        yield servicer, channel
    await server.stop(0)


def max_attempts() -> int:
    [policy] = [m["retryPolicy"] for m in documented_config()["methodConfig"]]
    return int(policy["maxAttempts"])


def test_the_policy_covers_every_linli_service_and_retries_only_unavailable() -> None:
    [method] = documented_config()["methodConfig"]
    assert {n["service"] for n in method["name"]} == {
        "linli.v1.RegistryService",
        "linli.v1.TaskService",
        "linli.v1.MatchingService",
    }
    assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]


async def test_unavailable_is_retried_until_the_call_succeeds(
    refusing: tuple[Refusing, aio.Channel],
) -> None:
    servicer, channel = refusing
    servicer.code, servicer.times = grpc.StatusCode.UNAVAILABLE, max_attempts() - 1

    await registry_pb2_grpc.RegistryServiceStub(channel).ListSkills(
        registry_pb2.ListSkillsRequest()
    )

    assert servicer.calls == max_attempts()


async def test_unavailable_is_given_up_after_the_last_attempt(
    refusing: tuple[Refusing, aio.Channel],
) -> None:
    servicer, channel = refusing
    servicer.code, servicer.times = grpc.StatusCode.UNAVAILABLE, max_attempts() + 5

    with pytest.raises(aio.AioRpcError) as refused:
        await registry_pb2_grpc.RegistryServiceStub(channel).ListSkills(
            registry_pb2.ListSkillsRequest()
        )

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert servicer.calls == max_attempts()


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
    ],
)
async def test_other_codes_are_not_retried(
    refusing: tuple[Refusing, aio.Channel], code: grpc.StatusCode
) -> None:
    servicer, channel = refusing
    servicer.code, servicer.times = code, 1

    with pytest.raises(aio.AioRpcError) as refused:
        await registry_pb2_grpc.RegistryServiceStub(channel).ListSkills(
            registry_pb2.ListSkillsRequest()
        )

    assert refused.value.code() == code
    assert servicer.calls == 1


async def test_a_channel_with_the_config_talks_to_the_registry(
    registry: ServiceRuntime, admin: tuple[tuple[str, str], ...]
) -> None:
    async with channel_to(registry.port) as channel:
        reply = await registry_pb2_grpc.RegistryServiceStub(channel).ListSkills(
            registry_pb2.ListSkillsRequest(), metadata=admin
        )

    assert len(reply.skills) > 0
