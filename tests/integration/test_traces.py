"""One call followed across the services by its trace: the caller, the API, the database, the
outbox relay and NATS, and each consumer, captured with the OpenTelemetry SDK's in-memory exporter.

The three services run in this process on a database and a NATS server of their own, so that no
other test's consumers take their events, all traced by one provider."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id

from dev.localinfra import NatsServer
from linli.v1 import matching_pb2, registry_pb2
from services.client import Session
from services.common import subjects, tracing
from services.common.auth import Role
from services.common.runtime import ServiceRuntime
from services.common.settings import (
    MatchingSettings,
    RegistrySettings,
    Settings,
    TasksSettings,
)
from services.matching.app import build as build_matching
from services.registry.app import build as build_registry
from services.tasks.app import build as build_tasks
from tests.conftest import Servers
from tests.integration.runtime_support import eventually, new_database
from tests.integration.tasks_support import matched_neighbourhood, post, wish
from tests.integration.test_matching import next_saturday_morning
from tests.support import member_proto, ref, request_id, token

pytestmark = pytest.mark.integration

REGISTER = "/linli.v1.RegistryService/RegisterMember"


@dataclass
class Traced:
    exporter: InMemorySpanExporter
    session: Session
    nats_url: str
    registry: RegistrySettings
    community: str
    grid: str
    runtimes: list[ServiceRuntime]

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer.start(Path(tmp_path_factory.mktemp("nats")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def traced(servers: Servers, nats_server: NatsServer) -> AsyncIterator[Traced]:
    url = await new_database(servers.admin_url)
    exporter = InMemorySpanExporter()
    shared = tracing.Tracing(
        tracing.provider(Settings(service_name="linli-test"), SimpleSpanProcessor(exporter))
    )
    registry_settings = RegistrySettings(grpc_port=0, health_check_interval_s=0.2)
    runtimes: list[ServiceRuntime] = [
        build_registry(registry_settings, url, nats_server.url),
        build_tasks(
            TasksSettings(grpc_port=0, sweep_interval_s=3600, health_check_interval_s=0.2),
            url,
            nats_server.url,
        ),
        build_matching(
            MatchingSettings(grpc_port=0, health_check_interval_s=0.2), url, nats_server.url
        ),
    ]
    started: list[ServiceRuntime] = []
    try:
        for rt in runtimes:
            rt.tracing = shared
            await rt.start()
            started.append(rt)
        where = {
            name: f"127.0.0.1:{rt.port}"
            for name, rt in zip(("registry", "tasks", "matching"), runtimes, strict=True)
        }
        tok = token(registry_settings, Role.DISTRICT_ADMIN, "district-admin")
        session = Session(where, tok, tracer_provider=shared.provider)
        community, grid = ref("c"), ref("g")
        district = f"""
streets:
  - id: {ref("st")}
    name: 测试街道
    communities:
      - id: {community}
        name: 测试社区
        station: {{lat: 36.980, lng: 117.170}}
        grids:
          - {{id: {grid}, name: 第1网格, center: {{lat: 36.981, lng: 117.171}}, radius_m: 200}}
