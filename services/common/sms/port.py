"""The SMS port: a template and its parameters to one phone, and the errors a send can end in.

Chinese SMS providers send only templates approved beforehand (a signature such as 【邻里】 and a
template id), filled with parameters; free text is refused. So Linli names its templates here,
once, and each deployment maps them to the ids its provider approved (`docs/sms.md`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from services.common.errors import (
    DomainError,
    FieldViolation,
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
)

SMS_RATE_LIMITED = "SMS_RATE_LIMITED"
SMS_UNAVAILABLE = "SMS_UNAVAILABLE"


@dataclass(frozen=True)
class Template:
    """One message Linli sends. `params` are in the order a positional template ({1}, {2}: Tencent
    Cloud) fills them; named templates (${code}: Alibaba Cloud) use the names. `secret` params
    (one-time codes) never reach a log line outside dev mode. `text` is the wording to submit for
    approval, with {name} where a parameter goes."""

    name: str
    params: tuple[str, ...]
    text: str
    secret: frozenset[str] = field(default_factory=frozenset)

    def check(self, params: Mapping[str, str]) -> None:
        """A template filled with other parameters than its own is a programming error."""
        if set(params) != set(self.params):
            raise ValueError(
                f"template {self.name} takes {sorted(self.params)}, got {sorted(params)}"
            )

    def render(self, params: Mapping[str, str], reveal: bool) -> str:
        shown = {k: (v if reveal or k not in self.secret else "******") for k, v in params.items()}
        return self.text.format(**shown)


PHONE_CHANGE_CODE = Template(
    "phone_change_code",
    ("code", "minutes"),
    "验证码 {code}，{minutes}分钟内有效，用于更换登记手机号。如非本人操作，请忽略。",
    frozenset({"code"}),
)
PHONE_TAKEN_NOTICE = Template(
    "phone_taken_notice",
    (),
    "有人申请将此号码登记为其手机号，但此号码已登记。如非本人操作，请忽略。",
)
SIGN_IN_CODE = Template(
    "sign_in_code",
    ("code", "minutes"),
    "验证码 {code}，{minutes}分钟内有效，用于登录邻里。请勿告诉他人。",
    frozenset({"code"}),
)
# The notifications service's messages to members, one per kind of inbox item: its title, then
# the item's words (`detail`, cut to what one parameter holds).
NOTICES = {
    kind: Template(f"notice_{kind}", ("detail",), f"{label}：{{detail}}")
    for kind, label in (
        ("proposed", "新的服务邀请"),
        ("reoffered", "空出的名额请您参加"),
        ("accepted", "报名成功"),
        ("task_changed", "服务有变动"),
        ("task_cancelled", "服务已取消"),
        ("reminder", "服务提醒"),
        ("please_confirm", "请确认能否参加"),
        ("hours_confirmed", "服务时长已确认"),
        ("points_earned", "获得积分"),
        ("certificate_expiring", "证书即将到期"),
        ("place_released_moved", "名额已释放"),
        ("digest", "消息汇总"),
    )
}
TEMPLATES = {
    t.name: t for t in (PHONE_CHANGE_CODE, PHONE_TAKEN_NOTICE, SIGN_IN_CODE, *NOTICES.values())
}


class SmsSender(Protocol):
    async def send(self, phone: str, template: Template, params: Mapping[str, str]) -> None:
        """Send `template` filled with `params` to `phone` (11 digits, or +country...), or raise
        an SmsError once the provider refused it or could not be reached after retries."""
        ...


class SmsError(Exception):
    """A message not sent. `code` is the provider's own code, kept for the operator's log."""

    def __init__(self, message: str, *, provider: str, code: str = "") -> None:
        super().__init__(message)
        self.provider = provider
        self.code = code


class SmsRateLimited(SmsError):
    """The provider refused: too many messages to this number (or from this account) for now."""


class SmsBadNumber(SmsError):
    """The provider refused the number itself: not a phone it can deliver to."""


class SmsTemplateRejected(SmsError):
    """The sign name or template is not approved, or its parameters do not fit it: the
    deployment's configuration must be mended; retrying cannot help."""


class SmsAuthFailed(SmsError):
    """The provider refused the credentials, the signature or the account (no balance, no
    permission): the deployment's configuration must be mended."""


class SmsUnavailable(SmsError):
    """The provider did not answer, or failed on its side, through every attempt."""


# Provider failures worth another attempt (their side, or a passing limit on calls per second).
RETRYABLE: tuple[type[SmsError], ...] = (SmsUnavailable,)


def masked(phone: str) -> str:
    """A phone for a log line: the last 4 digits only, enough to tell messages apart."""
    return "*" * max(0, len(phone) - 4) + phone[-4:] if len(phone) >= 8 else "****"


def told(error: SmsError, phone_field: str) -> DomainError:
    """What the caller who asked for a message is told: a number no message reaches is their
    input; a provider's limit is theirs to wait out; anything else is ours, for a while. The
    provider's code stays in our log, never in the answer."""
    if isinstance(error, SmsBadNumber):
        return InvalidArgument(
            FieldViolation(phone_field, "no text message can be delivered to this number")
        )
    if isinstance(error, SmsRateLimited):
        return ResourceExhausted(
            "too many text messages to this number for now", SMS_RATE_LIMITED, retry_after_s=60
        )
    return Unavailable("the text message could not be sent now", SMS_UNAVAILABLE, retry_after_s=30)
