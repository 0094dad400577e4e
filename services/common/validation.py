"""Checks every request passes before any handler sees it, whatever its type.

The server interceptor walks each decoded request by its descriptor and refuses, naming the field,
what no handler, PostgreSQL or datetime can take: control characters (PostgreSQL rejects NUL in
text), text beyond a generic length, timestamps and dates outside the years Linli works in, enum
numbers the schema does not define (proto3 keeps unknown numbers) and floats that are not finite.
Handlers still check what their domain means; this only keeps malformed values out of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from services.common.errors import FieldViolation, InvalidArgument, quote

# Text and bytes fields carry names, ids, addresses and notes: none needs more than this.
MAX_TEXT = 4096
# The few fields that carry a whole file, by full field name, with their own bound.
LARGE_FIELDS: dict[str, int] = {
    "linli.v1.ImportDistrictRequest.content": 8 << 20,
}
# A protobuf Timestamp spans the years 1 to 9999, but Python's datetime, PostgreSQL's ranges and
# the solver's arithmetic break long before. Linli's data lives well inside these years; anything
# outside is a mistake or an attack. [MIN_TIME, MAX_TIME), UTC.
MIN_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2200, 1, 1, tzinfo=UTC)
_MIN_SECONDS = int(MIN_TIME.timestamp())
_MAX_SECONDS = int(MAX_TIME.timestamp())
# No request needs more entries in one repeated field or map (a wish names at most 26 skills, a
# member 28 windows, a completion one outcome per place); a 4 MiB body can carry two million empty
# ones, which walking and converting would hold the event loop for minutes. The field is refused
# whole, unwalked.
MAX_REPEATED = 1000
# A walk stops after this many violations: the caller learns enough to fix the request, and a
# request of a million bad strings costs no more than one of twenty.
MAX_VIOLATIONS = 20

# C0 controls except tab, newline and carriage return; DEL; lone surrogates (which no valid UTF-8
# carries, but a Python caller in process might).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

_TIMESTAMP = "google.protobuf.Timestamp"
_DATE = "linli.v1.Date"
_FLOATS = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)


def check(message: Message, prefix: str = "") -> list[FieldViolation]:
    """Every violation in `message` (up to MAX_VIOLATIONS), each naming its field path."""
    found: list[FieldViolation] = []
    for violation in _walk(message, prefix):
        found.append(violation)
        if len(found) >= MAX_VIOLATIONS:
            break
    return found


def validate(message: Message, prefix: str = "") -> None:
    """Raise InvalidArgument naming every malformed field of `message`."""
    violations = check(message, prefix)
    if violations:
        raise InvalidArgument(violations)


def _walk(message: Message, prefix: str) -> Iterator[FieldViolation]:
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.is_repeated:
            if len(value) > MAX_REPEATED:
                yield FieldViolation(path, f"at most {MAX_REPEATED} entries (got {len(value)})")
            elif field.message_type is not None and field.message_type.GetOptions().map_entry:
                yield from _walk_map(field, value, path)
            else:
                for i, item in enumerate(value):
                    yield from _value(field, item, f"{path}[{i}]")
        else:
            yield from _value(field, value, path)


def _walk_map(field: FieldDescriptor, mapping: object, path: str) -> Iterator[FieldViolation]:
    entry = field.message_type
    assert entry is not None
    key_field = entry.fields_by_name["key"]
    value_field = entry.fields_by_name["value"]
    for key, item in mapping.items():  # type: ignore[attr-defined]
        at = f"{path}[{quote(key)}]"
        yield from _value(key_field, key, at)
        yield from _value(value_field, item, at)


def _value(field: FieldDescriptor, value: object, path: str) -> Iterator[FieldViolation]:
    kind = field.type
    if kind in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
        assert isinstance(value, Message) and field.message_type is not None
        name = field.message_type.full_name
        if name == _TIMESTAMP:
            yield from _timestamp(value, path)
        elif name == _DATE:
            yield from _date(value, path)
        else:
            yield from _walk(value, f"{path}.")
    elif kind == FieldDescriptor.TYPE_STRING:
        assert isinstance(value, str)
        yield from _text(field, len(value), path)
        if _FORBIDDEN.search(value):
            yield FieldViolation(path, "must not contain control characters")
    elif kind == FieldDescriptor.TYPE_BYTES:
        assert isinstance(value, bytes)
        yield from _text(field, len(value), path)
    elif kind == FieldDescriptor.TYPE_ENUM:
        enum = field.enum_type
        assert enum is not None and isinstance(value, int)
        if enum.values_by_number.get(value) is None:
            yield FieldViolation(path, f"is not a known {enum.name} value")
    elif kind in _FLOATS:
        assert isinstance(value, float)
        if not math.isfinite(value):
            yield FieldViolation(path, "must be a finite number")


def _text(field: FieldDescriptor, length: int, path: str) -> Iterator[FieldViolation]:
    limit = LARGE_FIELDS.get(field.full_name, MAX_TEXT)
    if length > limit:
        yield FieldViolation(path, f"must be at most {limit} characters (got {length})")


def _timestamp(value: Message, path: str) -> Iterator[FieldViolation]:
    seconds: int = value.seconds  # type: ignore[attr-defined]
    nanos: int = value.nanos  # type: ignore[attr-defined]
    if not 0 <= nanos <= 999_999_999:
        yield FieldViolation(path, "nanos must be 0 to 999999999")
    elif not _MIN_SECONDS <= seconds < _MAX_SECONDS:
        yield FieldViolation(path, _RANGE)


def _date(value: Message, path: str) -> Iterator[FieldViolation]:
    year: int = value.year  # type: ignore[attr-defined]
    month: int = value.month  # type: ignore[attr-defined]
    day: int = value.day  # type: ignore[attr-defined]
    if not MIN_TIME.year <= year < MAX_TIME.year:
        yield FieldViolation(path, _RANGE)
        return
    try:
        date(year, month, day)
    except ValueError:
        yield FieldViolation(path, "is not a calendar date")


_RANGE = f"must lie between {MIN_TIME.date()} and {MAX_TIME.date()} (UTC)"
