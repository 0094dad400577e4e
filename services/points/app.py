"""The points service's composition root: settings, servers and a clock in, a runnable service
out."""

from __future__ import annotations

from pathlib import Path

from grpc import aio

from linli.v1 import points_pb2, points_pb2_grpc
from services.common.clock import Clock, system_clock
from services.common.eventbus import Consumer, KeyRing, Outbox
from services.common.runtime import Periodic, ServiceRuntime, Worker
from services.common.settings import PointsSettings
from services.points import events
from services.points.api import STAFF_ONLY, PointsApi
from services.points.handlers import table
from services.points.service import Points
from services.points.store.postgres import PostgresStore

SCHEMA = "points"
MIGRATIONS = Path(__file__).parent / "migrations"


class PointsRuntime(ServiceRuntime):
    """The runtime, with the use cases at hand."""

    points: Points


def build(
    settings: PointsSettings, database_url: str, nats_url: str, clock: Clock = system_clock
) -> PointsRuntime:
    def register(server: aio.Server, rt: ServiceRuntime) -> list[str]:
        assert isinstance(rt, PointsRuntime)
        store = PostgresStore(rt.pool, Outbox(events.SERVICE))
        rt.points = Points(store, settings, clock)
        points_pb2_grpc.add_PointsServiceServicer_to_server(PointsApi(rt.points), server)
        return [points_pb2.DESCRIPTOR.services_by_name["PointsService"].full_name]

    def workers(rt: ServiceRuntime) -> list[Worker]:
        assert isinstance(rt, PointsRuntime)
        handlers = table(rt.points)
        return [
            Consumer(
                rt.pool,
                rt.js,
                stream=settings.stream_name,
                durable=settings.durable,
                subjects=events.CONSUMED,
                handler=handlers.apply,
                after=handlers.after,
                keys=KeyRing.from_settings(settings),
                batch=256,
            ),
            # The yearly reset (where the settings ask for one), on the service's clock.
            Periodic("points year end", rt.points.year_end, settings.year_end_check_s),
        ]

    return PointsRuntime(
        settings=settings,
        staff_only=STAFF_ONLY,
        schema=SCHEMA,
        migrations_dir=MIGRATIONS,
        register=register,
        workers=workers,
        database_url=database_url,
        nats_url=nats_url,
    )
