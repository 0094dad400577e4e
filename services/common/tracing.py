"""OpenTelemetry traces for one service process: the tracer provider from the settings (OTLP when
an endpoint is set, nothing otherwise), gRPC and asyncpg spans, and the W3C trace context that an
event carries from the outbox row through NATS headers into its consumers (docs/operations.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc
from grpc import aio
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

from services.common.settings import Settings

log = logging.getLogger(__name__)

# The instrumentation scope of our own spans (the relay's and the consumers').
SCOPE = "linli"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
# W3C asks every hop to pass on at least 512 characters of tracestate; a longer one (a caller's
# own) is dropped rather than stored with every outbox row and sent with every message.
MAX_TRACESTATE = 512

# Only W3C trace context travels with an event: baggage may hold anything a caller put there.
_W3C = TraceContextTextMapPropagator()


class NoLoneStatements(Sampler):
    """Samples like `ParentBased(TraceIdRatioBased(ratio))`, except that a database statement
    with no span around it starts no trace: the relay's polls, the consumers' probes and the
    health loop's `SELECT 1` would otherwise be a trace each, every second."""

    def __init__(self, ratio: float) -> None:
        self._ratio = ratio
        self._inner = ParentBased(TraceIdRatioBased(ratio))

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if not parent.is_valid and attributes and _is_statement(attributes):
            return SamplingResult(Decision.DROP)
        return self._inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"NoLoneStatements{{{self._ratio}}}"


def _is_statement(attributes: Mapping[str, Any]) -> bool:
    return "db.system" in attributes or "db.system.name" in attributes


class Tracing:
    """A process's tracer provider and what is built from it.

    Off (no endpoint, no provider given) it is OpenTelemetry's no-op provider: no server
    interceptor, no database instrumentation, no exporter; spans started by the relay and the
    consumers are non-recording and only pass the caller's trace context on, if any.
    """

    def __init__(
        self,
        provider: trace.TracerProvider | None = None,
        *,
        instrument_database: bool = True,
    ) -> None:
        self.provider: trace.TracerProvider = provider or trace.NoOpTracerProvider()
        self.enabled = provider is not None
        self.tracer = self.provider.get_tracer(SCOPE)
        self._owns_database = False
        if self.enabled and instrument_database:
            # asyncpg is instrumented once per process (its classes are patched): the first
            # traced runtime of a process does it, and undoes it when it shuts down.
            instrumentor = AsyncPGInstrumentor()
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument(tracer_provider=self.provider)
                self._owns_database = True

    @classmethod
    def from_settings(cls, settings: Settings, *, instrument_database: bool = True) -> Tracing:
        """Exporting by OTLP/gRPC to `otlp_endpoint` when it is set; off otherwise."""
        if not settings.otlp_endpoint:
            return cls()
        # Imported only when used: the exporter brings its own gRPC channel and threads.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint)
        return cls(
            provider(settings, BatchSpanProcessor(exporter)),
            instrument_database=instrument_database,
        )

    def server_interceptor(self, skip: tuple[str, ...] = ()) -> aio.ServerInterceptor | None:
        """A server span around every call but those whose method starts with one of `skip`
        (health and reflection); None when off, so that an untraced server pays nothing."""
        if not self.enabled:
            return None

        def traced(details: grpc.HandlerCallDetails) -> bool:
            return not str(details.method).startswith(skip)  # type: ignore[attr-defined]

        interceptor: aio.ServerInterceptor = aio_server_interceptor(
            tracer_provider=self.provider, filter_=traced
        )
        return interceptor

    async def shutdown(self, timeout_s: float = 5.0) -> None:
        """Export what is still buffered (within `timeout_s`) and stop."""
        if self._owns_database:
            AsyncPGInstrumentor().uninstrument()
            self._owns_database = False
        shutdown: Callable[[], object] | None = getattr(self.provider, "shutdown", None)
        if shutdown is None:
            return
        # The SDK flushes by blocking while it exports: not on the event loop, and in a daemon
        # thread, so that a collector that does not answer never holds the process's exit.
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle() -> None:
            if not done.done():
                done.set_result(None)

        def flush() -> None:
            try:
                shutdown()
            finally:
                with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                    loop.call_soon_threadsafe(settle)

        threading.Thread(target=flush, name="trace flush", daemon=True).start()
        try:
            async with asyncio.timeout(timeout_s):
                await done
        except TimeoutError:
            log.warning("traces not flushed within %.0fs; the rest are dropped", timeout_s)


def provider(settings: Settings, *processors: SpanProcessor) -> TracerProvider:
    """An SDK tracer provider naming the service, sampling by the settings, with `processors`."""
    resource = Resource.create(
        {"service.name": settings.service_name, "service.namespace": "linli"}
    )
    made = TracerProvider(resource=resource, sampler=NoLoneStatements(settings.trace_sample_ratio))
    for processor in processors:
        made.add_span_processor(processor)
    return made


def client_interceptors(
    tracer_provider: trace.TracerProvider | None = None,
) -> list[aio.ClientInterceptor]:
    """Client spans for a caller's channels, which also send the caller's trace context on; under
    OpenTelemetry's global provider unless one is given (the global one records nothing unless
    the process set one up, and then the interceptors cost next to nothing)."""
    return list(aio_client_interceptors(tracer_provider=tracer_provider))


# -- the trace context of an event ----------------------------------------------------------------


def current_trace_context() -> tuple[str | None, str | None]:
    """The current span's W3C `traceparent` and `tracestate`, to store with an outbox row."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    state = carrier.get(TRACESTATE) or None
    if state is not None and len(state) > MAX_TRACESTATE:
        state = None
    return carrier.get(TRACEPARENT), state


def context_of(traceparent: str | None, tracestate: str | None) -> Context:
    """A context whose remote parent is the given trace context (an empty one when none)."""
    carrier = {}
    if traceparent:
        carrier[TRACEPARENT] = traceparent
        if tracestate:
            carrier[TRACESTATE] = tracestate
    return _W3C.extract(carrier, context=Context())


def messaging(subject: str, message_id: str, operation: str, **more: str) -> dict[str, str]:
    """The attributes of a span that sends or processes one event (OpenTelemetry's messaging
    conventions): the subject and the event id, never anything of the payload."""
    return {
        "messaging.system": "nats",
        "messaging.destination.name": subject,
        "messaging.message.id": message_id,
        "messaging.operation.type": operation,
        **more,
    }


def headers_of(ctx: Context | None = None) -> dict[str, str]:
    """The W3C headers of `ctx` (the current context by default), for a NATS message."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=ctx)
    return carrier


def context_from_headers(headers: Mapping[str, str] | None) -> Context:
    """The context a message's headers carry (an empty one when they carry none)."""
    wanted = (TRACEPARENT, TRACESTATE)
    found = {k.lower(): v for k, v in (headers or {}).items() if k.lower() in wanted}
    return _W3C.extract(found, context=Context())
