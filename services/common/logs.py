"""One log format for every service: JSON lines through structlog (or console lines for people in
dev mode), each with time, level, service, request id, trace and principal, and redacted.

Every record goes through here, whether written with structlog or the standard `logging` module.
A record is one line whatever it quotes; a phone number, a bearer token or an exact place in it
is masked before it is written (redaction.py says how).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal, TextIO

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

from services.common.redaction import redact_event

Format = Literal["json", "console"]


def bind(**values: Any) -> None:
    """Fields for every line logged from here on in this task (a call, a loop): request id,
    principal, service."""
    structlog.contextvars.bind_contextvars(**values)


def _add_trace(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    """The trace and span of the current OpenTelemetry span, when one is recording."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


FIRST = ("time", "level", "service", "event", "request_id", "principal", "trace_id", "span_id")


def _first_things_first(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    """The fields a reader looks for first, in the same place on every line."""
    return {
        **{key: event[key] for key in FIRST if key in event},
        **{key: value for key, value in event.items() if key not in FIRST},
    }


def _one_line(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    """Console lines: a value from a caller cannot start a line of its own (a forged record)."""
    for key, value in event.items():
        if isinstance(value, str) and key != "exception":
            event[key] = value.replace("\n", "\\n").replace("\r", "\\r")
    return event


def _chain(service: str, *, foreign: bool) -> list[Processor]:
    """What every record goes through: `foreign` for records of the standard library, whose
    message is formatted already and whose `extra=` fields become fields of the line."""

    def add_service(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
        event.setdefault("service", service)
        return event

    own: list[Processor] = [
        structlog.stdlib.filter_by_level,
        structlog.stdlib.PositionalArgumentsFormatter(),
    ]
    return [
        structlog.contextvars.merge_contextvars,
        *([structlog.stdlib.ExtraAdder()] if foreign else own),
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
        add_service,
        _add_trace,
        structlog.processors.StackInfoRenderer(),
        # Tracebacks become text here, so that what they quote is redacted with the rest.
        structlog.processors.format_exc_info,
        redact_event,
    ]


def formatter(service: str = "linli", fmt: Format = "json") -> logging.Formatter:
    """The formatter that turns any `logging` record into one redacted line."""
    renderer: Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False, sort_keys=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False, timestamp_key="time")
    )
    last: list[Processor] = [_first_things_first] if fmt == "json" else [_one_line]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_chain(service, foreign=True),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *last, renderer],
    )


def setup_logging(
    level: str = "INFO",
    *,
    service: str = "linli",
    fmt: Format = "json",
    stream: TextIO | None = None,
) -> logging.Handler:
    """Route every record (structlog's and the standard library's) to one handler on the root
    logger, formatted as `fmt`; returns that handler."""
    structlog.configure(
        processors=[
            *_chain(service, foreign=False),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(service, fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # nats-py logs every reconnect attempt at ERROR; our callbacks say it once, at WARNING.
    logging.getLogger("nats.aio.client").setLevel(logging.CRITICAL)
    return handler
