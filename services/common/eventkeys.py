"""The key ring that seals events on the stream: AES-256-GCM keys by id, read from the settings
(`LINLI_EVENT_KEYS`, `LINLI_EVENT_KEY_ID`). It imports nothing of the runtime, so that the
settings can check the keys when they are read."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

KEY_BYTES = 32


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


class KeySettings(Protocol):
    """The two settings the key ring is read from (every service's Settings has them)."""

    @property
    def event_keys(self) -> _Secret: ...
    @property
    def event_key_id(self) -> str: ...


class EventKeyError(ValueError):
    """The event key ring in the settings cannot be used."""


@dataclass(frozen=True)
class KeyRing:
    """AES-256-GCM keys by id: every id still on the stream opens; `write_key_id` seals."""

    keys: Mapping[str, bytes] = field(repr=False)
    write_key_id: str

    def __post_init__(self) -> None:
        if self.write_key_id not in self.keys:
            raise EventKeyError(f"event key id {self.write_key_id!r} is not in the key ring")
        for kid, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise EventKeyError(f"event key {kid!r} must be {KEY_BYTES} bytes")

    @classmethod
    def parse(cls, spec: str, write_key_id: str) -> KeyRing:
        """Read `kid:base64key,kid:base64key` (whitespace around items is ignored)."""
        keys: dict[str, bytes] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            kid, sep, encoded = item.partition(":")
            kid = kid.strip()
            if not sep or not kid:
                raise EventKeyError("event keys are written kid:base64key, separated by commas")
            if kid in keys:
                raise EventKeyError(f"event key id {kid!r} appears twice")
            try:
                keys[kid] = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise EventKeyError(f"event key {kid!r} is not base64") from None
        return cls(keys, write_key_id)

    @classmethod
    def from_settings(cls, settings: KeySettings) -> KeyRing:
        return cls.parse(settings.event_keys.get_secret_value(), settings.event_key_id)
