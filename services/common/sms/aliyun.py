"""Alibaba Cloud SMS (dysmsapi 2017-05-25, SendSms), signed with ACS3-HMAC-SHA256 (the V3
request signature): a canonical request hashed, then HMAC-SHA256 with the AccessKey secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

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

ALGORITHM = "ACS3-HMAC-SHA256"
ACTION = "SendSms"
VERSION = "2017-05-25"
FORM = "application/x-www-form-urlencoded"

# dysmsapi's codes (Code in the answer). Business refusals come with HTTP 200, gateway ones
# (signature, key, throttling) with 4xx: both carry Code.
CODES: CodeTable = (
    ("isv.BUSINESS_LIMIT_CONTROL", SmsRateLimited),
    ("isv.DAY_LIMIT_CONTROL", SmsRateLimited),
    ("isv.MONTH_LIMIT_CONTROL", SmsRateLimited),
    ("isv.SMS_OVER_LIMIT", SmsRateLimited),
    ("isv.MOBILE_NUMBER_ILLEGAL", SmsBadNumber),
    ("isv.MOBILE_COUNT_OVER_LIMIT", SmsBadNumber),
    ("isv.BLACK_KEY_CONTROL_LIMIT", SmsBadNumber),
    ("isv.SMS_TEMPLATE_ILLEGAL", SmsTemplateRejected),
    ("isv.SMS_SIGNATURE_ILLEGAL", SmsTemplateRejected),
    ("isv.SMS_SIGN_ILLEGAL", SmsTemplateRejected),
    ("isv.TEMPLATE_MISSING_PARAMETERS", SmsTemplateRejected),
    ("isv.TEMPLATE_PARAMS_ILLEGAL", SmsTemplateRejected),
    ("isv.INVALID_JSON_PARAM", SmsTemplateRejected),
    ("isv.PARAM_LENGTH_LIMIT", SmsTemplateRejected),
    ("isv.SMS_SIGNATURE_SCENE_ILLEGAL", SmsTemplateRejected),
    ("isv.AMOUNT_NOT_ENOUGH", SmsAuthFailed),
    ("isv.ACCOUNT_NOT_EXISTS", SmsAuthFailed),
    ("isv.ACCOUNT_ABNORMAL", SmsAuthFailed),
    ("isv.OUT_OF_SERVICE", SmsAuthFailed),
    ("isp.RAM_PERMISSION_DENY", SmsAuthFailed),
    ("SignatureDoesNotMatch", SmsAuthFailed),
    ("SignatureNonceUsed", SmsAuthFailed),
    ("IncompleteSignature", SmsAuthFailed),
    ("InvalidAccessKeyId.", SmsAuthFailed),
    ("InvalidTimeStamp.", SmsAuthFailed),
    ("Forbidden.", SmsAuthFailed),
    ("isp.SYSTEM_ERROR", SmsUnavailable),
    ("Throttling.", SmsUnavailable),
    ("ServiceUnavailable", SmsUnavailable),
    ("InternalError", SmsUnavailable),
)


def percent_encode(value: str) -> str:
    """RFC 3986, as the signature wants: unreserved characters kept, space as %20."""
    return quote(value, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def signature(
    secret: str,
    method: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    payload_sha256: str,
) -> tuple[str, str]:
    """(SignedHeaders, Signature) of a request: every header given is signed."""
    names = sorted(k.lower() for k in headers)
    values = {k.lower(): v.strip() for k, v in headers.items()}
    canonical = "\n".join(
        [
            method,
            "/",
            canonical_query(query),
            "".join(f"{n}:{values[n]}\n" for n in names),
            ";".join(names),
            payload_sha256,
        ]
    )
    to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    mac = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return ";".join(names), mac


class AliyunSms:
    provider = "aliyun"

    def __init__(self, settings: SmsSettings) -> None:
        self.settings = settings
        self.transport = Transport(settings, self.provider)
        self.host = urlsplit(settings.url()).netloc

    async def aclose(self) -> None:
        await self.transport.aclose()

    def _request(self, params: Mapping[str, str]) -> httpx.Request:
        # The parameters travel in a form body, not the query: URLs reach access logs (httpx
        # logs each one), and the number and the code must not.
        body = canonical_query(params).encode()
        payload_sha256 = hashlib.sha256(body).hexdigest()
        signed = {
            "content-type": FORM,
            "host": self.host,
            "x-acs-action": ACTION,
            "x-acs-version": VERSION,
            "x-acs-date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "x-acs-signature-nonce": secrets.token_hex(16),
            "x-acs-content-sha256": payload_sha256,
        }
        names, mac = signature(
            self.settings.access_key_secret.get_secret_value(), "POST", {}, signed, payload_sha256
        )
        authorization = (
            f"{ALGORITHM} Credential={self.settings.access_key_id},"
            f"SignedHeaders={names},Signature={mac}"
        )
        return httpx.Request(
            "POST",
            f"{self.settings.url()}/",
            content=body,
            headers={**signed, "authorization": authorization},
        )

    async def send(self, phone: str, template: Template, params: Mapping[str, str]) -> None:
        template.check(params)
        form = {
            "PhoneNumbers": phone,
            "SignName": self.settings.sign_name,
            "TemplateCode": template_id(self.settings, template, self.provider),
        }
        if params:
            form["TemplateParam"] = json.dumps(dict(params), ensure_ascii=False)

        async def attempt(client: httpx.AsyncClient) -> str:
            response = await client.send(self._request(form))
            fault = server_fault(self.provider, response)
            if fault is not None:
                raise fault
            body = json_body(self.provider, response)
            code = str(body.get("Code", ""))
            if code == "OK":
                return str(body.get("BizId", ""))
            raise classify(self.provider, code, str(body.get("Message", "")), CODES)

        try:
            biz_id = await self.transport.run(attempt)
        except SmsError as e:
            log.warning(
                "sms %s to %s not sent: %s %s",
                template.name,
                masked(phone),
                type(e).__name__,
                e.code,
            )
            raise
        log.info("sms %s to %s sent (aliyun BizId %s)", template.name, masked(phone), biz_id)
