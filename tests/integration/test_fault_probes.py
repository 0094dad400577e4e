"""Faults and hostile input found by probing the services from outside: each test here failed
before its fix."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import pytest
from grpc import aio

from dev.localinfra import NatsServer
from linli.v1 import common_pb2, registry_pb2, registry_pb2_grpc, tasks_pb2
from services.common.auth import Role
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings, TasksSettings
from services.registry.app import build as build_registry
from services.tasks.app import build as build_tasks
from tests.conftest import ROOT, Servers
from tests.integration.errors import bad_request_fields
from tests.integration.runtime_support import (
    READY,
    SERVING,
    eventually,
    new_database,
    register,
    wait_status,
)
from tests.integration.tasks_support import make_neighbourhood, post, wish
from tests.support import auth, member_proto, phone, ref, request_id, token

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


@pytest.fixture
async def own_nats() -> AsyncIterator[NatsServer]:
    root = ROOT / ".linli" / ref("nats-probes")
    server = NatsServer.start(root)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_connections_ended_by_the_database_mid_call_answer_unavailable_and_lose_nothing(
    servers: Servers, own_nats: NatsServer
) -> None:
    url = await new_database(servers.database_url)
    database = url.rsplit("/", 1)[-1].split("?")[0]
    quick = {"grpc_port": 0, "health_check_interval_s": 0.2, "relay_idle_poll_s": 0.2}
    registry_settings = RegistrySettings(**quick)  # type: ignore[arg-type]
    registry = build_registry(registry_settings, url, own_nats.url)
    tasks = build_tasks(
        TasksSettings(sweep_interval_s=3600, **quick),  # type: ignore[arg-type]
        url,
        own_nats.url,
    )
    md = auth(token(registry_settings, Role.DISTRICT_ADMIN, "district-admin"))
    await registry.start()
    await tasks.start()
    admin = await asyncpg.connect(servers.database_url)
    codes: list[grpc.StatusCode] = []
    registered: dict[str, str] = {}  # phone -> member id, as acknowledged

    async def end_backends() -> None:
        # Every connection of the services to their database, again and again, as a failover
        # or an operator's pg_terminate_backend would; then the database is left alone.
        for _ in range(40):
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
            await asyncio.sleep(0.1)

    async def writer(stub: registry_pb2_grpc.RegistryServiceStub) -> None:
        for _ in range(8):
            rid, number = request_id(), phone()
            while True:  # the same request, retried while it is not answered
                try:
                    member = await register(stub, md, rid=rid, phone_number=number, timeout=30)
                except aio.AioRpcError as e:
                    codes.append(e.code())
                    if e.code() is not grpc.StatusCode.UNAVAILABLE:
                        return
                    await asyncio.sleep(0.05)
                else:
                    codes.append(grpc.StatusCode.OK)
                    registered[number] = member.id
                    break

    try:
        async with aio.insecure_channel(f"127.0.0.1:{registry.port}") as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)
            killer = asyncio.create_task(end_backends())
            async with asyncio.timeout(300):
                await asyncio.gather(killer, *(writer(stub) for _ in range(6)))
            assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}, codes
            assert len(registered) == 48

            conn = await asyncpg.connect(url)
            try:
                # Each acknowledged registration written once, and its event applied once.
                rows = await conn.fetch(
                    "SELECT phone, id::text FROM registry.member WHERE phone = ANY($1)",
                    list(registered),
                )
                assert dict((r["phone"], r["id"]) for r in rows) == registered

                async def all_known() -> bool:
                    n = await conn.fetchval(
                        "SELECT count(*) FROM tasks.member WHERE id = ANY($1::uuid[])",
                        list(registered.values()),
                    )
                    return int(n) == len(registered)

                await eventually(all_known, "every member reaches the task service", timeout=120)
            finally:
                await conn.close()
            await wait_status(channel, READY, SERVING)
            async with aio.insecure_channel(f"127.0.0.1:{tasks.port}") as task_channel:
                await wait_status(task_channel, "", SERVING)
    finally:
        await admin.close()
        await tasks.stop(grace=1)
        await registry.stop(grace=1)


async def test_a_member_naming_themselves_in_another_spelling_of_their_id_is_still_themselves(
    stub: registry_pb2_grpc.RegistryServiceStub,
    tasks_rt: ServiceRuntime,
    task_stub: Any,
    settings: RegistrySettings,
) -> None:
    hood = await make_neighbourhood(stub, tasks_rt, settings, members=1, outsiders=0)
    mid = hood.members[0]
    me = hood.as_member(mid)
    task = await post(task_stub, hood.staff, wish(hood.home, headcount=2, skills=()))
    claimed = await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=task.id, member_id=mid.upper()), metadata=me
    )
    assert claimed.assignment.member_id == mid
    for spelling in (mid.upper(), mid.replace("-", ""), "{" + mid + "}"):
        mine = await task_stub.ListAssignments(
            tasks_pb2.ListAssignmentsRequest(member_id=spelling), metadata=me
        )
        assert [a.id for a in mine.assignments] == [claimed.assignment.id]
    # Another member's id, in any spelling, is still another member's.
    other = str(uuid.uuid4())
    for spelling in (other, other.upper()):
        with pytest.raises(aio.AioRpcError) as err:
            await task_stub.ClaimTask(
                tasks_pb2.ClaimTaskRequest(task_id=task.id, member_id=spelling), metadata=me
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_request_with_a_huge_repeated_field_is_refused_naming_it_before_any_handler(
    stub: registry_pb2_grpc.RegistryServiceStub,
    tasks_rt: ServiceRuntime,
    task_stub: Any,
    settings: RegistrySettings,
) -> None:
    # A 4 MiB body holds two million empty entries; walked and converted one by one they held
    # the event loop for minutes, and any member may send one about themself.
    hood = await make_neighbourhood(stub, tasks_rt, settings, members=1, outsiders=0)
    mid = hood.members[0]
    member = registry_pb2.Member(id=mid)
    member.availability.extend([common_pb2.WeeklyWindow()] * 1_000_000)
    with pytest.raises(aio.AioRpcError) as err:
        await stub.UpdateMember(
            registry_pb2.UpdateMemberRequest(
                member=member, update_mask={"paths": ["availability"]}
            ),
            metadata=hood.as_member(mid),
            timeout=60,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(err.value) == {
        "member.availability": "at most 1000 entries (got 1000000)"
    }
    # Even entries each of which is fine are too many together.
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.ListTasks(
            tasks_pb2.ListTasksRequest(
                community_id=hood.home, statuses=[tasks_pb2.TASK_STATUS_OPEN] * 1_000_000
            ),
            metadata=hood.staff,
            timeout=60,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(bad_request_fields(err.value)) == ["statuses"]
