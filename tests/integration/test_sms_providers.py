"""The Alibaba Cloud and Tencent Cloud SMS adapters against local servers that speak their APIs
over real HTTP and check every signature as the provider does."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from dev.sms_servers import AliyunSmsServer, Fault, TencentSmsServer
from dev.sms_servers.base import ProviderServer
from services.common.sms import (
    PHONE_CHANGE_CODE,
    PHONE_TAKEN_NOTICE,
    SIGN_IN_CODE,
    SmsAuthFailed,
    SmsBadNumber,
    SmsRateLimited,
    SmsSettings,
    SmsTemplateRejected,
    SmsUnavailable,
)
from services.common.sms.build import ClosableSms, build_sms

pytestmark = pytest.mark.integration

KEY_ID = "LTAI-test-key-id"
SECRET = "a-secret-only-these-tests-know"
TEMPLATE_IDS = {
    "aliyun": {"phone_change_code": "SMS_100001", "phone_taken_notice": "SMS_100002"},
    "tencent": {"phone_change_code": "2001001", "phone_taken_notice": "2001002"},
}
NEEDS = (PHONE_CHANGE_CODE, PHONE_TAKEN_NOTICE)
PHONE = "13812345678"
CODE = {"code": "482913", "minutes": "10"}


def server_for(provider: str) -> ProviderServer:
    ids = TEMPLATE_IDS[provider]
    kind = AliyunSmsServer if provider == "aliyun" else TencentSmsServer
    return kind(
        KEY_ID, SECRET, templates={ids["phone_change_code"]: 2, ids["phone_taken_notice"]: 0}
    )


@pytest.fixture(params=["aliyun", "tencent"])
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(provider: str) -> Iterator[ProviderServer]:
    with server_for(provider) as s:
        yield s


def settings_for(provider: str, server: ProviderServer, **changes: object) -> SmsSettings:
    values: dict[str, object] = {
        "provider": provider,
        "endpoint": server.url,
        "access_key_id": KEY_ID,
        "access_key_secret": SecretStr(SECRET),
        "sdk_app_id": TencentSmsServer.sdk_app_id,
        "templates": TEMPLATE_IDS[provider],
        "timeout_s": 2.0,
        "attempts": 3,
        "backoff_s": 0.01,
        "backoff_max_s": 0.05,
    }
    return SmsSettings(**(values | changes))


@pytest.fixture
async def sms(provider: str, server: ProviderServer) -> ClosableSms:
    sender = build_sms(settings_for(provider, server), dev_mode=False, needs=NEEDS)
    yield sender  # type: ignore[misc]
    await sender.aclose()


async def test_a_signed_message_reaches_the_provider_with_its_template_and_params(
    provider: str, server: ProviderServer, sms: ClosableSms
) -> None:
    await sms.send(PHONE, PHONE_CHANGE_CODE, CODE)
    await sms.send(PHONE, PHONE_TAKEN_NOTICE, {})
    got = server.received
    assert [m.template_id for m in got] == [
        TEMPLATE_IDS[provider]["phone_change_code"],
        TEMPLATE_IDS[provider]["phone_taken_notice"],
    ]
    assert {m.sign_name for m in got} == {"邻里"}
    # Alibaba Cloud fills ${code} by name; Tencent Cloud fills {1}, {2} in the declared order.
    assert got[0].params == (CODE if provider == "aliyun" else ["482913", "10"])
    assert got[0].phone == (PHONE if provider == "aliyun" else f"+86{PHONE}")


async def test_a_wrong_secret_is_refused_by_the_signature_check(
    provider: str, server: ProviderServer
) -> None:
    settings = settings_for(provider, server, access_key_secret=SecretStr("not-the-secret"))
    sms = build_sms(settings, dev_mode=False, needs=NEEDS)
    with pytest.raises(SmsAuthFailed) as refused:
        await sms.send(PHONE, PHONE_CHANGE_CODE, CODE)
    await sms.aclose()
    assert refused.value.code in {"SignatureDoesNotMatch", "AuthFailure.SignatureFailure"}
    assert server.received == []
    assert server.requests == 1  # a refused signature is not retried


async def test_a_5xx_is_retried_until_the_provider_answers(
    server: ProviderServer, sms: ClosableSms
) -> None:
    server.fail_next(Fault(status=503), Fault(status=502))
    await sms.send(PHONE, PHONE_CHANGE_CODE, CODE)
    assert server.requests == 3
    assert len(server.received) == 1


async def test_a_provider_that_keeps_failing_is_unavailable_after_the_attempts(
    server: ProviderServer, sms: ClosableSms
) -> None:
    server.fail_next(*[Fault(status=500)] * 3)
    with pytest.raises(SmsUnavailable):
        await sms.send(PHONE, PHONE_CHANGE_CODE, CODE)
    assert server.requests == 3
    assert server.received == []


async def test_an_answer_later_than_the_timeout_is_retried(
    provider: str, server: ProviderServer
) -> None:
    sms = build_sms(settings_for(provider, server, timeout_s=1.0), dev_mode=False, needs=NEEDS)
    server.fail_next(Fault(delay_s=5.0))
    await sms.send(PHONE, PHONE_CHANGE_CODE, CODE)  # the next attempt, answered in time
    await sms.aclose()
    assert server.requests >= 2
    assert server.received


async def test_a_provider_fault_code_is_retried(
    provider: str, server: ProviderServer, sms: ClosableSms
) -> None:
    fault = "isp.SYSTEM_ERROR" if provider == "aliyun" else "InternalError.Timeout"
    server.fail_next(Fault(code=fault))
    await sms.send(PHONE, PHONE_CHANGE_CODE, CODE)
    assert len(server.received) == 1


async def test_a_number_the_provider_cannot_reach_is_a_bad_number(
    server: ProviderServer, sms: ClosableSms
) -> None:
    with pytest.raises(SmsBadNumber):
        await sms.send("12345678901", PHONE_CHANGE_CODE, CODE)
    assert server.requests == 1


async def test_the_providers_limit_per_number_is_rate_limited_and_not_retried(
    server: ProviderServer, sms: ClosableSms
) -> None:
    server.per_number_per_minute = 1
    await sms.send(PHONE, PHONE_CHANGE_CODE, CODE)
    with pytest.raises(SmsRateLimited):
        await sms.send(PHONE, PHONE_CHANGE_CODE, CODE)
    assert server.requests == 2
    assert len(server.received) == 1


async def test_a_template_not_approved_is_rejected(provider: str, server: ProviderServer) -> None:
    templates = TEMPLATE_IDS[provider] | {"phone_change_code": "999"}
    sms = build_sms(
        settings_for(provider, server, templates=templates), dev_mode=False, needs=NEEDS
    )
    with pytest.raises(SmsTemplateRejected):
        await sms.send(PHONE, PHONE_CHANGE_CODE, CODE)
    await sms.aclose()


async def test_a_sign_name_not_approved_is_rejected(provider: str, server: ProviderServer) -> None:
    sms = build_sms(settings_for(provider, server, sign_name="别的"), dev_mode=False, needs=NEEDS)
    with pytest.raises(SmsTemplateRejected):
        await sms.send(PHONE, PHONE_CHANGE_CODE, CODE)
    await sms.aclose()


async def test_neither_the_code_nor_the_full_number_reaches_the_log(
    server: ProviderServer, sms: ClosableSms, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await sms.send(PHONE, PHONE_CHANGE_CODE, CODE)
    server.fail_next(*[Fault(status=503)] * 3)
    with pytest.raises(SmsUnavailable):
        await sms.send(PHONE, PHONE_CHANGE_CODE, CODE)
    with pytest.raises(SmsBadNumber):
        await sms.send("12345678901", PHONE_CHANGE_CODE, CODE)
    text = caplog.text
    assert "5678" in text  # the messages are there, told apart by the number's end
    assert PHONE not in text and "12345678901" not in text and CODE["code"] not in text


async def test_a_replayed_aliyun_request_is_refused() -> None:
    with server_for("aliyun") as server:
        settings = settings_for("aliyun", server)
        from services.common.sms.aliyun import AliyunSms

        sms = AliyunSms(settings)
        request = sms._request({"PhoneNumbers": PHONE, "SignName": "邻里", "TemplateCode": "x"})
        client = sms.transport.client()
        first = await client.send(request)
        again = await client.send(request)
        await sms.aclose()
    assert first.json()["Code"] == "isv.SMS_TEMPLATE_ILLEGAL"  # signature accepted
    assert again.json()["Code"] == "SignatureNonceUsed"


def test_settings_missing_what_a_provider_needs_are_refused_at_start() -> None:
    from services.common.sms.build import SmsConfigError

    with pytest.raises(SmsConfigError) as refused:
        build_sms(SmsSettings(provider="tencent"), dev_mode=False, needs=(SIGN_IN_CODE,))
    message = str(refused.value)
    for missing in ("ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "SDK_APP_ID", "sign_in_code"):
        assert missing in message


async def test_a_template_the_settings_hold_no_id_for_is_rejected_plainly(
    provider: str, server: ProviderServer, sms: ClosableSms
) -> None:
    with pytest.raises(SmsTemplateRejected, match="sign_in_code"):
        await sms.send(PHONE, SIGN_IN_CODE, CODE)
    assert server.requests == 0


def test_a_misspelt_template_name_is_refused_at_start() -> None:
    from services.common.sms.build import SmsConfigError

    settings = SmsSettings(
        provider="aliyun",
        access_key_id="id",
        access_key_secret=SecretStr("secret"),
        templates={"sign_in_code": "SMS_1", "sign_in_cdoe": "SMS_2"},
    )
    with pytest.raises(SmsConfigError, match="sign_in_cdoe"):
        build_sms(settings, dev_mode=False, needs=(SIGN_IN_CODE,))
