"""The registry's composition root: settings and servers in, a runnable service out."""

from __future__ import annotations

import logging
from pathlib import Path

from grpc import aio

from linli.v1 import registry_pb2, registry_pb2_grpc
from services.common.clock import Clock, system_clock
from services.common.eventbus import Consumer, Outbox, delete_from_stream
from services.common.eventkeys import KeyRing
from services.common.runtime import Periodic, ServiceRuntime, Worker
from services.common.settings import RegistrySettings
from services.common.sms import PHONE_CHANGE_CODE, PHONE_TAKEN_NOTICE, SmsSender
from services.common.sms.build import SmsConfigError, build_sms
from services.common.subjects import MEMBER_ERASED, REGISTRY, everything
from services.registry import events
from services.registry.api import STAFF_ONLY, RegistryApi
from services.registry.handlers import event_table
from services.registry.service import Registry
from services.registry.store import PostgresRegistryStore

log = logging.getLogger(__name__)

SCHEMA = "registry"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(
    settings: RegistrySettings,
    database_url: str,
    nats_url: str,
    sms: SmsSender | None = None,
    clock: Clock = system_clock,
) -> ServiceRuntime:
    """`sms` replaces the SMS adapter the settings choose (tests pass their own); `clock` is the
    service's time (moved in dev mode and by tests), which ends certificates."""
    if sms is None:
        try:
            sms = build_sms(
                settings.sms,
                dev_mode=settings.dev_mode,
                needs=(PHONE_CHANGE_CODE, PHONE_TAKEN_NOTICE),
            )
        except SmsConfigError as e:
            raise SystemExit(str(e)) from None
        if settings.sms.provider == "log" and not settings.dev_mode:
            log.warning(
                "LINLI_SMS__PROVIDER is log: phone change codes are logged without the code "
                "and never delivered"
            )
    sender = sms

    def register(server: aio.Server, rt: ServiceRuntime) -> list[str]:
        store = PostgresRegistryStore(rt.pool, Outbox(REGISTRY))
        rt.sms = sender  # type: ignore[attr-defined]  # for tests reading the kept messages
        closer = getattr(sender, "aclose", None)
        if closer is not None:
            rt.on_stop.append(closer)
        rt.store = store  # type: ignore[attr-defined]  # for tests watching its work
        rt.registry = Registry(store, settings, sender, clock)  # type: ignore[attr-defined]
        registry_pb2_grpc.add_RegistryServiceServicer_to_server(
            RegistryApi(rt.registry),  # type: ignore[attr-defined]
            server,
        )
        return [registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name]

    def workers(rt: ServiceRuntime) -> list[Worker]:
        keys = KeyRing.from_settings(settings)

        async def forget_on_stream(member_id: str) -> int:
            return await delete_from_stream(
                rt.js,
                settings.stream_name,
                # The members' snapshots and their certificates' events.
                everything(REGISTRY),
                keys,
                lambda env: events.about(env, member_id),
            )

        return [
            Consumer(
                rt.pool,
                rt.js,
                stream=settings.stream_name,
                durable="registry-erasure",
                subjects=[MEMBER_ERASED],
                handler=event_table(forget_on_stream).apply,
                keys=keys,
            ),
            Periodic(
                "certificate expiry",
                rt.registry.sweep_certificates,  # type: ignore[attr-defined]
                settings.certificate_sweep_interval_s,
            ),
        ]

    return ServiceRuntime(
        settings=settings,
        staff_only=STAFF_ONLY,
        schema=SCHEMA,
        migrations_dir=MIGRATIONS,
        register=register,
        workers=workers,
        database_url=database_url,
        nats_url=nats_url,
    )
