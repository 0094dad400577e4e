"""Text messages to phones: the port the identity service sends sign-in codes through.

Production plugs in an SMS gateway; development and tests use `DevSms`, which writes the message
to the log (dev mode only: the code is readable there) and keeps it where a test can read it.
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


class DevSms:
    """Keeps every message instead of sending it, and logs it when `show` (dev mode only)."""

    def __init__(self, show: bool = False, keep: int = 1000) -> None:
        self.sent: list[Sms] = []
        self._show = show
        self._keep = keep

    async def send(self, phone: str, text: str) -> None:
        if self._show:
            log.warning("dev sms to %s: %s", phone, text)
        else:
            log.info("sms kept for development (%d characters)", len(text))
        self.sent.append(Sms(phone, text))
        del self.sent[: -self._keep]

    def last_to(self, phone: str) -> Sms | None:
        return next((m for m in reversed(self.sent) if m.phone == phone), None)
