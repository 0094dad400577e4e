"""Faults and hostile input found by probing the services from outside: each test here failed
before its fix."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc import aio

from linli.v1 import registry_pb2
from services.common.runtime import ServiceRuntime
from tests.integration.errors import bad_request_fields
from tests.support import member_proto, request_id

pytestmark = pytest.mark.integration

Metadata = tuple[tuple[str, str], ...]
IMPORT = "/linli.v1.RegistryService/ImportMembers"
BAD_TOKEN: Metadata = (("authorization", "Bearer not.a.token"),)


def _row() -> bytes:
    return registry_pb2.ImportMembersRequest(
        row=registry_pb2.RegisterMemberRequest(request_id=request_id(), member=member_proto())
    ).SerializeToString()


async def _refusal_while_writing(port: int, metadata: Metadata, first: bytes) -> aio.AioRpcError:
    """Send `first`, then another message once a refusal of the first had time to arrive."""
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.stream_unary(IMPORT)(metadata=metadata, timeout=60)
        await call.write(first)
        # A server that refuses without reading the rest has answered by now; the client's next
        # write would then fail (grpcio reports that as INTERNAL, or refuses the write).
        await asyncio.sleep(1.0)
        await call.write(_row())
        await call.done_writing()
        with pytest.raises(aio.AioRpcError) as err:
            await call
    return err.value


async def test_an_import_refused_for_its_token_is_answered_so_while_the_caller_still_writes(
    registry: ServiceRuntime,
) -> None:
    err = await _refusal_while_writing(registry.port, BAD_TOKEN, _row())
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_an_import_refused_for_an_undecodable_row_names_it_while_the_caller_still_writes(
    registry: ServiceRuntime, admin: Metadata
) -> None:
    err = await _refusal_while_writing(registry.port, admin, b"\xff\xff\xff\xff")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(err) == {"requests[0]": "is not a valid ImportMembersRequest"}
