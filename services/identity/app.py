"""The identity service's composition root."""

from __future__ import annotations

from pathlib import Path

from grpc import aio

from linli.v1 import identity_pb2, identity_pb2_grpc
from services.common.clock import Clock, system_clock
from services.common.eventbus import Consumer, KeyRing, Outbox
from services.common.runtime import Periodic, ServiceRuntime, Worker
from services.common.settings import IdentitySettings
from services.common.sms import SIGN_IN_CODE, SmsSender
from services.common.sms.build import build_sms
from services.identity import events
from services.identity.api import PUBLIC, STAFF_ONLY, IdentityApi
from services.identity.handlers import table
from services.identity.jwks_http import JwksHttp
from services.identity.service import Identity
from services.identity.store.postgres import PostgresStore

SCHEMA = "identity"
MIGRATIONS = Path(__file__).parent / "migrations"


class IdentityRuntime(ServiceRuntime):
    """The runtime, with the use cases and the JWKS over HTTP at hand."""

    identity: Identity
    http: JwksHttp


def build(
    settings: IdentitySettings,
    database_url: str,
    nats_url: str,
    sms: SmsSender | None = None,
    clock: Clock = system_clock,
) -> IdentityRuntime:
    # The provider of the settings (LINLI_SMS__*, docs/sms.md); the `log` one shows the code only
    # on a developer's machine.
    sender = sms or build_sms(settings.sms, dev_mode=settings.dev_mode, needs=(SIGN_IN_CODE,))
    holder: dict[str, Identity] = {}

    async def verify(token: str):  # type: ignore[no-untyped-def]
        return await holder["identity"].tokens.verify(token)

    def register(server: aio.Server, rt: ServiceRuntime) -> list[str]:
        assert isinstance(rt, IdentityRuntime)
        store = PostgresStore(rt.pool, Outbox(events.SERVICE))
        rt.identity = holder["identity"] = Identity(store, settings, sender, clock)
        identity_pb2_grpc.add_IdentityServiceServicer_to_server(IdentityApi(rt.identity), server)
        return [identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name]

    def workers(rt: ServiceRuntime) -> list[Worker]:
        assert isinstance(rt, IdentityRuntime)
        return [
            Consumer(
                rt.pool,
                rt.js,
                stream=settings.stream_name,
                durable=settings.durable,
                subjects=events.CONSUMED,
                handler=table(rt.identity.store, clock).apply,
                keys=KeyRing.from_settings(settings),
                batch=512,
            ),
            # Another replica may have rotated the keys: pick up the new active one.
            Periodic("signing keys", rt.identity.tokens.reload, settings.key_reload_s),
        ]

    async def ready(rt: ServiceRuntime) -> None:
        assert isinstance(rt, IdentityRuntime)
        await rt.identity.tokens.ensure_key()
        rt.http = JwksHttp(rt.identity.tokens.jwks)
        await rt.http.start(settings.identity_http_host, settings.identity_http_port)
        rt.on_stop.append(rt.http.stop)

    return IdentityRuntime(
        settings=settings,
        staff_only=STAFF_ONLY,
        public=PUBLIC,
        token_check=verify,
        schema=SCHEMA,
        migrations_dir=MIGRATIONS,
        register=register,
        workers=workers,
        database_url=database_url,
        nats_url=nats_url,
        ready=ready,
    )
