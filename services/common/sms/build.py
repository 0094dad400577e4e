"""The SMS adapter a deployment's settings choose, checked before the service starts."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from services.common.sms.aliyun import AliyunSms
from services.common.sms.config import SmsSettings
from services.common.sms.dev import LogSms
from services.common.sms.port import TEMPLATES, SmsSender, Template
from services.common.sms.tencent import TencentSms


class ClosableSms(SmsSender, Protocol):
    async def aclose(self) -> None: ...


class SmsConfigError(ValueError):
    """The settings cannot send what the service needs: refused at start, not at the first code."""


def problems(settings: SmsSettings, needs: Iterable[Template]) -> list[str]:
    if settings.provider == "log":
        return []
    found = []
    if not settings.access_key_id:
        found.append("LINLI_SMS__ACCESS_KEY_ID is empty")
    if not settings.access_key_secret.get_secret_value():
        found.append("LINLI_SMS__ACCESS_KEY_SECRET is empty")
    if not settings.sign_name:
        found.append("LINLI_SMS__SIGN_NAME is empty")
    if settings.provider == "tencent" and not settings.sdk_app_id:
        found.append("LINLI_SMS__SDK_APP_ID is empty (Tencent Cloud's SMS application)")
    missing = sorted(t.name for t in needs if not settings.templates.get(t.name))
    if missing:
        found.append(f"LINLI_SMS__TEMPLATES has no id for {', '.join(missing)}")
    unknown = sorted(set(settings.templates) - set(TEMPLATES))
    if unknown:
        found.append(
            f"LINLI_SMS__TEMPLATES names no template of Linli's: {', '.join(unknown)} "
            f"(they are {', '.join(sorted(TEMPLATES))})"
        )
    if not settings.url().startswith("https://") and not settings.url().startswith(
        ("http://127.0.0.1", "http://localhost", "http://[::1]")
    ):
        found.append("LINLI_SMS__ENDPOINT must be https (plain http only to this machine)")
    return found


def build_sms(settings: SmsSettings, *, dev_mode: bool, needs: Iterable[Template]) -> ClosableSms:
    """The adapter of `settings.provider`, sure to hold an id for every template in `needs`."""
    found = problems(settings, needs)
    if found:
        raise SmsConfigError(f"SMS provider {settings.provider}: " + "; ".join(found))
    if settings.provider == "aliyun":
        return AliyunSms(settings)
    if settings.provider == "tencent":
        return TencentSms(settings)
    inbox = Path(settings.dev_inbox) if settings.dev_inbox and dev_mode else None
    return LogSms(reveal=dev_mode, sign_name=settings.sign_name, inbox=inbox)