"""
        await session.registry.ImportDistrict(
            registry_pb2.ImportDistrictRequest(content=district), metadata=session.md
        )
        try:
            yield Traced(
                exporter, session, nats_server.url, registry_settings, community, grid, runtimes
            )
        finally:
            await session.close()
    finally:
        for rt in reversed(started):
            await rt.stop(grace=1.0)
        await shared.shutdown()


def _one(spans: list[ReadableSpan], what: str) -> ReadableSpan:
    assert len(spans) == 1, f"{what}: {[(s.name, s.kind) for s in spans]}"
    return spans[0]


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    found = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        found.append(span)
    return found


async def test_a_registration_is_one_trace_from_the_caller_through_the_relay_into_each_consumer(
    traced: Traced,
) -> None:
    await traced.session.registry.RegisterMember(
        registry_pb2.RegisterMemberRequest(
            request_id=request_id(), member=member_proto(traced.community, traced.grid)
        ),
        metadata=traced.session.md,
    )
    client = _one(
        [s for s in traced.spans() if s.name == REGISTER and s.kind is SpanKind.CLIENT], "client"
    )
    trace_id = client.context.trace_id

    def in_trace() -> list[ReadableSpan]:
        return [s for s in traced.spans() if s.context.trace_id == trace_id]

    def consumers() -> set[str]:
        return {
            str((s.attributes or {}).get("messaging.consumer.group.name"))
            for s in in_trace()
            if s.kind is SpanKind.CONSUMER
        }

    async def both_consumed() -> bool:
        return {"tasks", "matching"} <= consumers()

    await eventually(both_consumed, "the tasks and matching consumers joined the trace")
    spans = in_trace()
    by_id = {s.context.span_id: s for s in spans}

    # The caller's span is the root; the API's span is its child.
    assert client.parent is None
    server = _one([s for s in spans if s.kind is SpanKind.SERVER], "server")
    assert server.name == REGISTER
    assert server.parent is not None and server.parent.span_id == client.context.span_id
    assert (server.attributes or {}).get("rpc.grpc.status_code") == 0

    # The database statements of the call, the outbox row among them, are under the API's span.
    statements = [s for s in spans if (s.attributes or {}).get("db.system") == "postgresql"]
    under_api = [s for s in statements if server in _ancestors(s, by_id)]
    assert any("INSERT INTO outbox" in str(s.attributes.get("db.statement")) for s in under_api)
    assert any("INSERT INTO member" in str(s.attributes.get("db.statement")) for s in under_api)

    # The relay publishes the event as a child of the call that wrote it.
    send = _one(
        [s for s in spans if s.kind is SpanKind.PRODUCER and s.name.endswith(".registered")],
        "relay's publish",
    )
    assert send.name == f"send {subjects.MEMBER_REGISTERED}"
    assert send.parent is not None and send.parent.span_id == server.context.span_id
    event_id = str(send.attributes.get("messaging.message.id"))

    # Each consumer applies it as a child of the publish, its own statements (the inbox row, the
    # read model) under its span.
    for group in ("tasks", "matching"):
        process = _one(
            [
                s
                for s in spans
                if s.kind is SpanKind.CONSUMER
                and (s.attributes or {}).get("messaging.consumer.group.name") == group
            ],
            f"{group} consumer",
        )
        assert process.name == f"process {subjects.MEMBER_REGISTERED}"
        assert process.parent is not None and process.parent.span_id == send.context.span_id
        assert process.attributes.get("messaging.message.id") == event_id
        assert process.status.is_ok
        own = [s for s in statements if process in _ancestors(s, by_id)]
        assert any("INSERT INTO inbox" in str(s.attributes.get("db.statement")) for s in own)


async def test_an_event_a_consumer_writes_in_turn_continues_the_trace(traced: Traced) -> None:
    # A run's proposals reach the task service, whose assignments reach matching again.
    _, tasks_rt, matching_rt = traced.runtimes
    session = traced.session
    hood = await matched_neighbourhood(
        session.registry, tasks_rt, matching_rt, traced.registry, members=2, outsiders=0
    )
    task = await post(
        session.tasks, hood.staff, wish(hood.home, start=next_saturday_morning(), skills=())
    )
    world = matching_rt.matching.world  # type: ignore[attr-defined]

    async def seen() -> bool:
        return task.id in world.tasks

    await eventually(seen, "matching's read model holds the task")
    await session.matching.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home, time_limit_s=5),
        metadata=hood.staff,
    )
    run = _one(
        [
            s
            for s in traced.spans()
            if s.kind is SpanKind.SERVER and s.name.endswith("/RunMatching")
        ],
        "the run's call",
    )

    def in_trace() -> list[ReadableSpan]:
        return [s for s in traced.spans() if s.context.trace_id == run.context.trace_id]

    def back_in_matching() -> list[ReadableSpan]:
        return [
            s
            for s in in_trace()
            if s.kind is SpanKind.CONSUMER
            and s.name.startswith("process linli.tasks.assignment.")
            and (s.attributes or {}).get("messaging.consumer.group.name") == "matching"
        ]

    async def came_back() -> bool:
        return bool(back_in_matching())

    await eventually(came_back, "the task service's assignment reached matching in the trace")
    by_id = {s.context.span_id: s for s in in_trace()}
    chain = [back_in_matching()[0], *_ancestors(back_in_matching()[0], by_id)]
    # matching applies the assignment <- the task service sent it <- while applying the proposal
    # <- that the relay sent <- for the run's call.
    assert [(s.kind, s.name) for s in chain[:4]] == [
        (SpanKind.CONSUMER, chain[0].name),
        (SpanKind.PRODUCER, chain[0].name.replace("process", "send", 1)),
        (SpanKind.CONSUMER, f"process {subjects.PROPOSAL_MADE}"),
        (SpanKind.PRODUCER, f"send {subjects.PROPOSAL_MADE}"),
    ]
    assert (chain[2].attributes or {}).get("messaging.consumer.group.name") == "tasks"
    assert run in chain[4:]


async def test_the_trace_context_travels_in_message_headers_and_not_in_the_sealed_event(
    traced: Traced,
) -> None:
    import nats

    await traced.session.registry.RegisterMember(
        registry_pb2.RegisterMemberRequest(
            request_id=request_id(), member=member_proto(traced.community, traced.grid)
        ),
        metadata=traced.session.md,
    )
    client = [s for s in traced.spans() if s.name == REGISTER and s.kind is SpanKind.CLIENT][-1]
    trace_id = format_trace_id(client.context.trace_id)

    def sends() -> list[ReadableSpan]:
        return [
            s
            for s in traced.spans()
            if s.kind is SpanKind.PRODUCER
            and format_trace_id(s.context.trace_id) == trace_id
            and s.name == f"send {subjects.MEMBER_REGISTERED}"
        ]

    async def published() -> bool:
        return bool(sends())

    await eventually(published, "the relay published the registration")
    send = sends()[0]
    nc = await nats.connect(traced.nats_url)
    try:
        msg = await nc.jetstream().get_last_msg("LINLI", subjects.MEMBER_REGISTERED)
    finally:
        await nc.close()
    headers = msg.headers or {}
    version, sent_trace, parent, _flags = headers["traceparent"].split("-")
    assert (version, sent_trace, parent) == ("00", trace_id, format_span_id(send.context.span_id))
    assert headers["Nats-Msg-Id"] == send.attributes.get("messaging.message.id")
    data = msg.data or b""
    assert trace_id.encode() not in data
    assert bytes.fromhex(trace_id) not in data
    assert b"traceparent" not in data


async def test_a_refused_call_is_a_server_span_with_its_status_and_request_id(
    traced: Traced,
) -> None:
    rid = request_id()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await traced.session.registry.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(), member=member_proto(traced.community, traced.grid, name="")
            ),
            metadata=(*traced.session.md, ("x-request-id", rid)),
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT

    def servers() -> list[ReadableSpan]:
        return [
            s
            for s in traced.spans()
            if s.kind is SpanKind.SERVER and (s.attributes or {}).get("linli.request_id") == rid
        ]

    async def recorded() -> bool:
        return bool(servers())

    await eventually(recorded, "the refused call's span ended")
    server = _one(servers(), "server")
    assert server.name == REGISTER
    assert (
        server.attributes.get("rpc.grpc.status_code") == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    )
    assert server.attributes.get("linli.principal.role") == "district_admin"


async def test_health_checks_make_no_traces(traced: Traced) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    before = {s.context.span_id for s in traced.spans()}
    stub = health_pb2_grpc.HealthStub(traced.session.channels["registry"])
    await stub.Check(health_pb2.HealthCheckRequest(service=""))
    new = [s for s in traced.spans() if s.context.span_id not in before]
    assert not [s for s in new if s.kind is SpanKind.SERVER]


async def test_no_database_statement_is_a_trace_of_its_own(traced: Traced) -> None:
    # The relay polls, the consumers probe and the health loop asks `SELECT 1` all the time.
    statements = [s for s in traced.spans() if (s.attributes or {}).get("db.system")]
    assert statements
    assert all(s.parent is not None for s in statements)
