"""Server reflection over grpc.reflection.v1 (what current grpcurl, Postman and buf curl ask
first) and v1alpha, on every running service, with no token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from grpc import aio

from services.common import reflection
from services.common.runtime import ServiceRuntime
from services.common.service_list import MATCHING, REGISTRY, TASKS

pytestmark = pytest.mark.integration

V1_METHOD = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
V1ALPHA_METHOD = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


def v1_messages() -> tuple[type[Message], type[Message]]:
    """grpc.reflection.v1's request and response, built from a pool of their own, as a client
    that knows only v1 would have them (not the server's v1alpha classes)."""
    pool = descriptor_pool.DescriptorPool()
    reflection.add_v1_descriptor(pool)
    request = pool.FindMessageTypeByName("grpc.reflection.v1.ServerReflectionRequest")
    response = pool.FindMessageTypeByName("grpc.reflection.v1.ServerReflectionResponse")
    return message_factory.GetMessageClass(request), message_factory.GetMessageClass(response)


async def ask(port: int, method: str, *requests: Message) -> list[Message]:
    _, response_type = v1_messages()

    async def stream() -> AsyncIterator[Message]:
        for r in requests:
            yield r

    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.stream_stream(
            method,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        return [reply async for reply in call(stream())]


@pytest.fixture(params=[REGISTRY, TASKS, MATCHING], ids=lambda s: s.name)
def service(
    request: pytest.FixtureRequest,
    registry: ServiceRuntime,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
) -> tuple[str, int]:
    runtime = {REGISTRY: registry, TASKS: tasks_rt, MATCHING: matching_rt}[request.param]
    assert runtime.port is not None
    return request.param.grpc_service, runtime.port


@pytest.mark.parametrize("method", [V1_METHOD, V1ALPHA_METHOD], ids=["v1", "v1alpha"])
async def test_each_service_lists_itself_health_and_both_reflections(
    service: tuple[str, int], method: str
) -> None:
    name, port = service
    request_type, _ = v1_messages()

    [reply] = await ask(port, method, request_type(list_services=""))

    names = {s.name for s in reply.list_services_response.service}  # type: ignore[attr-defined]
    assert {
        name,
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names


async def test_v1_describes_a_service_with_its_dependencies(service: tuple[str, int]) -> None:
    name, port = service
    request_type, _ = v1_messages()

    [reply] = await ask(port, V1_METHOD, request_type(file_containing_symbol=name))

    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in reply.file_descriptor_response.file_descriptor_proto  # type: ignore[attr-defined]
    ]
    services = {f"{f.package}.{s.name}" for f in files for s in f.service}
    assert name in services
    # A client builds its own descriptors from these, so the answer carries every import too.
    names = {f.name for f in files}
    assert {dependency for f in files for dependency in f.dependency} <= names


async def test_v1_describes_itself_and_answers_a_conversation_in_order(
    service: tuple[str, int],
) -> None:
    _, port = service
    request_type, _ = v1_messages()

    replies = await ask(
        port,
        V1_METHOD,
        request_type(file_containing_symbol="grpc.reflection.v1.ServerReflection"),
        request_type(file_containing_symbol="linli.v1.NoSuchThing"),
        request_type(list_services=""),
    )

    assert len(replies) == 3
    described = descriptor_pb2.FileDescriptorProto.FromString(
        replies[0].file_descriptor_response.file_descriptor_proto[0]  # type: ignore[attr-defined]
    )
    assert (described.name, described.package) == (reflection.V1_FILE, "grpc.reflection.v1")
    assert replies[1].error_response.error_code == 5  # type: ignore[attr-defined]  # NOT_FOUND
    assert replies[2].HasField("list_services_response")


BUF = Path(__file__).resolve().parent.parent.parent / "tools/buf/node_modules/.bin/buf"


async def buf_curl(*args: str) -> str:
    """`buf curl` over gRPC, its schema from reflection v1 only; its output."""
    if not BUF.is_file():
        pytest.skip("NO BUF: tools/buf is not installed (make lint installs it); buf curl NOT run")
    # Not subprocess.run: the server answering it runs on this very event loop.
    process = await asyncio.create_subprocess_exec(
        str(BUF),
        "curl",
        "--protocol=grpc",
        "--http2-prior-knowledge",
        "--reflect-protocol=grpc-v1",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_buf_curl_calls_the_registry_knowing_only_what_reflection_v1_tells_it(
    registry: ServiceRuntime, admin: tuple[tuple[str, str], ...]
) -> None:
    base = f"http://127.0.0.1:{registry.port}"

    methods = await buf_curl("--list-methods", base)
    reply = await buf_curl(
        *(f"--header={key}: {value}" for key, value in admin),
        f"{base}/linli.v1.RegistryService/ListSkills",
    )

    assert "linli.v1.RegistryService/ListSkills" in methods.split()
    assert json.loads(reply)["skills"]
