"""The task service's composition root: settings, servers and a clock in, a runnable service out."""

from __future__ import annotations

from pathlib import Path

from grpc import aio

from linli.v1 import attendance_pb2_grpc, tasks_pb2, tasks_pb2_grpc
from services.common import subjects
from services.common.clock import Clock, system_clock
from services.common.eventbus import Consumer, KeyRing, Outbox
from services.common.runtime import Periodic, ServiceRuntime, Worker
from services.common.settings import TasksSettings
from services.tasks import attendance_api, events
from services.tasks.api import STAFF_ONLY, TasksApi
from services.tasks.attendance import AttendanceCases
from services.tasks.handlers import event_table
from services.tasks.queries import TaskQueries
from services.tasks.service import Tasks
from services.tasks.store import TaskStore

SCHEMA = "tasks"
MIGRATIONS = Path(__file__).parent / "migrations"


class TasksRuntime(ServiceRuntime):
    """The runtime, with the use cases at hand (tests and the demo drive `tasks.sweep`)."""

    tasks: Tasks
    queries: TaskQueries
    attendance: AttendanceCases


def build(
    settings: TasksSettings, database_url: str, nats_url: str, clock: Clock = system_clock
) -> TasksRuntime:
    def register(server: aio.Server, rt: ServiceRuntime) -> list[str]:
        assert isinstance(rt, TasksRuntime)
        store = TaskStore(rt.pool, Outbox(events.SERVICE))
        rt.tasks = Tasks(store, settings, clock)
        rt.queries = TaskQueries(store, settings, clock)
        tasks_pb2_grpc.add_TaskServiceServicer_to_server(TasksApi(rt.tasks, rt.queries), server)
        # Check-in and hours: their own API surface, served by the same process and store.
        rt.attendance = AttendanceCases(store, settings, clock)
        attendance_pb2_grpc.add_AttendanceServiceServicer_to_server(
            attendance_api.AttendanceApi(rt.attendance), server
        )
        return [
            tasks_pb2.DESCRIPTOR.services_by_name["TaskService"].full_name,
            attendance_api.SERVICE_NAME,
        ]

    def workers(rt: ServiceRuntime) -> list[Worker]:
        assert isinstance(rt, TasksRuntime)
        table = event_table(rt.tasks.store, settings, clock)
        return [
            Consumer(
                rt.pool,
                rt.js,
                stream=settings.stream_name,
                durable="tasks",
                subjects=[
                    subjects.COMMUNITY_CREATED,
                    subjects.MEMBER_EVENTS,
                    subjects.PROPOSAL_MADE,
                ],
                handler=table.apply,
                keys=KeyRing.from_settings(settings),
                tracer=rt.tracer,
            ),
            # Units in their own durable consumer: the one above keeps its subjects as they were.
            Consumer(
                rt.pool,
                rt.js,
                stream=settings.stream_name,
                durable="tasks-units",
                subjects=[subjects.UNIT_CREATED],
                handler=table.apply,
                keys=KeyRing.from_settings(settings),
                tracer=rt.tracer,
            ),
            Periodic("tasks sweep", rt.tasks.sweep, settings.sweep_interval_s),
            # Confirm or release, and places still empty close to the start.
            Periodic("tasks reminders", rt.tasks.remind, settings.reminder_interval_s),
        ]

    return TasksRuntime(
        settings=settings,
        staff_only=STAFF_ONLY | attendance_api.STAFF_ONLY,
        schema=SCHEMA,
        migrations_dir=MIGRATIONS,
        register=register,
        workers=workers,
        database_url=database_url,
        nats_url=nats_url,
    )
