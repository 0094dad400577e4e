"""The notifications service's composition root."""

from __future__ import annotations

from pathlib import Path

from grpc import aio

from linli.v1 import notifications_pb2, notifications_pb2_grpc
from services.common.clock import Clock, system_clock
from services.common.eventbus import Consumer, KeyRing
from services.common.runtime import Periodic, ServiceRuntime, Worker
from services.common.settings import NotificationsSettings
from services.common.sms import SmsSender
from services.common.sms.build import build_sms
from services.notifications import events
from services.notifications.api import STAFF_ONLY, NotificationsApi
from services.notifications.channels import Channel
from services.notifications.channels.sms import SmsChannel
from services.notifications.channels.wechat import WeChatChannel
from services.notifications.handlers import table
from services.notifications.service import Notifications
from services.notifications.service.schedule import Schedule
from services.notifications.store.listener import InboxListener
from services.notifications.store.postgres import PostgresStore

SCHEMA = "notifications"
MIGRATIONS = Path(__file__).parent / "migrations"


class NotificationsRuntime(ServiceRuntime):
    """The runtime, with the use cases and the schedule at hand."""

    notifications: Notifications
    schedule: Schedule

    async def stop(self, grace: float | None = None) -> None:
        # Inbox streams never finish by themselves: end them first (UNAVAILABLE, to resume from
        # their cursor), so that the stop does not wait its grace period for them.
        if getattr(self, "notifications", None) is not None:
            self.notifications.stopping.set()
        await super().stop(grace)


def channels_of(settings: NotificationsSettings, sms: SmsSender | None) -> dict[str, Channel]:
    """The channels the settings configure: SMS always (the `log` provider in development),
    WeChat when an appid is set."""
    sender = sms or build_sms(settings.sms, dev_mode=settings.dev_mode, needs=())
    out: dict[str, Channel] = {"sms": SmsChannel(sender, settings.sms)}
    if settings.wechat.appid:
        out["wechat"] = WeChatChannel(settings.wechat)
    return out


def build(
    settings: NotificationsSettings,
    database_url: str,
    nats_url: str,
    sms: SmsSender | None = None,
    clock: Clock = system_clock,
) -> NotificationsRuntime:
    channels = channels_of(settings, sms)

    def register(server: aio.Server, rt: ServiceRuntime) -> list[str]:
        assert isinstance(rt, NotificationsRuntime)
        rt.notifications = Notifications(PostgresStore(rt.pool), settings, clock)
        rt.schedule = Schedule(rt.notifications, channels)
        notifications_pb2_grpc.add_NotificationServiceServicer_to_server(
            NotificationsApi(rt.notifications), server
        )
        for channel in channels.values():
            rt.on_stop.append(channel.aclose)
        return [notifications_pb2.DESCRIPTOR.services_by_name["NotificationService"].full_name]

    def workers(rt: ServiceRuntime) -> list[Worker]:
        assert isinstance(rt, NotificationsRuntime)
        n = rt.notifications
        return [
            Consumer(
                rt.pool,
                rt.js,
                stream=settings.stream_name,
                durable=settings.durable,
                subjects=events.CONSUMED,
                handler=table(n).apply,
                keys=KeyRing.from_settings(settings),
                tracer=rt.tracer,
                batch=512,
            ),
            InboxListener(database_url, n.wakeups.wake, n.wakeups.wake_all),
            Periodic("reminders", rt.schedule.remind, settings.scheduler_interval_s),
            Periodic("digests", rt.schedule.digest, settings.scheduler_interval_s),
            Periodic("deliveries", rt.schedule.deliver, settings.scheduler_interval_s),
        ]

    return NotificationsRuntime(
        settings=settings,
        staff_only=STAFF_ONLY,
        schema=SCHEMA,
        migrations_dir=MIGRATIONS,
        register=register,
        workers=workers,
        database_url=database_url,
        nats_url=nats_url,
    )
