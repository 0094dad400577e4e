"""Tencent Cloud SMS (SendSms, version 2021-01-11), signed with TC3-HMAC-SHA256: a canonical
request hashed into a string to sign, and a key derived from the secret, the date and `sms`."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from services.common.sms.config import SmsSettings
from services.common.sms.port import (
    SmsAuthFailed,
    SmsBadNumber,
    SmsError,
    SmsRateLimited,
    SmsTemplateRejected,
    SmsUnavailable,
    Template,
    masked,
)
from services.common.sms.transport import (
    CodeTable,
    Transport,
    classify,
    json_body,
    server_fault,
    template_id,
)

log = logging.getLogger(__name__)

ALGORITHM = "TC3-HMAC-SHA256"
SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"

# Error codes of the whole call (Response.Error.Code) and of one number (SendStatusSet[].Code).
CODES: CodeTable = (
    ("LimitExceeded.PhoneNumber", SmsRateLimited),
    ("LimitExceeded.PhoneNumberCountLimit", SmsRateLimited),
    ("LimitExceeded.PhoneNumberDailyLimit", SmsRateLimited),
    ("LimitExceeded.PhoneNumberOneHourLimit", SmsRateLimited),
    ("LimitExceeded.PhoneNumberSameContentDailyLimit", SmsRateLimited),
    ("LimitExceeded.PhoneNumberThirtySecondLimit", SmsRateLimited),
    ("LimitExceeded.DailyLimit", SmsRateLimited),
    ("LimitExceeded.DeliveryFrequencyLimit", SmsRateLimited),
    ("InvalidParameterValue.IncorrectPhoneNumber", SmsBadNumber),
    ("FailedOperation.PhoneNumberInBlacklist", SmsBadNumber),
    ("FailedOperation.PhoneNumberParseFail", SmsBadNumber),
    ("UnsupportedOperation.UnsupportedRegion", SmsBadNumber),
    ("FailedOperation.TemplateIncorrectOrUnapproved", SmsTemplateRejected),
    ("FailedOperation.SignatureIncorrectOrUnapproved", SmsTemplateRejected),
    ("FailedOperation.MissingTemplateToModify", SmsTemplateRejected),
    ("FailedOperation.MissingSignature", SmsTemplateRejected),
    ("FailedOperation.TemplateParamSetNotMatchApprovedTemplate", SmsTemplateRejected),
    ("InvalidParameterValue.TemplateParameterFormatError", SmsTemplateRejected),
    ("InvalidParameterValue.TemplateParameterLengthLimit", SmsTemplateRejected),
    ("InvalidParameterValue.ProhibitedUseUrlInTemplateParameter", SmsTemplateRejected),
    ("FailedOperation.InsufficientBalanceInSmsPackage", SmsAuthFailed),
    ("InvalidParameterValue.SdkAppIdNotExist", SmsAuthFailed),
    ("AuthFailure.", SmsAuthFailed),
    ("UnauthorizedOperation.", SmsAuthFailed),
    ("InternalError.", SmsUnavailable),
    ("InternalError", SmsUnavailable),
    ("RequestLimitExceeded", SmsUnavailable),
)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signature(
    secret_key: str,
    timestamp: int,
    payload: bytes,
    headers: Mapping[str, str],
    service: str = SERVICE,
) -> tuple[str, str, str]:
    """(CredentialScope, SignedHeaders, Signature) of a POST to / with these signed headers."""
    names = sorted(k.lower() for k in headers)
    values = {k.lower(): v.strip().lower() for k, v in headers.items()}
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            "".join(f"{n}:{values[n]}\n" for n in names),
            ";".join(names),
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join(
        [ALGORITHM, str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    return scope, ";".join(names), hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def e164(phone: str) -> str:
    """Tencent Cloud wants +country: a mainland number of 11 digits is +86."""
    return phone if phone.startswith("+") else f"+86{phone}"


class TencentSms:
    provider = "tencent"

    def __init__(self, settings: SmsSettings) -> None:
        self.settings = settings
        self.transport = Transport(settings, self.provider)
        self.host = urlsplit(settings.url()).netloc

    async def aclose(self) -> None:
        await self.transport.aclose()

    def _request(self, payload: bytes) -> httpx.Request:
        now = int(time.time())
        signed = {"content-type": CONTENT_TYPE, "host": self.host}
        scope, names, mac = signature(
            self.settings.access_key_secret.get_secret_value(), now, payload, signed
        )
        authorization = (
            f"{ALGORITHM} Credential={self.settings.access_key_id}/{scope}, "
            f"SignedHeaders={names}, Signature={mac}"
        )
        return httpx.Request(
            "POST",
            f"{self.settings.url()}/",
            content=payload,
            headers={
                **signed,
                "authorization": authorization,
                "x-tc-action": ACTION,
                "x-tc-version": VERSION,
                "x-tc-timestamp": str(now),
                "x-tc-region": self.settings.region_id(),
            },
        )

    async def send(self, phone: str, template: Template, params: Mapping[str, str]) -> None:
        template.check(params)
        payload = json.dumps(
            {
                "PhoneNumberSet": [e164(phone)],
                "SmsSdkAppId": self.settings.sdk_app_id,
                "SignName": self.settings.sign_name,
                "TemplateId": template_id(self.settings, template, self.provider),
                # Positional: {1}, {2}, ... in the order the template declares its parameters.
                "TemplateParamSet": [params[name] for name in template.params],
            },
            ensure_ascii=False,
        ).encode()

        async def attempt(client: httpx.AsyncClient) -> str:
            response = await client.send(self._request(payload))
            fault = server_fault(self.provider, response)
            if fault is not None:
                raise fault
            answer = json_body(self.provider, response).get("Response")
            if not isinstance(answer, dict):
                raise classify(self.provider, "NoResponse", "no Response in the answer", CODES)
            error = answer.get("Error")
            if isinstance(error, dict):
                code, message = str(error.get("Code", "")), str(error.get("Message", ""))
                raise classify(self.provider, code, message, CODES)
            statuses = answer.get("SendStatusSet")
            status = statuses[0] if isinstance(statuses, list) and statuses else {}
            code = str(status.get("Code", "")) if isinstance(status, dict) else ""
            if code == "Ok":
                return str(status.get("SerialNo", ""))
            message = str(status.get("Message", "")) if isinstance(status, dict) else ""
            raise classify(self.provider, code or "NoStatus", message, CODES)

        try:
            serial = await self.transport.run(attempt)
        except SmsError as e:
            log.warning(
                "sms %s to %s not sent: %s %s",
                template.name,
                masked(phone),
                type(e).__name__,
                e.code,
            )
            raise
        log.info("sms %s to %s sent (tencent SerialNo %s)", template.name, masked(phone), serial)
