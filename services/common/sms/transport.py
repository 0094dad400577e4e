"""What the provider adapters share: one HTTP client with timeouts, attempts with backoff on
timeouts, 5xx and provider faults, and a provider's error codes to the errors of the port."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from services.common.sms.config import SmsSettings
from services.common.sms.port import (
    RETRYABLE,
    SmsError,
    SmsTemplateRejected,
    SmsUnavailable,
    Template,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
# A provider's code (or the start of one) and the error it becomes; the first match wins.
CodeTable = tuple[tuple[str, type[SmsError]], ...]


# A provider's message may quote the number it refused: no run of digits that long leaves here.
_NUMBERS = re.compile(r"\+?\d{7,}")


def classify(provider: str, code: str, message: str, table: CodeTable) -> SmsError:
    message = _NUMBERS.sub("***", message)[:200]
    for prefix, kind in table:
        if code == prefix or (prefix.endswith(".") and code.startswith(prefix)):
            return kind(f"{provider}: {code}: {message}", provider=provider, code=code)
    return SmsError(f"{provider}: {code}: {message}", provider=provider, code=code)


class Transport:
    """Sends one message through the attempts the settings allow. The request is built (and so
    signed, with a fresh nonce and time) again for every attempt."""

    def __init__(self, settings: SmsSettings, provider: str) -> None:
        self.settings = settings
        self.provider = provider
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        # Made on first use, inside the running loop, and closed with the service.
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.settings.timeout_s), follow_redirects=False
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _pause(self, attempt: int) -> float:
        top = min(self.settings.backoff_max_s, self.settings.backoff_s * 2 ** (attempt - 1))
        return random.uniform(top / 2, top)  # jitter, not a secret

    async def run(self, attempt: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
        last: SmsError | None = None
        for n in range(1, self.settings.attempts + 1):
            try:
                return await attempt(self.client())
            except httpx.TimeoutException:
                last = SmsUnavailable(
                    f"{self.provider}: no answer within {self.settings.timeout_s}s",
                    provider=self.provider,
                    code="timeout",
                )
            except httpx.TransportError as e:
                last = SmsUnavailable(
                    f"{self.provider}: unreachable ({type(e).__name__})",
                    provider=self.provider,
                    code="unreachable",
                )
            except RETRYABLE as e:
                last = e
            if n < self.settings.attempts:
                log.warning("sms attempt %d of %d failed: %s", n, self.settings.attempts, last.code)
                await asyncio.sleep(self._pause(n))
        assert last is not None
        raise last


def template_id(settings: SmsSettings, template: Template, provider: str) -> str:
    """The provider's id of `template`; a service sending one it did not declare at start is
    told so plainly (build_sms checks the ones it declared)."""
    found = settings.templates.get(template.name)
    if not found:
        raise SmsTemplateRejected(
            f"{provider}: LINLI_SMS__TEMPLATES has no id for {template.name}",
            provider=provider,
            code="template id not configured",
        )
    return found


def server_fault(provider: str, response: httpx.Response) -> SmsUnavailable | None:
    """A 5xx: the provider's side failed, and another attempt may succeed."""
    if response.status_code >= 500:
        return SmsUnavailable(
            f"{provider}: HTTP {response.status_code}",
            provider=provider,
            code=f"http {response.status_code}",
        )
    return None


def json_body(provider: str, response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SmsError(
            f"{provider}: HTTP {response.status_code} with no JSON answer",
            provider=provider,
            code=f"http {response.status_code}",
        )
    return body
