"""The registry's phone-change codes through a real provider's API (a local server speaking
Alibaba Cloud SMS), and what a member is told when the provider refuses or fails."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from grpc import aio
from grpc_status import rpc_status
from pydantic import SecretStr

from dev.sms_servers import AliyunSmsServer, Fault
from linli.v1 import registry_pb2
from linli.v1 import registry_pb2_grpc as rpc
from services.common.auth import Role
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from services.common.sms import SmsSettings
from services.registry.app import build
from tests.conftest import Servers
from tests.integration.conftest import District
from tests.integration.errors import bad_request_fields
from tests.integration.test_registry_trust import failure, phone_update, register
from tests.support import auth, phone, token

pytestmark = pytest.mark.integration

Metadata = tuple[tuple[str, str], ...]
TEMPLATES = {"phone_change_code": "SMS_200001", "phone_taken_notice": "SMS_200002"}


@pytest.fixture(scope="module")
def provider() -> Iterator[AliyunSmsServer]:
    templates = {TEMPLATES["phone_change_code"]: 2, TEMPLATES["phone_taken_notice"]: 0}
    with AliyunSmsServer("LTAI-registry", "registry-test-secret", templates=templates) as s:
        yield s


@pytest.fixture(scope="module")
def sms_settings(provider: AliyunSmsServer) -> RegistrySettings:
    return RegistrySettings(
        grpc_port=0,
        shutdown_grace_s=1.0,
        sms=SmsSettings(
            provider="aliyun",
            endpoint=provider.url,
            access_key_id="LTAI-registry",
            access_key_secret=SecretStr("registry-test-secret"),
            templates=TEMPLATES,
            attempts=2,
            backoff_s=0.01,
            timeout_s=2.0,
        ),
    )


@pytest.fixture(scope="module")
async def sms_stub(
    servers: Servers, sms_settings: RegistrySettings
) -> AsyncIterator[rpc.RegistryServiceStub]:
    runtime: ServiceRuntime = build(sms_settings, servers.database_url, servers.nats_url)
    await runtime.start()
    async with aio.insecure_channel(f"127.0.0.1:{runtime.port}") as ch:
        yield rpc.RegistryServiceStub(ch)
    await runtime.stop(grace=1.0)


async def member(
    stub: rpc.RegistryServiceStub, admin: Metadata, district: District
) -> tuple[registry_pb2.Member, Metadata]:
    me = await register(stub, admin, district)
    return me, auth(token(RegistrySettings(), Role.MEMBER, me.id))


async def test_the_code_goes_through_the_provider_and_confirms_the_change(
    stub: rpc.RegistryServiceStub,
    sms_stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    provider: AliyunSmsServer,
) -> None:
    me, as_me = await member(stub, admin, district)
    new = phone()
    reply = await sms_stub.UpdateMember(phone_update(me.id, new), metadata=as_me)
    assert reply.phone_change_pending
    sent = provider.last_to(new)
    assert sent is not None and sent.template_id == TEMPLATES["phone_change_code"]
    assert isinstance(sent.params, dict) and sent.params["minutes"] == "10"
    confirmed = await sms_stub.ConfirmPhoneChange(
        registry_pb2.ConfirmPhoneChangeRequest(member_id=me.id, code=sent.params["code"]),
        metadata=as_me,
    )
    assert confirmed.member.phone == new


async def test_a_taken_number_gets_the_notice_template_and_the_same_answer(
    stub: rpc.RegistryServiceStub,
    sms_stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    provider: AliyunSmsServer,
) -> None:
    holder = await register(stub, admin, district)
    prober, as_prober = await member(stub, admin, district)
    reply = await sms_stub.UpdateMember(phone_update(prober.id, holder.phone), metadata=as_prober)
    assert reply.phone_change_pending
    notice = provider.last_to(holder.phone)
    assert notice is not None and notice.template_id == TEMPLATES["phone_taken_notice"]
    assert notice.params == {}


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (Fault(code="isv.BUSINESS_LIMIT_CONTROL"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (Fault(status=503), grpc.StatusCode.UNAVAILABLE),
        (Fault(code="isv.SMS_TEMPLATE_ILLEGAL"), grpc.StatusCode.UNAVAILABLE),
        (Fault(code="SignatureDoesNotMatch"), grpc.StatusCode.UNAVAILABLE),
    ],
)
async def test_a_provider_refusal_is_a_clear_status_never_internal(
    stub: rpc.RegistryServiceStub,
    sms_stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    provider: AliyunSmsServer,
    fault: Fault,
    status: grpc.StatusCode,
) -> None:
    me, as_me = await member(stub, admin, district)
    provider.fail_next(fault, fault)  # every attempt
    err = await failure(sms_stub.UpdateMember(phone_update(me.id, phone()), metadata=as_me))
    provider.faults.clear()
    assert err.code() == status
    details = rpc_status.from_call(err)
    assert details is not None
    kinds = {d.type_url.rsplit(".", 1)[-1] for d in details.details}
    assert "RetryInfo" in kinds
    assert "isv." not in (err.details() or "") and "Signature" not in (err.details() or "")


async def test_a_number_the_provider_refuses_is_invalid_argument_naming_the_phone(
    stub: rpc.RegistryServiceStub,
    sms_stub: rpc.RegistryServiceStub,
    admin: Metadata,
    district: District,
    provider: AliyunSmsServer,
) -> None:
    me, as_me = await member(stub, admin, district)
    provider.fail_next(Fault(code="isv.MOBILE_NUMBER_ILLEGAL"))
    err = await failure(sms_stub.UpdateMember(phone_update(me.id, phone()), metadata=as_me))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "member.phone" in bad_request_fields(err)  # named in google.rpc.BadRequest
