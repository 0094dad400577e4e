"""Servers for the test session: real PostgreSQL and NATS JetStream, started once.

When LINLI_DATABASE_URL and LINLI_NATS_URL are set, those servers are used; otherwise both come
from their wheels (dev/localinfra.py) under .linli/test-<pid>/. Each session works in
a database of its own, so nothing a test leaves behind meets another session.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# Tests start and stop PostgreSQL (as its own user, so by fork and exec) from a process whose
# gRPC threads are busy; gRPC's fork handlers can then leave the child hung before its exec.
# Nothing here forks to run gRPC, so the handlers are not needed. Read when grpc is imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
# The services under test accept development tokens (HS256, `issue_token`) as on a developer's
# machine; tests of production settings pass dev_mode=False themselves.
os.environ.setdefault("LINLI_DEV_MODE", "true")

import asyncpg
import pytest
from hypothesis import HealthCheck, settings

from dev.localinfra import NatsServer, PostgresServer

ROOT = Path(__file__).resolve().parent.parent

# Property tests judge outcomes, never time: on a shared machine a draw may take longer than
# Hypothesis's 200 ms deadline, which then fails a test that found nothing wrong.
settings.register_profile(
    "linli", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("linli")


@dataclass(frozen=True)
class Servers:
    database_url: str
    nats_url: str
    admin_url: str


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    db_url = os.environ.get("LINLI_DATABASE_URL")
    nats_url = os.environ.get("LINLI_NATS_URL")
    started: list[PostgresServer | NatsServer] = []
    state = ROOT / ".linli" / f"test-{os.getpid()}"
    try:
        if not db_url:
            # Throwaway databases: speed over durability (the fault tests start durable ones).
            pg = PostgresServer.start(state / "pg", durable=False)
            started.append(pg)
            db_url = pg.url
        if not nats_url:
            nats = NatsServer.start(state / "nats")
            started.append(nats)
            nats_url = nats.url
        yield Servers(database_url=_fresh_database(db_url), nats_url=nats_url, admin_url=db_url)
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(state, ignore_errors=True)


def _fresh_database(url: str) -> str:
    import asyncio

    name = f"linli_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
async def db(servers: Servers) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(servers.database_url, min_size=1, max_size=4)
    assert pool is not None
    yield pool
    await pool.close()
