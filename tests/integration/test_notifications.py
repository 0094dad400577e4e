"""The notifications service over the real servers: items written from the stream reach a
follower; after the service restarts (and, separately, after NATS restarts) while events keep
coming, the follower that reconnects with its last cursor has seen exactly the items written, in
order, none twice; a member reads only their own inbox; bad input names its field."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator

import grpc
import nats
import pytest
from grpc import aio

from dev.localinfra import NatsServer
from linli.v1 import notifications_pb2 as pb
from services.common.auth import Role
from services.common.settings import Settings
from services.notifications.app import NotificationsRuntime
from tests import notify_events as ev
from tests.conftest import ROOT, Servers
from tests.integration.errors import bad_request_fields
from tests.integration.notify_support import (
    Follower,
    member_auth,
    publish,
    settings,
    start,
    stub_for,
)
from tests.integration.runtime_support import eventually, new_database
from tests.support import auth, ref, token

pytestmark = pytest.mark.integration
C, S = ref("c"), ref("s")


@pytest.fixture(scope="module")
async def rt(servers: Servers) -> AsyncIterator[NotificationsRuntime]:
    runtime = await start(settings(), servers.database_url, servers.nats_url)
    yield runtime
    await runtime.stop(grace=1.0)


@pytest.fixture(scope="module")
async def js(servers: Servers) -> AsyncIterator[object]:
    nc = await nats.connect(servers.nats_url)
    yield nc.jetstream()
    await nc.drain()


def awards(member: str, n: int, first: int = 1) -> list[ev.Event]:
    return [ev.points_awarded(member, C, 100, 100 * i) for i in range(first, first + n)]


async def written(rt: NotificationsRuntime, member: str) -> list[int]:
    return [i.cursor for i in await rt.notifications.store.after(member, 0, 10_000)]


async def test_a_follower_sees_each_item_written_from_the_stream(
    rt: NotificationsRuntime, js: object
) -> None:
    m = ref("m")
    await publish(js, *awards(m, 3))  # type: ignore[arg-type]
    f = Follower(m)
    f.start(rt.port)
    try:
        await eventually(lambda: _n(f, 3), "three items followed")
        await publish(js, *awards(m, 2, first=4))  # type: ignore[arg-type]
        await eventually(lambda: _n(f, 5), "two more, as they are written")
    finally:
        await f.stop()
    assert f.cursors == [1, 2, 3, 4, 5]
    assert {i.kind for i in f.seen} == {pb.INBOX_ITEM_KIND_POINTS_EARNED}
    assert "获得 1 分" in f.seen[0].body


async def _n(f: Follower, n: int) -> bool:
    return len(f.seen) >= n


async def test_across_a_service_restart_nothing_is_missed_or_repeated(
    servers: Servers, js: object
) -> None:
    m = ref("m")
    first = await start(settings(), servers.database_url, servers.nats_url)
    f = Follower(m)
    f.start(first.port)
    try:
        await publish(js, *awards(m, 5))  # type: ignore[arg-type]
        await eventually(lambda: _n(f, 5), "five items before the restart")
        await first.stop(grace=0.5)
        # Events keep coming while the service is down.
        await publish(js, *awards(m, 5, first=6))  # type: ignore[arg-type]
        second = await start(settings(), servers.database_url, servers.nats_url)
        try:
            f.port = second.port
            await publish(js, *awards(m, 5, first=11))  # type: ignore[arg-type]
            await eventually(lambda: _n(f, 15), "every item after the restart")
            assert f.cursors == await written(second, m) == list(range(1, 16))
            assert f.reconnects >= 1
        finally:
            await second.stop(grace=0.5)
    finally:
        await f.stop()


async def test_a_follower_on_one_replica_is_woken_by_writes_of_another(
    rt: NotificationsRuntime, servers: Servers, js: object
) -> None:
    # The second replica looks for new items only once a minute by itself: what reaches its
    # follower sooner was announced by PostgreSQL's NOTIFY, whichever replica wrote it.
    replica = await start(settings(follow_poll_s=60.0), servers.database_url, servers.nats_url)
    m = ref("m")
    f = Follower(m)
    f.start(replica.port)
    try:
        await eventually(lambda: _following(replica), "the follower connected")
        await publish(js, *awards(m, 10))  # type: ignore[arg-type]
        await eventually(lambda: _n(f, 10), "ten items woken across replicas", timeout=30)
        assert f.cursors == list(range(1, 11))
    finally:
        await f.stop()
        await replica.stop(grace=0.5)


async def _following(rt: NotificationsRuntime) -> bool:
    return rt.notifications.wakeups.followers > 0


@pytest.fixture
def own_nats() -> Iterator[NatsServer]:
    root = ROOT / ".linli" / ref("nats-notify")
    server = NatsServer.start(root)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_across_a_nats_restart_nothing_is_missed_or_repeated(
    servers: Servers, own_nats: NatsServer
) -> None:
    m = ref("m")
    db = await new_database(servers.admin_url)
    runtime = await start(settings(), db, own_nats.url)
    f = Follower(m)
    f.start(runtime.port)
    try:
        nc = await nats.connect(own_nats.url)
        await publish(nc.jetstream(), *awards(m, 4))
        await eventually(lambda: _n(f, 4), "four items before NATS restarts")
        await nc.close()
        own_nats.stop()
        own_nats.resume()
        nc = await nats.connect(own_nats.url)
        try:
            await publish(nc.jetstream(), *awards(m, 4, first=5))
            await eventually(lambda: _n(f, 8), "every item after NATS restarted", timeout=60)
        finally:
            await nc.close()
        assert f.cursors == await written(runtime, m) == list(range(1, 9))
    finally:
        await f.stop()
        await runtime.stop(grace=0.5)


async def test_another_members_inbox_is_answered_as_one_that_does_not_exist(
    rt: NotificationsRuntime, js: object
) -> None:
    owner, other = ref("m"), ref("m")
    await publish(js, *awards(owner, 1))  # type: ignore[arg-type]
    await eventually(lambda: _has(rt, owner), "the owner's item")
    async with stub_for(rt.port) as stub:
        answers = []
        for inbox in (owner, ref("nobody")):
            with pytest.raises(grpc.RpcError) as e:
                await stub.ListInboxItems(
                    pb.ListInboxItemsRequest(inbox_id=inbox), metadata=member_auth(other)
                )
            answers.append((e.value.code(), e.value.details().replace(inbox, "<id>")))
            with pytest.raises(grpc.RpcError) as e:
                await stub.GetUnreadCount(
                    pb.GetUnreadCountRequest(inbox_id=inbox), metadata=member_auth(other)
                )
            answers.append((e.value.code(), e.value.details().replace(inbox, "<id>")))
            with pytest.raises(grpc.RpcError) as e:
                async for _ in stub.FollowInbox(
                    pb.FollowInboxRequest(inbox_id=inbox), metadata=member_auth(other)
                ):
                    pass
            answers.append((e.value.code(), e.value.details().replace(inbox, "<id>")))
        assert answers[:3] == answers[3:]
        assert answers[0][0] == grpc.StatusCode.NOT_FOUND
        own = await stub.ListInboxItems(pb.ListInboxItemsRequest(), metadata=member_auth(owner))
        assert len(own.items) == 1
        assert (
            await stub.GetUnreadCount(pb.GetUnreadCountRequest(), metadata=member_auth(other))
        ).unread == 0


async def _has(rt: NotificationsRuntime, member: str) -> bool:
    return bool(await written(rt, member))


async def test_bad_input_names_its_field(rt: NotificationsRuntime) -> None:
    m = ref("m")
    async with stub_for(rt.port) as stub:
        cases = [
            (
                "after_cursor",
                stub.FollowInbox(pb.FollowInboxRequest(after_cursor=-1), metadata=member_auth(m)),
            ),
            (
                "cursors",
                stub.MarkItemsRead(pb.MarkItemsReadRequest(cursors=[0]), metadata=member_auth(m)),
            ),
            (
                "preferences.wechat_openid",
                stub.SetDeliveryPreferences(
                    pb.SetDeliveryPreferencesRequest(
                        preferences=pb.DeliveryPreferences(wechat=True, wechat_openid="bad id!")
                    ),
                    metadata=member_auth(m),
                ),
            ),
        ]
        for field, call in cases:
            with pytest.raises(grpc.RpcError) as e:
                if isinstance(call, aio.UnaryStreamCall):
                    async for _ in call:
                        pass
                else:
                    await call
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert field in bad_request_fields(e.value)  # type: ignore[arg-type]


async def test_staff_have_an_inbox_but_no_channels_to_set(rt: NotificationsRuntime) -> None:
    staff = auth(token(Settings(), Role.COMMUNITY_STAFF, ref("acc"), communities=(C,)))
    async with stub_for(rt.port) as stub:
        assert (await stub.ListInboxItems(pb.ListInboxItemsRequest(), metadata=staff)).items == []
        with pytest.raises(grpc.RpcError) as e:
            await stub.SetDeliveryPreferences(
                pb.SetDeliveryPreferencesRequest(preferences=pb.DeliveryPreferences(sms=True)),
                metadata=staff,
            )
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_linli_inbox_lists_and_marks_the_callers_own_items(
    rt: NotificationsRuntime, js: object
) -> None:
    from tests.integration.cli_support import linli

    m = ref("m")
    await publish(js, *awards(m, 2))  # type: ignore[arg-type]
    await eventually(lambda: _n_written(rt, m, 2), "two items written")
    env = {
        "LINLI_NOTIFICATIONS_ADDRESS": f"127.0.0.1:{rt.port}",
        "LINLI_TOKEN": token(Settings(), Role.MEMBER, m),
    }
    code, out, err = await linli("inbox", "list", env=env)
    assert code == 0, err
    assert "points_earned" in out and "2 shown, 2 unread" in out
    code, out, err = await linli("inbox", "read", "--all", env=env)
    assert (code, out.strip()) == (0, "2 marked read"), err
    code, out, _ = await linli("--output", "json", "inbox", "list", "--unread", env=env)
    assert code == 0 and '"unread": 0' in out


async def _n_written(rt: NotificationsRuntime, member: str, n: int) -> bool:
    return len(await written(rt, member)) >= n
