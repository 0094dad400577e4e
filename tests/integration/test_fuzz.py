"""Generated requests over every RPC of every service: bad input never breaks a call.

Requests are generated from the services' descriptors (hypothesis): every field of every message,
with random and hostile strings (NUL, controls, 10 kB), random enum numbers, extreme timestamps,
non-finite and huge floats, and random bytes as the whole body; each sent with a token of each
role, a bad token or none. Whatever a call answers, it is never INTERNAL or UNKNOWN, and its
error travels in a small trailer. Generation is derandomized, so every run sends the same calls.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from grpc import aio
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from linli.v1 import attendance_pb2, audit_pb2, matching_pb2, registry_pb2, tasks_pb2
from services.common.auth import Role
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings, Settings
from tests.integration.conftest import District
from tests.support import auth, member_proto, ref, request_id, token

pytestmark = pytest.mark.integration

EXAMPLES_PER_RPC = 40
# Default clients read trailers up to 8 KiB; ours stay well under.
TRAILER_LIMIT = 4096
CONCURRENCY = 8
NESTING = 4

NASTY_STRINGS = [
    "",
    "\x00",
    "a\x00b",
    "\x07\x1b[31m",
    "line\nforged=1",
    "x" * 10_000,
    "宽" * 5_000,
    "' OR 1=1 --",
    "%s%n",
    "../../etc",
    "\u202e\ufeff",
    "💥",
    "-1",
    "NaN",
    "9999-12-31T23:59:59Z",
    "00000000-0000-0000-0000-000000000000",
]
EXTREME_SECONDS = [
    0,
    -1,
    -62_135_596_800,  # 0001-01-01
    -62_135_596_801,
    253_402_300_799,  # 9999-12-31
    253_402_300_800,
    946_684_800,  # 2000-01-01
    7_258_118_400,  # 2200-01-01
    2**63 - 1,
    -(2**63),
]
EXTREME_FLOATS = [math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0, 0.0]

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _ints(low: int, high: int) -> st.SearchStrategy[int]:
    edges = [v for v in (low, high, -1, 0, 1, 2, 100, 1001, 10**9) if low <= v <= high]
    return st.sampled_from(edges) | st.integers(low, high)


def _scalar(field: FieldDescriptor, known: list[str]) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return st.sampled_from(known) | st.sampled_from(NASTY_STRINGS) | st.text(max_size=40)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_DOUBLE:
        return st.sampled_from(EXTREME_FLOATS) | st.floats()
    if kind == FieldDescriptor.TYPE_FLOAT:
        return st.sampled_from(EXTREME_FLOATS[:3]) | st.floats(width=32)
    if kind == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        numbers = [v.number for v in field.enum_type.values]
        return st.sampled_from(numbers) | st.integers(-3, max(numbers) + 5) | _ints(-(2**31), -1)
    low, high = _INT_RANGES[kind]
    return _ints(low, high)


def _timestamps() -> st.SearchStrategy[Message]:
    return st.builds(
        timestamp_pb2.Timestamp,
        seconds=st.sampled_from(EXTREME_SECONDS) | st.integers(0, 8_000_000_000),
        nanos=st.integers(0, 999_999_999) | st.sampled_from([-1, 10**9, 2**31 - 1]),
    )


def messages(descriptor: Descriptor, known: list[str], depth: int = 0) -> st.SearchStrategy[Any]:
    """Any message of this type: each field absent or set, to anything its type can carry."""
    cls = message_factory.GetMessageClass(descriptor)
    if descriptor.full_name == "google.protobuf.Timestamp":
        return _timestamps()
    if depth >= NESTING:
        return st.just(cls())
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        one = _field_values(field, known, depth)
        if field.is_repeated:
            one = st.lists(one, max_size=4)
        fields[field.name] = one

    def build(values: dict[str, Any]) -> Message:
        message = cls()
        for name, value in values.items():
            _set(message, descriptor.fields_by_name[name], value)
        return message

    return st.fixed_dictionaries({}, optional=fields).map(build)


def _field_values(field: FieldDescriptor, known: list[str], depth: int) -> st.SearchStrategy[Any]:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        key = _scalar(entry.fields_by_name["key"], known)
        value = _field_values(entry.fields_by_name["value"], known, depth)
        return st.tuples(key, value)
    if entry is not None:
        return messages(entry, known, depth + 1)
    return _scalar(field, known)


def _set(message: Message, field: FieldDescriptor, value: Any) -> None:
    target = getattr(message, field.name)
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        for key, item in value:
            if isinstance(item, Message):
                target[key].CopyFrom(item)
            else:
                target[key] = item
    elif field.is_repeated:
        if entry is not None:
            for item in value:
                target.add().CopyFrom(item)
        else:
            target.extend(value)
    elif entry is not None:
        target.CopyFrom(value)
    else:
        setattr(message, field.name, value)


def collect(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """`count` examples of `strategy`, the same ones on every run."""
    found: list[Any] = []

    @settings(
        max_examples=count,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def draw(example: Any) -> None:
        found.append(example)

    draw()
    return found


# -- the calls ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    who: str
    body: bytes | list[bytes]


@dataclass(frozen=True)
class Outcome:
    call: Call
    code: grpc.StatusCode
    message: str
    trailer_bytes: int

    def describe(self) -> str:
        body = self.call.body if isinstance(self.call.body, bytes) else b"|".join(self.call.body)
        return (
            f"{self.call.method} as {self.call.who}: {self.code.name} {self.message[:200]!r} "
            f"(trailer {self.trailer_bytes} B) body={body[:300]!r}"
        )


def _prepare(method: MethodDescriptor, message: Message) -> Message:
    """Keep generated calls from touching what other tests of the session rely on."""
    if isinstance(message, matching_pb2.RunMatchingRequest):
        # A run proposes members to places; a generated one may only plan, and only briefly.
        message.dry_run = True
        limit = message.time_limit_s
        if math.isfinite(limit) and (limit > 1 or limit == 0):  # 0 means the default, 10 s
            message.time_limit_s = 1
    return message


def plan(
    service: Any, known: list[str], identities: dict[str, tuple[tuple[str, str], ...]]
) -> Iterator[Call]:
    who = st.sampled_from(sorted(identities))
    for method in service.methods:
        path = f"/{service.full_name}/{method.name}"
        one = messages(method.input_type, known).map(
            lambda m, method=method: _prepare(method, m).SerializeToString()
        )
        body: st.SearchStrategy[Any] = one | st.binary(max_size=80)
        if method.client_streaming:
            body = st.lists(body, max_size=4)
        for name, payload in collect(st.tuples(who, body), EXAMPLES_PER_RPC):
            yield Call(path, name, payload)


async def send(
    channels: dict[str, aio.Channel],
    identities: dict[str, tuple[tuple[str, str], ...]],
    call: Call,
) -> Outcome:
    channel = channels[call.method.split("/")[1]]
    metadata = (*identities[call.who], ("x-request-id", request_id()))
    try:
        if isinstance(call.body, list):
            await channel.stream_unary(call.method)(iter(call.body), metadata=metadata, timeout=60)
        else:
            await channel.unary_unary(call.method)(call.body, metadata=metadata, timeout=60)
    except aio.AioRpcError as e:
        trailer = sum(len(k) + len(v) for k, v in e.trailing_metadata() or ())
        message = e.details() or ""
        return Outcome(call, e.code(), message, trailer + len(message.encode()))
    return Outcome(call, grpc.StatusCode.OK, "", 0)


@pytest.fixture(scope="module")
async def fuzz_place(
    stub: Any, admin: tuple[tuple[str, str], ...], district: District
) -> dict[str, str]:
    """Ids of real things for generated requests to name: their own community, and a member."""
    place = {"street": ref("st"), "community": ref("c"), "grid": ref("g"), "unit": ref("u")}
    text = f"""
