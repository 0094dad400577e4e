"""How a deployment chooses and configures its SMS provider (LINLI_SMS__*; docs/sms.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

DEFAULT_ENDPOINTS = {
    "aliyun": "https://dysmsapi.aliyuncs.com",
    "tencent": "https://sms.tencentcloudapi.com",
}
DEFAULT_REGIONS = {"aliyun": "cn-hangzhou", "tencent": "ap-guangzhou"}


class SmsSettings(BaseModel):
    """`log` keeps messages in the process and logs them (development and tests); `aliyun` is
    Alibaba Cloud SMS (dysmsapi 2017-05-25), `tencent` is Tencent Cloud SMS (2021-01-11)."""

    provider: Literal["log", "aliyun", "tencent"] = "log"
    # Unset: the provider's public endpoint; set for a regional endpoint or a local test server.
    endpoint: str | None = None
    region: str | None = None
    # Alibaba Cloud: AccessKey ID and secret (a RAM user allowed only dysms:SendSms).
    # Tencent Cloud: SecretId and SecretKey (a CAM user allowed only sms:SendSms).
    access_key_id: str = ""
    access_key_secret: SecretStr = SecretStr("")
    # Tencent Cloud only: the SMS application (SdkAppId) the sign and templates belong to.
    sdk_app_id: str = ""
    # The approved signature, shown as 【邻里】 at the head of every message.
    sign_name: str = "邻里"
    # Linli's template names (services/common/sms/port.py) to the provider's approved ids.
    templates: dict[str, str] = Field(default_factory=dict)
    # Each attempt's limit; attempts on a timeout, a 5xx or a provider fault; the pause between
    # them doubles from backoff_s up to backoff_max_s, with jitter.
    timeout_s: float = Field(5.0, gt=0, le=60)
    attempts: int = Field(3, ge=1, le=10)
    backoff_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(4.0, ge=0)
    # Development only (the `log` provider in dev mode): each message is also appended to this
    # file as a JSON line, the phones of a local demo; log lines never hold a full number.
    dev_inbox: str | None = None

    def url(self) -> str:
        return (self.endpoint or DEFAULT_ENDPOINTS[self.provider]).rstrip("/")

    def region_id(self) -> str:
        return self.region or DEFAULT_REGIONS[self.provider]
