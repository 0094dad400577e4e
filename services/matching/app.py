"""The matching service's composition root."""

from __future__ import annotations

from pathlib import Path

from grpc import aio

from linli.v1 import matching_pb2, matching_pb2_grpc
from services.common.clock import Clock, system_clock
from services.common.eventbus import Consumer, KeyRing, Outbox
from services.common.runtime import Periodic, ServiceRuntime, Worker
from services.common.settings import MatchingSettings
from services.matching import events
from services.matching.api import STAFF_ONLY, MatchingApi
from services.matching.handlers import table
from services.matching.service import Matching
from services.matching.store.postgres import PostgresStore

SCHEMA = "matching"
MIGRATIONS = Path(__file__).parent / "migrations"


def standby_durable(settings: MatchingSettings) -> str:
    """The durable consumer of the standby lists, beside the main one."""
    return f"{settings.durable}-standby"


class MatchingRuntime(ServiceRuntime):
    """The runtime, with the use cases at hand."""

    matching: Matching


def build(
    settings: MatchingSettings, database_url: str, nats_url: str, clock: Clock = system_clock
) -> MatchingRuntime:
    def register(server: aio.Server, rt: ServiceRuntime) -> list[str]:
        assert isinstance(rt, MatchingRuntime)
        rt.matching = Matching(PostgresStore(rt.pool, Outbox(events.SERVICE)), settings, clock)
        matching_pb2_grpc.add_MatchingServiceServicer_to_server(MatchingApi(rt.matching), server)
        return [matching_pb2.DESCRIPTOR.services_by_name["MatchingService"].full_name]

    def workers(rt: ServiceRuntime) -> list[Worker]:
        assert isinstance(rt, MatchingRuntime)
        handlers = table(rt.matching)
        return [
            Consumer(
                rt.pool,
                rt.js,
                stream=settings.stream_name,
                durable=settings.durable,
                subjects=events.CONSUMED,
                handler=handlers.apply,
                keys=KeyRing.from_settings(settings),
                tracer=rt.tracer,
                after=handlers.after,
                batch=512,
            ),
            Consumer(
                rt.pool,
                rt.js,
                stream=settings.stream_name,
                durable=standby_durable(settings),
                subjects=events.CONSUMED_STANDBY,
                handler=handlers.apply,
                keys=KeyRing.from_settings(settings),
                tracer=rt.tracer,
                after=handlers.after,
            ),
            Periodic("lapsed matching runs", rt.matching.fail_lapsed_runs, settings.run_lease_s),
        ]

    return MatchingRuntime(
        settings=settings,
        staff_only=STAFF_ONLY,
        schema=SCHEMA,
        migrations_dir=MIGRATIONS,
        register=register,
        workers=workers,
        database_url=database_url,
        nats_url=nats_url,
        ready=lambda rt: rt.matching.load(),  # type: ignore[attr-defined]
    )
