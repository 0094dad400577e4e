"""The task service's use cases on the in-memory store, with a clock the test moves."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.common.settings import TasksSettings
from services.tasks.service import Tasks
from services.tasks.store.memory import MemoryTaskStore

# A Monday morning: windows a few days ahead lie well inside every horizon.
START = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@dataclass
class World:
    store: MemoryTaskStore = field(default_factory=MemoryTaskStore)
    clock: Clock = field(default_factory=Clock)

    @property
    def tasks(self) -> Tasks:
        settings = TasksSettings(grpc_port=0, proposal_ttl_s=3600, role_horizon_days=14)
        return Tasks(self.store, settings, self.clock)

    def subjects(self) -> list[str]:
        return [subject for subject, _ in self.store.outbox]
