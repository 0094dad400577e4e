"""A local server that speaks Tencent Cloud SMS (SendSms 2021-01-11) and checks the
TC3-HMAC-SHA256 signature from the raw request, as the Tencent Cloud API gateway does."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

from dev.sms_servers.base import Answer, ProviderServer, Received, Request, request_id

SKEW_S = 5 * 60
AUTHORIZATION = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z]+)"
    r"/tc3_request, SignedHeaders=(?P<names>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})"
)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class TencentSmsServer(ProviderServer):
    sdk_app_id: str = "1400000000"

    def error(self, code: str, message: str, status: int = 200) -> Answer:
        # The API answers HTTP 200 with Response.Error, whatever went wrong.
        return Answer(
            200,
            {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id()}},
        )

    def _refusal(self, request: Request) -> Answer | None:
        h = request.headers
        match = AUTHORIZATION.fullmatch(h.get("authorization", ""))
        if match is None:
            return self.error("AuthFailure.InvalidAuthorization", "Authorization is invalid.")
        if match["id"] != self.access_key_id:
            return self.error("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        if h.get("x-tc-action") != "SendSms" or h.get("x-tc-version") != "2021-01-11":
            return self.error("InvalidAction", "The action or version is not valid.")
        try:
            timestamp = int(h.get("x-tc-timestamp", ""))
        except ValueError:
            return self.error("AuthFailure.SignatureExpire", "X-TC-Timestamp is not valid.")
        if abs(time.time() - timestamp) > SKEW_S:
            return self.error("AuthFailure.SignatureExpire", "Signature expired.")
        date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        if match["date"] != date or match["service"] != "sms":
            return self.error("AuthFailure.SignatureFailure", "The credential scope is wrong.")
        names = match["names"].split(";")
        if not {"content-type", "host"} <= set(names) or any(n not in h for n in names):
            return self.error("AuthFailure.SignatureFailure", "Required headers are not signed.")
        canonical = "\n".join(
            [
                request.method,
                request.path or "/",
                request.query,
                "".join(f"{n}:{h[n].strip().lower()}\n" for n in names),
                ";".join(names),
                hashlib.sha256(request.body).hexdigest(),
            ]
        )
        scope = f"{date}/sms/tc3_request"
        to_sign = "\n".join(
            [
                "TC3-HMAC-SHA256",
                str(timestamp),
                scope,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        key = _hmac(
            _hmac(_hmac(f"TC3{self.access_key_secret}".encode(), date), "sms"), "tc3_request"
        )
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match["sig"]):
            return self.error(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated. "
                "Please check your signature is correct.",
            )
        return None

    def answer(self, request: Request) -> Answer:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        try:
            body: Any = json.loads(request.body)
        except ValueError:
            return self.error("InvalidParameter", "The body is not JSON.")
        if not isinstance(body, dict):
            return self.error("InvalidParameter", "The body is not a JSON object.")
        if body.get("SmsSdkAppId") != self.sdk_app_id:
            return self.error("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId not exist.")
        if body.get("SignName") not in self.sign_names:
            return self.error(
                "FailedOperation.SignatureIncorrectOrUnapproved", "签名未审批或格式错误。"
            )
        template = str(body.get("TemplateId", ""))
        if template not in self.templates:
            return self.error(
                "FailedOperation.TemplateIncorrectOrUnapproved", "模板未审批或内容不匹配。"
            )
        filled = body.get("TemplateParamSet") or []
        if not isinstance(filled, list) or len(filled) != self.templates[template]:
            return self.error(
                "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
                "请求内容与审核通过的模板内容不匹配。",
            )
        statuses = []
        for phone in body.get("PhoneNumberSet") or []:
            status = self._one(str(phone), body["SignName"], template, filled)
            statuses.append(status | {"PhoneNumber": phone, "IsoCode": "CN"})
        return Answer(200, {"Response": {"SendStatusSet": statuses, "RequestId": request_id()}})

    def _one(self, phone: str, sign: str, template: str, filled: list[str]) -> dict[str, Any]:
        serial = f"2645:{request_id()}"
        if not re.fullmatch(r"\+861[3-9]\d{9}", phone):
            return {
                "SerialNo": "",
                "Fee": 0,
                "Code": "InvalidParameterValue.IncorrectPhoneNumber",
                "Message": "手机号格式错误。",
            }
        if not self.within_rate(phone):
            return {
                "SerialNo": "",
                "Fee": 0,
                "Code": "LimitExceeded.PhoneNumberThirtySecondLimit",
                "Message": "单个手机号30秒内下发短信条数超过设定的上限。",
            }
        self.keep(Received(phone, sign, template, [str(p) for p in filled]))
        return {"SerialNo": serial, "Fee": 1, "Code": "Ok", "Message": "send success"}
