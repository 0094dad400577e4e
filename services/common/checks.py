"""Checks a domain runs on what a caller sent: every bad field is collected and named, then
raised together as one InvalidArgument (google.rpc.BadRequest at the door). Shared by every
service, so that a name, a place or a request id is judged the same wherever it is sent."""

from __future__ import annotations

import math
import unicodedata
import uuid

from services.common.errors import FieldViolation, InvalidArgument, invalid
from services.common.settings import Bounds
from services.common.values import LatLng

NAME_MAX = 40
REQUEST_ID_MAX = 64
# Ids of the organisation (streets, communities, units) are short printable text.
ID_MAX = 64


class Violations:
    """Collects field violations; `raise_if_any` raises them together."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.items: list[FieldViolation] = []

    def add(self, field_name: str, why: str) -> None:
        self.items.append(FieldViolation(f"{self.prefix}{field_name}", why))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(self.items)


def clean_text(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


def check_name(v: Violations, field_name: str, value: str, max_len: int = NAME_MAX) -> str:
    value = clean_text(value)
    if not value:
        v.add(field_name, "must not be empty")
    elif len(value) > max_len:
        v.add(field_name, f"must be at most {max_len} characters (got {len(value)})")
    elif any(unicodedata.category(c).startswith("C") for c in value):
        v.add(field_name, "must not contain control characters")
    return value


def check_location(
    v: Violations, field_name: str, loc: LatLng | None, bounds: Bounds, required: bool = True
) -> None:
    if loc is None:
        if required:
            v.add(field_name, "is required")
        return
    if not (math.isfinite(loc.lat) and math.isfinite(loc.lng)):
        v.add(field_name, "must be finite numbers")
    elif not bounds.contains(loc.lat, loc.lng):
        v.add(
            field_name,
            f"({loc.lat:.5f}, {loc.lng:.5f}) lies outside the district "
            f"[{bounds.min_lat}, {bounds.max_lat}] x [{bounds.min_lng}, {bounds.max_lng}]",
        )


def check_request_id(v: Violations, request_id: str) -> str:
    request_id = request_id.strip()
    if not request_id:
        v.add("request_id", "is required: a client-chosen id that makes retries safe")
    elif len(request_id) > REQUEST_ID_MAX or not request_id.isprintable():
        v.add("request_id", f"must be 1 to {REQUEST_ID_MAX} printable characters")
    return request_id


def uuid_arg(value: str, field_name: str, not_one: str = "is not a valid id") -> str:
    """An id the services issue (a UUID) named in a request, in the one spelling records use
    (lower case, hyphens). Missing, or not an id, it is INVALID_ARGUMENT naming the field; the
    value is not echoed (it may be huge) and never reaches the database."""
    if not value:
        raise invalid(field_name, "is required")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise invalid(field_name, not_one) from None


def text_id_arg(value: str, field_name: str) -> str:
    """An organisation id named in a request (it may be empty: no filter). One that could not be
    an id is INVALID_ARGUMENT naming the field, and is never sent to the database."""
    if len(value) > ID_MAX or not value.isprintable():
        raise invalid(field_name, f"must be at most {ID_MAX} printable characters")
    return value
