"""Tracing's rules without servers: off by default, no trace for a lone statement, and the trace
context as an outbox row stores it and a NATS message carries it."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id

from services.common import tracing
from services.common.settings import Settings

STATEMENT = {"db.system": "postgresql", "db.statement": "SELECT 1"}


def traced() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    return tracing.provider(Settings(), SimpleSpanProcessor(exporter)), exporter


def test_tracing_is_off_unless_an_endpoint_is_configured() -> None:
    off = tracing.Tracing.from_settings(Settings())
    assert not off.enabled
    assert off.server_interceptor(skip=("/grpc.health.v1.Health/",)) is None
    with off.tracer.start_as_current_span("work"):
        assert tracing.current_trace_context() == (None, None)


async def test_an_endpoint_turns_tracing_on_until_it_is_shut_down() -> None:
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    on = tracing.Tracing.from_settings(
        Settings(service_name="registry", otlp_endpoint="http://127.0.0.1:4317")
    )
    try:
        assert on.enabled
        assert on.server_interceptor() is not None
        assert AsyncPGInstrumentor().is_instrumented_by_opentelemetry
    finally:
        await on.shutdown(timeout_s=1.0)  # no span was made: nothing to send
    assert not AsyncPGInstrumentor().is_instrumented_by_opentelemetry


def test_a_statement_with_no_span_around_it_starts_no_trace() -> None:
    sampler = tracing.NoLoneStatements(1.0)
    lone = sampler.should_sample(None, 1, "SELECT", SpanKind.CLIENT, STATEMENT)
    assert lone.decision is Decision.DROP
    root = sampler.should_sample(None, 1, "/linli.v1.RegistryService/GetMember", SpanKind.SERVER)
    assert root.decision is Decision.RECORD_AND_SAMPLE
    provider, _ = traced()
    with provider.get_tracer("t").start_as_current_span("call"):
        inside = sampler.should_sample(None, 1, "SELECT", SpanKind.CLIENT, STATEMENT)
    assert inside.decision is Decision.RECORD_AND_SAMPLE


def test_statements_are_recorded_only_under_a_span() -> None:
    provider, exporter = traced()
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes=STATEMENT):
        pass
    with (
        tracer.start_as_current_span("call"),
        tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes=STATEMENT),
    ):
        pass
    names = [(s.name, s.parent is not None) for s in exporter.get_finished_spans()]
    assert names == [("SELECT", True), ("call", False)]


def test_an_outbox_row_keeps_the_current_trace_context() -> None:
    provider, _ = traced()
    with provider.get_tracer("t").start_as_current_span("call") as span:
        traceparent, tracestate = tracing.current_trace_context()
    ctx = span.get_span_context()
    assert traceparent is not None
    assert traceparent.split("-")[1:3] == [
        format_trace_id(ctx.trace_id),
        format_span_id(ctx.span_id),
    ]
    assert tracestate is None
    assert tracing.current_trace_context() == (None, None)  # outside any span


def test_a_tracestate_too_long_to_carry_is_dropped_and_the_traceparent_kept() -> None:
    long_state = ",".join(f"k{i}=" + "v" * 60 for i in range(20))
    parent = tracing.context_of(
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", long_state
    )
    with trace.use_span(trace.get_current_span(parent)):
        traceparent, tracestate = tracing.current_trace_context()
    assert traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert tracestate is None


def test_message_headers_carry_the_context_to_the_consumer() -> None:
    provider, _ = traced()
    with provider.get_tracer("t").start_as_current_span("send") as send:
        headers = {"Nats-Msg-Id": "e1", **tracing.headers_of()}
    found = trace.get_current_span(tracing.context_from_headers(headers)).get_span_context()
    assert found.is_remote
    assert (found.trace_id, found.span_id) == (
        send.get_span_context().trace_id,
        send.get_span_context().span_id,
    )


def test_a_message_without_or_with_a_broken_traceparent_starts_afresh() -> None:
    for headers in (None, {}, {"traceparent": "not-a-trace"}, {"Nats-Msg-Id": "e1"}):
        found = trace.get_current_span(tracing.context_from_headers(headers)).get_span_context()
        assert not found.is_valid


def test_an_untraced_process_passes_the_trace_context_on() -> None:
    # The relay and the consumers of a process with tracing off still hand on what they got.
    off = tracing.Tracing()
    given = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with off.tracer.start_as_current_span("send", context=tracing.context_of(given, None)):
        assert tracing.headers_of()["traceparent"] == given
        assert tracing.current_trace_context() == (given, None)
