"""One-time sign-in codes for members' phones, and the phone numbers they go to. A code is kept
only as its hash, is short-lived and is spent by its first right use."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from services.common.checks import Violations

CODE_DIGITS = 6
CODE_RE = re.compile(r"[0-9]{6}")
PHONE_RE = re.compile(r"1[3-9][0-9]{9}")


@dataclass(frozen=True)
class PhoneCode:
    phone: str
    code_hash: bytes
    expires_at: datetime

    def matches(self, code: str, now: datetime) -> bool:
        return now < self.expires_at and hmac.compare_digest(self.code_hash, hash_secret(code))


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_secret(value: str) -> bytes:
    """Codes and refresh tokens are kept as their SHA-256: a leaked table signs nobody in."""
    return hashlib.sha256(value.encode()).digest()


def check_phone(v: Violations, field_name: str, value: str) -> str:
    """The member's phone in the registry's spelling (11 digits; +86, spaces and dashes off)."""
    value = value.strip().replace(" ", "").replace("-", "")
    if value.startswith("+86"):
        value = value[3:]
    if not PHONE_RE.fullmatch(value):
        v.add(field_name, "must be a mainland mobile number: 11 digits starting with 13-19")
    return value


def check_code(v: Violations, field_name: str, value: str) -> str:
    if not CODE_RE.fullmatch(value):
        v.add(field_name, f"must be {CODE_DIGITS} digits")
    return value
