"""What no log line may hold, masked before it is written: mobile numbers (kept as 138****5678),
bearer tokens and JWTs (dropped), secrets and addresses by field name (dropped), and places finer
than three decimals of a degree (rounded: about 100 m, no single home)."""

from __future__ import annotations

import re
from typing import Any

from structlog.typing import EventDict, WrappedLogger

# A mainland mobile number, alone or with +86 / 86, not inside a longer token (an id, a hash).
PHONE = re.compile(
    r"(?<![0-9A-Za-z])(?:\+?86[ -]?)?(1[3-9][0-9])([0-9]{4})([0-9]{4})(?![0-9A-Za-z])"
)
# A JWT (header.payload.signature; a JSON header starts `eyJ` in base64url), or any part of one
# (a quoted value cut short).
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){0,2}")
BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
# A coordinate-like number with more than three decimals (1 to 3 digits before the point, not 0):
# rounded to three. Smaller figures (a gap of 0.0125, a share) are not places and stay.
EXACT = re.compile(r"(?<![\w.])-?[1-9][0-9]{0,2}\.[0-9]{4,}(?![\w.])")
# Fields whose value is a secret whatever it looks like.
SECRET_KEYS = frozenset(
    {
        "access_token",
        "address",
        "authorization",
        "client_secret",
        "id_token",
        "otp",
        "password",
        "refresh_token",
        "secret",
        "token",
        "totp",
    }
)
COORDINATE_KEYS = frozenset({"lat", "lng", "lon", "latitude", "longitude"})
# Fields that hold a phone number of any shape (a landline too): only the last four digits stay.
PHONE_KEYS = frozenset({"mobile", "phone", "phone_number"})
DROPPED = "[redacted]"


def redact_text(text: str) -> str:
    """The text with tokens dropped, mobile numbers masked and exact places rounded."""
    text = BEARER.sub(r"\1 " + DROPPED, text)
    text = JWT.sub(DROPPED, text)
    text = PHONE.sub(lambda m: f"{m[1]}****{m[3]}", text)
    return EXACT.sub(lambda m: f"{float(m[0]):.3f}", text)


def redact_value(value: Any, key: str = "") -> Any:
    """A field's value as it may be logged (nested dicts, lists and tuples too)."""
    if key.lower() in SECRET_KEYS:
        return DROPPED
    if key.lower() in PHONE_KEYS and isinstance(value, (str, int)):
        digits = [c for c in str(value) if c.isdigit()]
        return "*" * max(len(digits) - 4, 0) + "".join(digits[-4:])
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        # The rule of the text, for a number outside it: a coordinate field always.
        exact = key.lower() in COORDINATE_KEYS or 1 <= abs(value) < 1000
        return round(value, 3) if exact else value
    if isinstance(value, int):
        return redact_text(str(value)) if PHONE.fullmatch(str(value)) else value
    if isinstance(value, dict):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    if value is None:
        return None
    # Anything else would be written as its text: redacted as that text.
    return redact_text(str(value))


def redact_event(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    """structlog processor: every field of the line redacted."""
    return {key: redact_value(value, key) for key, value in event.items()}
