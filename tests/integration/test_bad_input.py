"""Bad input at the door of every service, over a real socket: an undecodable body, control
characters, timestamps out of range, forged page tokens, huge ids and odd request ids are each
answered as INVALID_ARGUMENT naming the field (or refused before any handler), in a small trailer.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2
from grpc import aio

from linli.v1 import matching_pb2, registry_pb2, tasks_pb2
from services.common import paging
from services.common.interceptors import REQUEST_ID
from services.common.runtime import ServiceRuntime
from tests.integration.conftest import District, code
from tests.integration.errors import bad_request_fields
from tests.support import member_proto, request_id

pytestmark = pytest.mark.integration

Metadata = tuple[tuple[str, str], ...]


def trailer_size(err: aio.AioRpcError) -> int:
    metadata = sum(len(k) + len(v) for k, v in err.trailing_metadata() or ())
    return metadata + len((err.details() or "").encode())


async def raw_call(port: int, method: str, body: bytes, metadata: Metadata) -> aio.AioRpcError:
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(aio.AioRpcError) as err:
            await channel.unary_unary(method)(body, metadata=metadata, timeout=30)
    return err.value


@pytest.mark.parametrize(
    ("service", "method", "type_name"),
    [
        ("registry", "/linli.v1.RegistryService/GetMember", "GetMemberRequest"),
        ("tasks", "/linli.v1.TaskService/ListTasks", "ListTasksRequest"),
        ("matching", "/linli.v1.MatchingService/GetMatchRun", "GetMatchRunRequest"),
    ],
)
async def test_an_undecodable_body_is_invalid_argument_and_without_a_token_unauthenticated(
    service: str,
    method: str,
    type_name: str,
    registry: ServiceRuntime,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
    admin: Metadata,
) -> None:
    port = {"registry": registry, "tasks": tasks_rt, "matching": matching_rt}[service].port
    for body in (b"\xff\xff\xff\xff", b"\x0a\x05ab", b"\x0a\x02\xc3\x28"):
        err = await raw_call(port, method, body, admin)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details() == f"invalid argument: the request is not a valid {type_name}"
        assert bad_request_fields(err) == {"": f"is not a valid {type_name}"}
        assert "Traceback" not in (err.debug_error_string() or "")

    anonymous = await raw_call(port, method, b"\xff\xff\xff\xff", ())
    assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_an_undecodable_row_in_an_import_refuses_it_with_nothing_written(
    registry: ServiceRuntime, stub: Any, admin: Metadata
) -> None:
    # More rows than one batch before the bad one: a half-written import would have landed some.
    rows = [
        registry_pb2.ImportMembersRequest(
            row=registry_pb2.RegisterMemberRequest(request_id=request_id(), member=member_proto())
        )
        for _ in range(501)
    ]
    bodies = [r.SerializeToString() for r in rows]
    async with aio.insecure_channel(f"127.0.0.1:{registry.port}") as channel:
        with pytest.raises(aio.AioRpcError) as err:
            await channel.stream_unary("/linli.v1.RegistryService/ImportMembers")(
                iter([*bodies, b"\xff\xff\xff"]), metadata=admin, timeout=60
            )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(err.value) == {"requests[501]": "is not a valid ImportMembersRequest"}

    async def again() -> registry_pb2.ImportMembersResponse:
        async def stream() -> Any:
            for r in rows:
                yield r

        return await stub.ImportMembers(stream(), metadata=admin, timeout=60)

    replay = await again()
    assert (replay.registered, replay.already_registered, list(replay.errors)) == (501, 0, [])


async def test_a_control_character_in_an_import_row_refuses_that_row_naming_its_field(
    stub: Any, admin: Metadata
) -> None:
    good = registry_pb2.ImportMembersRequest(
        row=registry_pb2.RegisterMemberRequest(request_id=request_id(), member=member_proto())
    )
    bad = registry_pb2.ImportMembersRequest(
        row=registry_pb2.RegisterMemberRequest(
            request_id=request_id(), member=member_proto(name="王\x00芳")
        )
    )

    async def stream() -> Any:
        yield good
        yield bad

    reply = await stub.ImportMembers(stream(), metadata=admin)
    assert (reply.received, reply.registered) == (2, 1)
    [error] = reply.errors
    assert (error.index, error.code) == (1, grpc.StatusCode.INVALID_ARGUMENT.value[0])
    assert [v.split(":")[0] for v in error.field_violations] == ["row.member.name"]


async def test_a_nul_in_an_id_filter_or_token_of_any_service_names_the_field(
    stub: Any, task_stub: Any, match_stub: Any, admin: Metadata, district: District
) -> None:
    calls = [
        (stub.GetMember(registry_pb2.GetMemberRequest(id="m\x00"), metadata=admin), "id"),
        (
            stub.ListMembers(registry_pb2.ListMembersRequest(community_id="c\x00"), metadata=admin),
            "community_id",
        ),
        (
            task_stub.ListTasks(
                tasks_pb2.ListTasksRequest(community_id=district.community, page_token="\x00"),
                metadata=admin,
            ),
            "page_token",
        ),
        (task_stub.GetTask(tasks_pb2.GetTaskRequest(id="\x00"), metadata=admin), "id"),
        (
            match_stub.ListMatchRuns(
                matching_pb2.ListMatchRunsRequest(community_id="\x00x"), metadata=admin
            ),
            "community_id",
        ),
    ]
    for call, field in calls:
        with pytest.raises(aio.AioRpcError) as err:
            await call
        assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT
        assert list(bad_request_fields(err.value)) == [field]


async def test_a_timestamp_out_of_range_names_the_field(
    task_stub: Any, admin: Metadata, district: District
) -> None:
    far = timestamp_pb2.Timestamp(seconds=253_402_300_799)  # 9999-12-31T23:59:59Z
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.ListTasks(
            tasks_pb2.ListTasksRequest(community_id=district.community, start_before=far),
            metadata=admin,
        )
    assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT
    assert list(bad_request_fields(err.value)) == ["start_before"]

    wish = tasks_pb2.Wish(community_id=district.community, title="买菜", headcount=1)
    wish.window.start.GetCurrentTime()
    wish.window.end.CopyFrom(far)
    with pytest.raises(aio.AioRpcError) as err:
        await task_stub.PostWish(
            tasks_pb2.PostWishRequest(request_id=request_id(), wish=wish), metadata=admin
        )
    assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT
    assert "wish.window.end" in bad_request_fields(err.value)


async def test_an_unknown_enum_number_names_the_field(match_stub: Any, admin: Metadata) -> None:
    with pytest.raises(aio.AioRpcError) as err:
        await match_stub.RunMatching(
            matching_pb2.RunMatchingRequest(dry_run=True, method=77), metadata=admin
        )
    assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT
    assert list(bad_request_fields(err.value)) == ["method"]


async def test_a_forged_page_token_is_invalid_argument_and_an_issued_one_works(
    stub: Any, task_stub: Any, match_stub: Any, admin: Metadata, district: District
) -> None:
    first = await stub.ListStreets(registry_pb2.ListStreetsRequest(page_size=1), metadata=admin)
    assert first.next_page_token
    second = await stub.ListStreets(
        registry_pb2.ListStreetsRequest(page_size=1, page_token=first.next_page_token),
        metadata=admin,
    )
    assert [s.id for s in second.streets] != [s.id for s in first.streets]

    # A token built as the service builds them but unsigned, an issued token with its last
    # character changed, and an issued token used at another service.
    forged = (
        base64.urlsafe_b64encode(
            json.dumps(
                {"a": "", "f": paging._fingerprint({"kind": "street", "parent": ""})}
            ).encode()
        )
        .decode()
        .rstrip("=")
    )
    altered = first.next_page_token[:-1] + ("A" if first.next_page_token[-1] != "A" else "B")
    calls = [
        stub.ListStreets(registry_pb2.ListStreetsRequest(page_token=forged), metadata=admin),
        stub.ListStreets(registry_pb2.ListStreetsRequest(page_token=altered), metadata=admin),
        task_stub.ListTasks(
            tasks_pb2.ListTasksRequest(
                community_id=district.community, page_token=first.next_page_token
            ),
            metadata=admin,
        ),
        match_stub.ListMatchRuns(
            matching_pb2.ListMatchRunsRequest(page_token="eyJhIjogIngiLCAiZiI6ICJ5In0"),
            metadata=admin,
        ),
    ]
    for call in calls:
        with pytest.raises(aio.AioRpcError) as err:
            await call
        assert code(err.value) == grpc.StatusCode.INVALID_ARGUMENT
        assert list(bad_request_fields(err.value)) == ["page_token"]


@pytest.mark.parametrize("length", [4000, 10_000])
async def test_a_huge_id_gives_a_small_error_a_default_client_reads(
    length: int, stub: Any, task_stub: Any, match_stub: Any, admin: Metadata
) -> None:
    huge = "x" * length
    calls = [
        stub.GetMember(registry_pb2.GetMemberRequest(id=huge), metadata=admin),
        stub.GetCommunity(registry_pb2.GetCommunityRequest(id=huge), metadata=admin),
        task_stub.GetTask(tasks_pb2.GetTaskRequest(id=huge), metadata=admin),
        task_stub.GetRole(tasks_pb2.GetRoleRequest(id=huge), metadata=admin),
        match_stub.GetMatchRun(matching_pb2.GetMatchRunRequest(id=huge), metadata=admin),
    ]
    for call in calls:
        with pytest.raises(aio.AioRpcError) as err:
            await call
        assert code(err.value) in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
        assert trailer_size(err.value) < 2048


async def test_a_plain_request_id_comes_back_and_any_other_is_replaced(
    stub: Any, admin: Metadata
) -> None:
    for given, kept in [
        ("req-0f8a:5c1e.2b7d_4e1a", True),
        ("two words", False),
        ("x" * 200, False),
        ("rpc status=OK;principal=admin", False),
    ]:
        call = stub.ListSkills(
            registry_pb2.ListSkillsRequest(), metadata=(*admin, ("x-request-id", given))
        )
        await call
        [answered] = [v for k, v in await call.trailing_metadata() if k == "x-request-id"]
        assert (answered == given) is kept
        assert REQUEST_ID.fullmatch(answered)


async def test_health_refuses_an_undecodable_body_and_still_answers_a_good_one(
    registry: ServiceRuntime,
) -> None:
    from grpc_health.v1 import health_pb2

    check = "/grpc.health.v1.Health/Check"
    err = await raw_call(registry.port, check, b"\xff\xff\xff\xff", ())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == "invalid argument: the request is not a valid HealthCheckRequest"

    async with aio.insecure_channel(f"127.0.0.1:{registry.port}") as channel:
        answer = await channel.unary_unary(check)(
            health_pb2.HealthCheckRequest().SerializeToString(), timeout=30
        )
        assert health_pb2.HealthCheckResponse.FromString(answer).status == (
            health_pb2.HealthCheckResponse.SERVING
        )
        watch = channel.unary_stream("/grpc.health.v1.Health/Watch")
        with pytest.raises(aio.AioRpcError) as refused:
            async for _ in watch(b"\xff\xff\xff\xff", timeout=30):
                pass
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        async for first in watch(health_pb2.HealthCheckRequest().SerializeToString(), timeout=30):
            assert health_pb2.HealthCheckResponse.FromString(first).status == (
                health_pb2.HealthCheckResponse.SERVING
            )
            break
