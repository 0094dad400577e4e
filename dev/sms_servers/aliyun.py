"""A local server that speaks Alibaba Cloud SMS (dysmsapi 2017-05-25 SendSms) and checks the
ACS3-HMAC-SHA256 signature from the raw request, as the Alibaba Cloud gateway does."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote

from dev.sms_servers.base import Answer, ProviderServer, Received, Request, request_id

ALGORITHM = "ACS3-HMAC-SHA256"
SKEW_S = 15 * 60
FORM = "application/x-www-form-urlencoded"
# Business refusals answer HTTP 200; the gateway's (signature, key, time) 4xx.
GATEWAY_STATUS = {
    "IncompleteSignature": 400,
    "SignatureDoesNotMatch": 400,
    "SignatureNonceUsed": 400,
    "InvalidTimeStamp.Expired": 400,
    "InvalidAction.NotFound": 404,
    "InvalidAccessKeyId.NotFound": 404,
    "Throttling.User": 400,
}
AUTHORIZATION = re.compile(
    r"ACS3-HMAC-SHA256 Credential=(?P<id>[^,]*),SignedHeaders=(?P<names>[^,]*),"
    r"Signature=(?P<sig>[0-9a-f]{64})"
)


def _encode(value: str) -> str:
    # RFC 3986, as the gateway canonicalises: only A-Z a-z 0-9 - _ . ~ stay as they are.
    return quote(value, safe="-_.~")


class AliyunSmsServer(ProviderServer):
    def error(self, code: str, message: str, status: int = 200) -> Answer:
        body = {"RequestId": request_id(), "Code": code, "Message": message}
        if code in GATEWAY_STATUS:
            body |= {"HostId": "dysmsapi.aliyuncs.com", "Recommend": "https://api.aliyun.com"}
        return Answer(GATEWAY_STATUS.get(code, status), body)

    def _refusal(self, request: Request) -> Answer | None:
        """What the gateway answers before the SMS service sees the request, if anything."""
        h = request.headers
        match = AUTHORIZATION.fullmatch(h.get("authorization", ""))
        if match is None:
            return self.error("IncompleteSignature", "The request signature is incomplete.")
        if match["id"] != self.access_key_id:
            return self.error("InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if h.get("x-acs-action") != "SendSms" or h.get("x-acs-version") != "2017-05-25":
            return self.error("InvalidAction.NotFound", "Specified api is not found.")
        try:
            sent = datetime.strptime(h.get("x-acs-date", ""), "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return self.error("InvalidTimeStamp.Expired", "Specified time stamp is not valid.")
        if abs((datetime.now(UTC) - sent.replace(tzinfo=UTC)).total_seconds()) > SKEW_S:
            return self.error("InvalidTimeStamp.Expired", "Specified time stamp is expired.")
        names = match["names"].split(";")
        required = {"host", "x-acs-content-sha256"} | {n for n in h if n.startswith("x-acs-")}
        if not required <= set(names) or any(n not in h for n in names):
            return self.error("IncompleteSignature", "Some required headers are not signed.")
        payload_hash = hashlib.sha256(request.body).hexdigest()
        if h["x-acs-content-sha256"] != payload_hash:
            return self.error("SignatureDoesNotMatch", "x-acs-content-sha256 does not match.")
        query = parse_qsl(request.query, keep_blank_values=True)
        canonical = "\n".join(
            [
                request.method,
                request.path or "/",
                "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query)),
                "".join(f"{n}:{h[n].strip()}\n" for n in sorted(names)),
                ";".join(sorted(names)),
                payload_hash,
            ]
        )
        to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        expected = hmac.new(
            self.access_key_secret.encode(), to_sign.encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, match["sig"]):
            return self.error(
                "SignatureDoesNotMatch", "Specified signature does not match our calculation."
            )
        if not self.fresh_nonce(h.get("x-acs-signature-nonce", "")):
            return self.error("SignatureNonceUsed", "Specified signature nonce was used already.")
        return None

    def answer(self, request: Request) -> Answer:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        # RPC parameters come in the query or, as Linli sends them, in a form body.
        params = dict(parse_qsl(request.query, keep_blank_values=True))
        if request.headers.get("content-type", "").startswith(FORM):
            params |= dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        phone = params.get("PhoneNumbers", "")
        if not re.fullmatch(r"(\+?86)?1[3-9]\d{9}", phone):
            return self.error("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if params.get("SignName") not in self.sign_names:
            return self.error("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        template = params.get("TemplateCode", "")
        if template not in self.templates:
            return self.error("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            filled = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            return self.error("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if not isinstance(filled, dict) or not all(isinstance(v, str) for v in filled.values()):
            return self.error("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if len(filled) != self.templates[template]:
            return self.error("isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值")
        if not self.within_rate(phone):
            return self.error("isv.BUSINESS_LIMIT_CONTROL", "触发号码天级流控Permits:1")
        self.keep(Received(phone, params["SignName"], template, filled))
        biz_id = f"{self.requests:06d}{request_id()[:8]}^0"
        return Answer(
            200, {"RequestId": request_id(), "Code": "OK", "Message": "OK", "BizId": biz_id}
        )
