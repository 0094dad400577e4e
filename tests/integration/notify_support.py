"""The notifications service under test: a runtime on a free port with a fast schedule, events
published to the stream as their services publish them (sealed, with their id as Nats-Msg-Id),
and a follower that reconnects with its last cursor."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
from grpc import aio
from nats.js import JetStreamContext

from linli.v1 import notifications_pb2 as pb
from linli.v1 import notifications_pb2_grpc
from services.common import eventbus
from services.common.auth import Role
from services.common.settings import NotificationsSettings, Settings
from services.common.sms import SmsSender
from services.notifications.app import NotificationsRuntime, build
from tests import notify_events as ev
from tests.integration.runtime_support import eventually
from tests.support import auth, token

KEYS = eventbus.KeyRing.from_settings(Settings())


def settings(**changes: object) -> NotificationsSettings:
    values: dict[str, object] = {
        "grpc_port": 0,
        "metrics_port": -1,
        "health_check_interval_s": 0.2,
        "scheduler_interval_s": 0.2,
        "follow_poll_s": 1.0,
        "shutdown_grace_s": 1.0,
        "delivery_backoff_s": 0.1,
        "delivery_backoff_max_s": 0.5,
        # Every item pushed: these tests are about the stream, not fatigue.
        "daily_budget": 1000,
        "quiet_start": "00:00",
        "quiet_end": "00:00",
    }
    return NotificationsSettings(**(values | changes))  # type: ignore[arg-type]


async def start(
    s: NotificationsSettings, database_url: str, nats_url: str, sms: SmsSender | None = None
) -> NotificationsRuntime:
    """A started runtime whose consumer has caught up with the stream as it stood: in a session
    that ran other tests first the stream holds thousands of their events, which a new durable
    consumer reads from the beginning before the test's own."""
    rt = build(s, database_url, nats_url, sms=sms)
    await rt.start()

    async def caught_up() -> bool:
        try:
            info = await rt.js.consumer_info(s.stream_name, s.durable)
        except Exception:  # noqa: BLE001 (not bound yet)
            return False
        return info.num_pending == 0 and info.num_ack_pending == 0

    await eventually(caught_up, "the notifications consumer caught up", timeout=600)
    return rt


async def publish(js: JetStreamContext, *events: ev.Event) -> None:
    for subject, payload in events:
        env = ev.env(subject, payload)
        sealed = eventbus.seal(env, KEYS)
        await js.publish(
            subject, sealed.SerializeToString(), headers={"Nats-Msg-Id": env.id}, stream="LINLI"
        )


def member_auth(member_id: str) -> tuple[tuple[str, str], ...]:
    return auth(token(Settings(), Role.MEMBER, member_id))


class Follower:
    """Follows a member's inbox, reconnecting with the last cursor seen whenever the stream
    ends (a service restarted, a connection lost), until stopped."""

    def __init__(self, member_id: str) -> None:
        self.member_id = member_id
        self.port = 0
        self.seen: list[pb.InboxItem] = []
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def cursors(self) -> list[int]:
        return [i.cursor for i in self.seen]

    async def _run(self) -> None:
        while True:
            try:
                async with aio.insecure_channel(f"127.0.0.1:{self.port}") as ch:
                    stub = notifications_pb2_grpc.NotificationServiceStub(ch)
                    after = self.seen[-1].cursor if self.seen else 0
                    call = stub.FollowInbox(
                        pb.FollowInboxRequest(after_cursor=after),
                        metadata=member_auth(self.member_id),
                    )
                    async for answer in call:
                        self.seen.append(answer.item)
            except grpc.RpcError:
                pass
            self.reconnects += 1
            await asyncio.sleep(0.2)

    def start(self, port: int) -> None:
        self.port = port
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@contextlib.asynccontextmanager
async def stub_for(port: int) -> AsyncIterator[notifications_pb2_grpc.NotificationServiceStub]:
    async with aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield notifications_pb2_grpc.NotificationServiceStub(ch)
