"""The task store under contract: the PostgreSQL store (on a schema of its own in the test
session's database) and the in-memory store, behind one fixture."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from services.common.eventbus import Outbox
from services.common.migrations import apply
from services.tasks import events
from services.tasks.app import MIGRATIONS
from services.tasks.store import TaskStore, TaskStorePort
from services.tasks.store.memory import MemoryTaskStore
from tests.conftest import Servers


@dataclass
class StoreUnderTest:
    store: TaskStorePort
    pool: asyncpg.Pool | None = None

    async def subjects(self) -> list[str]:
        """The subjects of every outbox row written so far, in order."""
        if self.pool is None:
            assert isinstance(self.store, MemoryTaskStore)
            return [subject for subject, _ in self.store.outbox]
        rows = await self.pool.fetch("SELECT subject FROM outbox ORDER BY seq")
        return [r["subject"] for r in rows]


@pytest.fixture(scope="session")
async def task_pool(servers: Servers) -> AsyncIterator[asyncpg.Pool]:
    schema = f"tasks_contract_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(servers.database_url)
    try:
        await apply(conn, schema, MIGRATIONS)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        servers.database_url,
        min_size=1,
        max_size=4,
        server_settings={"search_path": f'"{schema}", public'},
    )
    assert pool is not None
    yield pool
    await pool.close()


@pytest.fixture(params=["postgres", "memory"])
def under_test(request: pytest.FixtureRequest) -> StoreUnderTest:
    if request.param == "memory":
        return StoreUnderTest(MemoryTaskStore())
    pool = request.getfixturevalue("task_pool")
    return StoreUnderTest(TaskStore(pool, Outbox(events.SERVICE)), pool)