streets:
  - id: {place["street"]}
    name: 试验街道
    communities:
      - id: {place["community"]}
        name: 试验社区
        station: {{lat: 36.975, lng: 117.165}}
        grids:
          - id: {place["grid"]}
            name: 第1网格
            center: {{lat: 36.975, lng: 117.165}}
            radius_m: 200
units:
  - {{id: {place["unit"]}, name: 试验单位, kind: enterprise, community: {place["community"]}}}
"""
    await stub.ImportDistrict(registry_pb2.ImportDistrictRequest(content=text), metadata=admin)
    member = (
        await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(), member=member_proto(place["community"], place["grid"])
            ),
            metadata=admin,
        )
    ).member
    place["member"] = member.id
    page = await stub.ListStreets(registry_pb2.ListStreetsRequest(page_size=1), metadata=admin)
    place["page_token"] = page.next_page_token
    return place


def _identities(
    settings: Settings, place: dict[str, str]
) -> dict[str, tuple[tuple[str, str], ...]]:
    other = settings.model_copy(
        update={"jwt_secret": type(settings.jwt_secret)("another key of thirty-two bytes or more")}
    )
    return {
        "nobody": (),
        "a bad token": (("authorization", "Bearer not.a.token"),),
        "a foreign token": auth(token(other, Role.DISTRICT_ADMIN, "intruder")),
        "member": auth(token(settings, Role.MEMBER, place["member"])),
        "staff": auth(
            token(settings, Role.COMMUNITY_STAFF, "fuzz-staff", communities=(place["community"],))
        ),
        "street admin": auth(
            token(settings, Role.STREET_ADMIN, "fuzz-street", streets=(place["street"],))
        ),
        "district admin": auth(token(settings, Role.DISTRICT_ADMIN, "fuzz-admin")),
        "service": auth(token(settings, Role.SERVICE, "fuzz-service")),
    }


def _one_of_each(outcomes: list[Outcome]) -> list[str]:
    """One example per method and status, so that a report names every distinct failure."""
    seen: dict[tuple[str, grpc.StatusCode], Outcome] = {}
    for o in outcomes:
        seen.setdefault((o.call.method, o.code), o)
    return [o.describe() for o in seen.values()]


async def test_no_generated_request_to_any_rpc_is_internal_or_unknown_and_errors_stay_small(
    registry: ServiceRuntime,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
    settings: RegistrySettings,
    fuzz_place: dict[str, str],
) -> None:
    services = [
        registry_pb2.DESCRIPTOR.services_by_name["RegistryService"],
        tasks_pb2.DESCRIPTOR.services_by_name["TaskService"],
        matching_pb2.DESCRIPTOR.services_by_name["MatchingService"],
        # The audit log, the same servicer in every service: asked of one.
        audit_pb2.DESCRIPTOR.services_by_name["AuditService"],
        # Check-in and hours, served by the task service's process.
        attendance_pb2.DESCRIPTOR.services_by_name["AttendanceService"],
    ]
    ports = {
        services[0].full_name: registry.port,
        services[1].full_name: tasks_rt.port,
        services[2].full_name: matching_rt.port,
        services[3].full_name: tasks_rt.port,
        services[4].full_name: tasks_rt.port,
    }
    identities = _identities(settings, fuzz_place)
    known = sorted(set(fuzz_place.values()))
    calls = [call for service in services for call in plan(service, known, identities)]
    assert {c.method for c in calls} == {
        f"/{s.full_name}/{m.name}" for s in services for m in s.methods
    }

    channels = {name: aio.insecure_channel(f"127.0.0.1:{port}") for name, port in ports.items()}
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(call: Call) -> Outcome:
        async with gate:
            return await send(channels, identities, call)

    try:
        outcomes = await asyncio.gather(*(one(c) for c in calls))
    finally:
        for channel in channels.values():
            await channel.close()

    broken = [o for o in outcomes if o.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)]
    large = [o for o in outcomes if o.trailer_bytes > TRAILER_LIMIT]
    assert not broken, f"{len(broken)} of {len(outcomes)} calls broke, for example:\n" + "\n".join(
        _one_of_each(broken)
    )
    assert not large, "\n".join(o.describe() for o in large[:20])
    # The generated requests reach past the door: some calls succeed, some are refused as bad.
    codes = {o.code for o in outcomes}
    assert grpc.StatusCode.OK in codes
    assert grpc.StatusCode.INVALID_ARGUMENT in codes
    assert grpc.StatusCode.UNAUTHENTICATED in codes
