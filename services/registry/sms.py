"""Text messages to phones: the port the registry sends one-time codes and notices through.

Production plugs in an SMS gateway; development and tests use `OutboxSms`, which only logs that a
message went out and keeps it in memory where a test can read it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


class SmsSender(Protocol):
    async def send(self, phone: str, text: str) -> None: ...


@dataclass(frozen=True)
class Sms:
    phone: str
    text: str


class OutboxSms:
    """Keeps every message instead of sending it (development and tests only)."""

    def __init__(self, keep: int = 1000) -> None:
        self.sent: list[Sms] = []
        self._keep = keep

    async def send(self, phone: str, text: str) -> None:
        # The log names neither the number nor the text: codes and numbers stay out of logs.
        log.info("sms kept for development (%d characters)", len(text))
        self.sent.append(Sms(phone, text))
        del self.sent[: -self._keep]

    def last_to(self, phone: str) -> Sms | None:
        return next((m for m in reversed(self.sent) if m.phone == phone), None)
