"""The SMS adapter for development and tests: nothing leaves the process; each message is kept in
memory (where a test reads it) and logged, with the code readable only in dev mode."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.common.sms.port import Template, masked

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sms:
    phone: str
    template: Template
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.template.render(self.params, reveal=True)


class LogSms:
    """Keeps the last `keep` messages. `reveal` (dev mode) logs the number and the filled text, so
    a developer signs in with the code from the log; otherwise the number is masked and codes are
    left out, as with a real provider."""

    provider = "log"

    def __init__(
        self,
        *,
        reveal: bool = False,
        sign_name: str = "邻里",
        keep: int = 1000,
        inbox: Path | None = None,
    ) -> None:
        self.sent: list[Sms] = []
        self.reveal = reveal
        self.sign_name = sign_name
        self._keep = keep
        # Dev mode only (build_sms sees to it): the messages as JSON lines, for a local demo.
        self._inbox = inbox if reveal else None

    async def send(self, phone: str, template: Template, params: Mapping[str, str]) -> None:
        template.check(params)
        self.sent.append(Sms(phone, template, dict(params)))
        del self.sent[: -self._keep]
        if self._inbox is not None:
            line = {"phone": phone, "template": template.name, "params": dict(params)}
            with self._inbox.open("a", encoding="utf-8") as f:
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
        log.info(
            "sms %s to %s (not sent: development): 【%s】%s",
            template.name,
            phone if self.reveal else masked(phone),
            self.sign_name,
            template.render(params, reveal=self.reveal),
        )

    async def aclose(self) -> None:
        return None

    def last_to(self, phone: str) -> Sms | None:
        return next((m for m in reversed(self.sent) if m.phone == phone), None)
