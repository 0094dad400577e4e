"""The matching service's store on PostgreSQL (its schema on the pool's search path)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from services.common.eventbus import Outbox
from services.matching.store.erasure import ErasureTables
from services.matching.store.readmodel import ReadModelTables
from services.matching.store.runs import RunTables


class PostgresStore(ReadModelTables, RunTables, ErasureTables):
    def __init__(self, pool: asyncpg.Pool, outbox: Outbox) -> None:
        self._pool = pool
        self._outbox = outbox

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn
