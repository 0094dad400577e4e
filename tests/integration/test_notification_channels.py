"""Items on the members' channels, against local servers that speak the providers' APIs: SMS
through Alibaba Cloud's API (to the phone the registry's events carry) and WeChat subscription
messages (token, send, 43101 and 42001 handled). A provider that is down is retried: nothing is
lost and nothing sent twice."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import nats
import pytest
from pydantic import SecretStr

from dev.sms_servers import AliyunSmsServer, Fault
from dev.wechat_server import WeChatServer
from linli.v1 import notifications_pb2 as pb
from services.common.settings.services import WeChatSettings
from services.common.sms import SmsSettings
from services.notifications.app import NotificationsRuntime
from tests import notify_events as ev
from tests.conftest import Servers
from tests.integration.notify_support import member_auth, publish, settings, start, stub_for
from tests.integration.runtime_support import eventually
from tests.support import phone, ref

pytestmark = pytest.mark.integration

KEY_ID, SECRET = "LTAI-notify-key", "a-secret-for-notices"
APPID, APP_SECRET = "wx-test-app", "wx-test-secret"
SMS_TEMPLATE, WECHAT_TEMPLATE = "SMS_300001", "TPL-points-earned"
C, S = ref("c"), ref("s")


@pytest.fixture(scope="module")
def sms_server() -> Iterator[AliyunSmsServer]:
    with AliyunSmsServer(KEY_ID, SECRET, templates={SMS_TEMPLATE: 1}) as s:
        yield s  # type: ignore[misc]


@pytest.fixture(scope="module")
def wechat_server() -> Iterator[WeChatServer]:
    with WeChatServer(APPID, APP_SECRET, templates={WECHAT_TEMPLATE: 3}) as s:
        yield s  # type: ignore[misc]


@pytest.fixture(scope="module")
async def rt(
    servers: Servers, sms_server: AliyunSmsServer, wechat_server: WeChatServer
) -> AsyncIterator[NotificationsRuntime]:
    s = settings(
        sms=SmsSettings(
            provider="aliyun",
            endpoint=sms_server.url,
            access_key_id=KEY_ID,
            access_key_secret=SecretStr(SECRET),
            templates={"notice_points_earned": SMS_TEMPLATE},
            attempts=2,
            backoff_s=0.01,
            backoff_max_s=0.02,
            timeout_s=2.0,
        ),
        wechat=WeChatSettings(
            appid=APPID,
            secret=SecretStr(APP_SECRET),
            base_url=wechat_server.url,
            templates={"points_earned": WECHAT_TEMPLATE},
        ),
    )
    runtime = await start(s, servers.database_url, servers.nats_url)
    yield runtime
    await runtime.stop(grace=1.0)


@pytest.fixture(scope="module")
async def js(servers: Servers) -> AsyncIterator[object]:
    nc = await nats.connect(servers.nats_url)
    yield nc.jetstream()
    await nc.drain()


async def member_with(
    rt: NotificationsRuntime, js: object, *, sms: bool, wechat: bool
) -> tuple[str, str, str]:
    m, number, openid = ref("m"), phone(), ref("openid")
    await publish(js, ev.member_registered(m, C, number, datetime.now(UTC)))  # type: ignore[arg-type]

    async def known() -> bool:
        async with rt.notifications.store.transaction() as tx:
            return await rt.notifications.store.member(tx, m) is not None

    await eventually(known, "the member's phone from the registry's event")
    async with stub_for(rt.port) as stub:
        await stub.SetDeliveryPreferences(
            pb.SetDeliveryPreferencesRequest(
                preferences=pb.DeliveryPreferences(sms=sms, wechat=wechat, wechat_openid=openid)
            ),
            metadata=member_auth(m),
        )
    return m, number, openid


def award(m: str, i: int) -> ev.Event:
    return ev.points_awarded(m, C, 100, 100 * i)


async def test_pushed_items_go_by_sms_and_wechat_once_each(
    rt: NotificationsRuntime, js: object, sms_server: AliyunSmsServer, wechat_server: WeChatServer
) -> None:
    m, number, openid = await member_with(rt, js, sms=True, wechat=True)
    await publish(js, award(m, 1), award(m, 2))  # type: ignore[arg-type]

    async def both() -> bool:
        return len(_sms(sms_server, number)) == 2 and len(_wechat(wechat_server, openid)) == 2

    await eventually(both, "two messages on each channel")
    assert any("获得 1 分" in str(r.params) for r in _sms(sms_server, number))  # type: ignore[attr-defined]
    assert _wechat(wechat_server, openid)[0].params["thing1"] == "获得积分"


async def test_a_provider_down_is_retried_and_nothing_is_lost_or_sent_twice(
    rt: NotificationsRuntime, js: object, sms_server: AliyunSmsServer
) -> None:
    m, number, _ = await member_with(rt, js, sms=True, wechat=False)
    sms_server.fail_next(*[Fault(status=503)] * 6)
    await publish(js, *(award(m, i) for i in range(1, 4)))  # type: ignore[arg-type]
    await eventually(lambda: _count(sms_server, number, 3), "three messages after the outage")
    states = await rt.notifications.store.deliveries(m)
    assert [s for _, _, s, _ in states] == ["sent"] * 3
    assert any(attempts > 1 for _, _, _, attempts in states)
    assert len(_sms(sms_server, number)) == 3


async def test_an_expired_token_is_renewed_and_a_refusal_stops_wechat_for_that_member(
    rt: NotificationsRuntime, js: object, wechat_server: WeChatServer
) -> None:
    m, _, openid = await member_with(rt, js, sms=False, wechat=True)
    wechat_server.expire_tokens()
    await publish(js, award(m, 1))  # type: ignore[arg-type]
    await eventually(lambda: _wechat_count(wechat_server, openid, 1), "sent with a new token")
    wechat_server.refused.add(openid)
    await publish(js, award(m, 2))  # type: ignore[arg-type]

    async def refused() -> bool:
        async with stub_for(rt.port) as stub:
            p = await stub.GetDeliveryPreferences(
                pb.GetDeliveryPreferencesRequest(), metadata=member_auth(m)
            )
        return p.preferences.wechat_refused

    await eventually(refused, "the member's refusal recorded")
    await publish(js, award(m, 3))  # type: ignore[arg-type]
    await eventually(lambda: _items(rt, m, 3), "the third item written")
    states = await rt.notifications.store.deliveries(m)
    assert [s for _, _, s, _ in states] == ["sent", "refused"]
    assert len(_wechat(wechat_server, openid)) == 1


def _sms(server: AliyunSmsServer, number: str) -> list[object]:
    return [r for r in server.received if number in r.phone]


def _wechat(server: WeChatServer, openid: str) -> list:  # type: ignore[type-arg]
    return [r for r in server.received if r.phone == openid]


async def _count(server: AliyunSmsServer, number: str, n: int) -> bool:
    return len(_sms(server, number)) >= n


async def _wechat_count(server: WeChatServer, openid: str, n: int) -> bool:
    return len(_wechat(server, openid)) >= n


async def _items(rt: NotificationsRuntime, m: str, n: int) -> bool:
    return len(await rt.notifications.store.after(m, 0, 100)) >= n
