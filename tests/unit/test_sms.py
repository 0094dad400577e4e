"""The SMS port's rules without a network: templates, what the log adapter shows in and out of
dev mode, the settings a deployment gives, and what the provider adapters encode and hide."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest

from services.common.settings import RegistrySettings
from services.common.sms import (
    PHONE_CHANGE_CODE,
    PHONE_TAKEN_NOTICE,
    SIGN_IN_CODE,
    TEMPLATES,
    SmsBadNumber,
    SmsSettings,
    Template,
    masked,
)
from services.common.sms.aliyun import CODES as ALIYUN_CODES
from services.common.sms.aliyun import canonical_query, percent_encode
from services.common.sms.aliyun import signature as aliyun_signature
from services.common.sms.build import SmsConfigError, build_sms
from services.common.sms.dev import LogSms
from services.common.sms.tencent import CODES as TENCENT_CODES
from services.common.sms.tencent import e164
from services.common.sms.tencent import signature as tencent_signature
from services.common.sms.transport import classify

PHONE = "13812345678"


@pytest.mark.parametrize("template", TEMPLATES.values(), ids=lambda t: t.name)
def test_every_template_names_each_of_its_params_in_its_text(template: Template) -> None:
    t = template
    filled = t.render({p: f"<{p}>" for p in t.params}, reveal=True)
    assert all(f"<{p}>" in filled for p in t.params)
    assert t.secret <= set(t.params)


def test_a_template_refuses_params_other_than_its_own() -> None:
    with pytest.raises(ValueError, match="code"):
        PHONE_CHANGE_CODE.check({"code": "123456"})
    with pytest.raises(ValueError):
        PHONE_TAKEN_NOTICE.check({"code": "123456"})


async def test_in_dev_mode_the_log_shows_the_number_and_the_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    sms = LogSms(reveal=True)
    await sms.send(PHONE, SIGN_IN_CODE, {"code": "482913", "minutes": "5"})
    assert PHONE in caplog.text and "482913" in caplog.text and "【邻里】" in caplog.text
    kept = sms.last_to(PHONE)
    assert kept is not None and "482913" in kept.text


async def test_outside_dev_mode_the_log_shows_neither_the_full_number_nor_the_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sms = LogSms(reveal=False)
    await sms.send(PHONE, SIGN_IN_CODE, {"code": "482913", "minutes": "5"})
    assert PHONE not in caplog.text and "482913" not in caplog.text
    assert masked(PHONE) in caplog.text and masked(PHONE).endswith("5678")
    # What a test reads is still the whole message: only the log is careful.
    kept = sms.last_to(PHONE)
    assert kept is not None and "482913" in kept.text


async def test_the_log_adapter_keeps_only_the_last_messages() -> None:
    sms = LogSms(keep=2)
    for n in range(3):
        await sms.send(f"1380000000{n}", PHONE_TAKEN_NOTICE, {})
    assert [m.phone for m in sms.sent] == ["13800000001", "13800000002"]


def test_a_deployment_configures_its_provider_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LINLI_SMS__PROVIDER", "tencent")
    monkeypatch.setenv("LINLI_SMS__ACCESS_KEY_ID", "AKID-example")
    monkeypatch.setenv("LINLI_SMS__ACCESS_KEY_SECRET", "very-secret")
    monkeypatch.setenv("LINLI_SMS__SDK_APP_ID", "1400000000")
    monkeypatch.setenv("LINLI_SMS__TEMPLATES", '{"phone_change_code": "2001", "x": "2002"}')
    sms = RegistrySettings().sms
    assert sms.provider == "tencent" and sms.sdk_app_id == "1400000000"
    assert sms.templates["phone_change_code"] == "2001"
    assert sms.url() == "https://sms.tencentcloudapi.com" and sms.region_id() == "ap-guangzhou"
    assert "very-secret" not in repr(sms)


def test_an_unknown_provider_is_refused() -> None:
    with pytest.raises(ValueError):
        SmsSettings(provider="carrier-pigeon")  # type: ignore[arg-type]


def test_a_provider_over_plain_http_is_refused_unless_on_this_machine() -> None:
    settings = SmsSettings(
        provider="aliyun",
        endpoint="http://dysmsapi.aliyuncs.com",
        access_key_id="id",
        access_key_secret="secret",  # type: ignore[arg-type]
        templates={"sign_in_code": "SMS_1"},
    )
    with pytest.raises(SmsConfigError, match="https"):
        build_sms(settings, dev_mode=False, needs=(SIGN_IN_CODE,))
    local = settings.model_copy(update={"endpoint": "http://127.0.0.1:8080"})
    assert build_sms(local, dev_mode=False, needs=(SIGN_IN_CODE,)) is not None


def test_the_log_provider_needs_no_credentials() -> None:
    assert isinstance(build_sms(SmsSettings(), dev_mode=True, needs=TEMPLATES.values()), LogSms)


def test_aliyun_encodes_as_rfc_3986() -> None:
    assert percent_encode("a b*c~d+e/邻") == "a%20b%2Ac~d%2Be%2F%E9%82%BB"


def test_tencent_wants_the_country_code() -> None:
    assert e164(PHONE) == "+8613812345678" and e164("+85291234567") == "+85291234567"


def test_a_providers_message_quoting_the_number_loses_the_number() -> None:
    error = classify("aliyun", "isv.MOBILE_NUMBER_ILLEGAL", f"bad +86{PHONE}", ALIYUN_CODES)
    assert isinstance(error, SmsBadNumber) and PHONE not in str(error)


@pytest.mark.parametrize(
    ("table", "code", "kind"),
    [
        (ALIYUN_CODES, "isv.BUSINESS_LIMIT_CONTROL", "SmsRateLimited"),
        (ALIYUN_CODES, "InvalidAccessKeyId.NotFound", "SmsAuthFailed"),
        (ALIYUN_CODES, "Throttling.User", "SmsUnavailable"),
        (TENCENT_CODES, "LimitExceeded.PhoneNumberDailyLimit", "SmsRateLimited"),
        (TENCENT_CODES, "AuthFailure.SecretIdNotFound", "SmsAuthFailed"),
        (TENCENT_CODES, "FailedOperation.TemplateIncorrectOrUnapproved", "SmsTemplateRejected"),
        (TENCENT_CODES, "InternalError.Timeout", "SmsUnavailable"),
        (TENCENT_CODES, "SomethingNew", "SmsError"),
    ],
)
def test_provider_codes_become_the_errors_of_the_port(
    table: tuple[tuple[str, type], ...], code: str, kind: str
) -> None:
    assert type(classify("p", code, "", table)).__name__ == kind  # type: ignore[arg-type]


# Known answers: the same inputs signed by the providers' official Python SDKs
# (tencentcloud-sdk-python-common's TC3 signer, alibabacloud-openapi-util's ACS3 signer).
def test_tencent_signs_as_the_official_sdk() -> None:
    payload = json.dumps(
        {
            "PhoneNumberSet": ["+8613812345678"],
            "SmsSdkAppId": "1400000000",
            "SignName": "邻里",
            "TemplateId": "2001",
            "TemplateParamSet": ["482913", "10"],
        },
        ensure_ascii=False,
    ).encode()
    headers = {"content-type": "application/json; charset=utf-8", "host": "sms.tencentcloudapi.com"}
    assert tencent_signature("SECRETKEY-example", 1796169600, payload, headers) == (
        "2026-12-02/sms/tc3_request",
        "content-type;host",
        "256fe3735dc84115217b64669751a34d1370c59c5def7f276c049777cfee2957",
    )


ALIYUN_HEADERS = {
    "host": "dysmsapi.aliyuncs.com",
    "x-acs-action": "SendSms",
    "x-acs-version": "2017-05-25",
    "x-acs-date": "2026-12-02T00:00:00Z",
    "x-acs-signature-nonce": "abc123",
}


def test_aliyun_signs_a_form_body_as_the_official_sdk() -> None:
    body = canonical_query(
        {
            "PhoneNumbers": "13812345678",
            "SignName": "邻里",
            "TemplateCode": "SMS_1",
            "TemplateParam": '{"code": "482913"}',
        }
    )
    digest = hashlib.sha256(body.encode()).hexdigest()
    headers = ALIYUN_HEADERS | {
        "content-type": "application/x-www-form-urlencoded",
        "x-acs-content-sha256": digest,
    }
    names, mac = aliyun_signature("SECRET", "POST", {}, headers, digest)
    assert names == (
        "content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;"
        "x-acs-signature-nonce;x-acs-version"
    )
    assert mac == "0862b76a5465d2f402715935b6925182629dbc752756d9dcb962ba3c10a9816b"


def test_aliyun_signs_a_query_as_the_official_sdk() -> None:
    empty = hashlib.sha256(b"").hexdigest()
    headers = ALIYUN_HEADERS | {"x-acs-content-sha256": empty}
    query = {"PhoneNumbers": "13812345678", "SignName": "邻里 *~"}
    _, mac = aliyun_signature("SECRET", "POST", query, headers, empty)
    assert mac == "6d01ea2fab3a6cca65a252e81d91b90a04bb49ce66cf281cb3ece6cf8300c4b4"
