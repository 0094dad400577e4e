"""The log lines: JSON with the fields operators search by, and nothing a line may not hold."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace

from services.common import logs
from services.common.redaction import redact_text, redact_value

JWT = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJtMSIsInJvbGUiOiJtZW1iZXIifQ.c2lnbmF0dXJl"


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """Every record of the test as JSON lines; the root logger restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    logs.setup_logging("INFO", service="tasks", stream=out)
    try:
        yield out
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        structlog.contextvars.clear_contextvars()


def records(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_standard_library_record_comes_out_as_one_json_line_with_time_level_and_service(
    lines: io.StringIO,
) -> None:
    logging.getLogger("services.tasks.service").info("%d places", 3)
    [line] = records(lines)
    assert line["event"] == "3 places"
    assert line["level"] == "info"
    assert line["service"] == "tasks"
    assert line["logger"] == "services.tasks.service"
    assert str(line["time"]).endswith("Z")  # ISO 8601, UTC


def test_a_calls_request_id_and_principal_are_on_every_line_of_the_call(
    lines: io.StringIO,
) -> None:
    async def call(request_id: str) -> None:
        logs.bind(request_id=request_id, principal="member:m-1")
        logging.getLogger("x").info("inside")

    async def both() -> None:
        await asyncio.gather(call("r-1"), call("r-2"))  # each call a task, as gRPC runs them

    asyncio.run(both())
    logging.getLogger("x").info("outside")
    inside = [r for r in records(lines) if r["event"] == "inside"]
    assert sorted(str(r["request_id"]) for r in inside) == ["r-1", "r-2"]
    assert all(r["principal"] == "member:m-1" for r in inside)
    [outside] = [r for r in records(lines) if r["event"] == "outside"]
    assert "request_id" not in outside


def test_the_trace_and_span_of_the_current_span_are_on_the_line(lines: io.StringIO) -> None:
    context = trace.SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=False,
        trace_flags=trace.TraceFlags(1),
    )
    with trace.use_span(trace.NonRecordingSpan(context)):
        logging.getLogger("x").info("traced")
    logging.getLogger("x").info("untraced")
    traced, untraced = records(lines)
    assert traced["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert traced["span_id"] == "00f067aa0ba902b7"
    assert "trace_id" not in untraced


def test_phones_tokens_and_exact_places_never_reach_a_line(lines: io.StringIO) -> None:
    log = logging.getLogger("x")
    log.info("member 13812345678 at (36.951234, 117.123456) with Bearer %s", JWT)
    log.info(
        "call", extra={"token": "opaque-refresh-token", "lat": 36.951234, "phone": 8613912345678}
    )
    try:
        raise ValueError("duplicate key (phone)=(+86 13712345678)")
    except ValueError:
        log.exception("failed")
    structlog.get_logger("native").warning(
        "native",
        password="hunter2",
        home=[36.95123, 117.1],
        address="清华园3号院2单元401",
        phone="0531-88776655",
    )
    text = lines.getvalue()
    for secret in ("13812345678", "13912345678", "13712345678", JWT, "opaque-refresh-token"):
        assert secret not in text
    assert "hunter2" not in text and "清华园" not in text and "88776655" not in text
    assert records(lines)[-1]["phone"] == "********6655"
    assert "36.951234" not in text and "117.123456" not in text and "36.95123" not in text
    first = records(lines)[0]
    assert first["event"] == "member 138****5678 at (36.951, 117.123) with Bearer [redacted]"


def test_the_console_format_is_for_people_and_redacted_alike() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "call %s", ("13812345678",), None)
    line = logs.formatter("tasks", "console").format(record)
    assert "138****5678" in line and "13812345678" not in line
    assert "{" not in line  # not JSON


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("request 7f3a-13812345678b", "request 7f3a-13812345678b"),  # inside an id: not a phone
        ("duration_ms=12.5", "duration_ms=12.5"),
        ("gap 0.01234", "gap 0.01234"),  # not a place
        ("version 1.2.34567", "version 1.2.34567"),
        ("authorization: bearer abc.def", "authorization: bearer [redacted]"),
        ("136 1234 5678", "136 1234 5678"),  # spaced digits are left to the field rules
    ],
)
def test_redaction_leaves_what_is_not_personal(text: str, shown: str) -> None:
    assert redact_text(text) == shown


# Around the number: anything but digits (a digit beside it makes a longer number, not a phone).
@given(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.text(st.characters(exclude_categories=("Nd",)), max_size=20),
)
def test_no_mobile_number_survives_redaction_in_any_text(phone: str, around: str) -> None:
    text = f"{around} {phone} {around}"
    assert phone not in redact_text(text)
    assert phone not in str(redact_value({"nested": [text]}))
