"""The affairs service's composition root."""

from __future__ import annotations

from pathlib import Path

from grpc import aio

from linli.v1 import affairs_pb2, affairs_pb2_grpc
from services.affairs import events
from services.affairs.api import STAFF_ONLY, AffairsApi
from services.affairs.domain.deadlines import DeadlineTable
from services.affairs.handlers import table
from services.affairs.service import Affairs
from services.affairs.store.postgres import PostgresStore
from services.common.clock import Clock, system_clock
from services.common.eventbus import Consumer, KeyRing, Outbox
from services.common.runtime import Periodic, ServiceRuntime, Worker
from services.common.settings import AffairsSettings

SCHEMA = "affairs"
MIGRATIONS = Path(__file__).parent / "migrations"


class AffairsRuntime(ServiceRuntime):
    """The runtime, with the use cases at hand."""

    affairs: Affairs


def build(
    settings: AffairsSettings,
    database_url: str,
    nats_url: str,
    clock: Clock = system_clock,
) -> AffairsRuntime:
    deadlines = DeadlineTable.from_settings(settings.deadlines)

    def register(server: aio.Server, rt: ServiceRuntime) -> list[str]:
        assert isinstance(rt, AffairsRuntime)
        store = PostgresStore(rt.pool, Outbox(events.SERVICE))
        rt.affairs = Affairs(store, deadlines, clock)
        affairs_pb2_grpc.add_AffairsServiceServicer_to_server(AffairsApi(rt.affairs), server)
        return [affairs_pb2.DESCRIPTOR.services_by_name["AffairsService"].full_name]

    def workers(rt: ServiceRuntime) -> list[Worker]:
        assert isinstance(rt, AffairsRuntime)
        return [
            Consumer(
                rt.pool,
                rt.js,
                stream=settings.stream_name,
                durable=settings.durable,
                subjects=events.CONSUMED,
                handler=table(rt.affairs).apply,
                keys=KeyRing.from_settings(settings),
            ),
            # Items past their time limit: flagged once each, with ItemOverdue.
            Periodic("overdue items", rt.affairs.sweep_overdue, settings.overdue_sweep_s),
        ]

    return AffairsRuntime(
        settings=settings,
        staff_only=STAFF_ONLY,
        schema=SCHEMA,
        migrations_dir=MIGRATIONS,
        register=register,
        workers=workers,
        database_url=database_url,
        nats_url=nats_url,
    )
