"""The system for e2e tests: the three services as their own processes, as `make up` runs them,
on the session's PostgreSQL in a database of their own per test module, and on a NATS server of
their own per test module (a stream shared with earlier tests would hand a new consumer what
those tests published)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from dev import stack
from dev.localinfra import NatsServer, free_port
from services.common.settings import Settings
from tests.conftest import Servers


@dataclass(frozen=True)
class System:
    state: stack.StackState
    clock: Path  # the services' clock file (services/common/clock.py)

    def addresses(self) -> dict[str, str]:
        return {name: f"127.0.0.1:{info['port']}" for name, info in self.state.services.items()}


@pytest.fixture(scope="module")
def system(
    servers: Servers,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch_module: pytest.MonkeyPatch,
) -> Iterator[System]:
    name = f"linli_e2e_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect(servers.admin_url)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()

    asyncio.run(create())
    url = urlunsplit(urlsplit(servers.admin_url)._replace(path=f"/{name}"))
    for spec in stack.SERVICES:  # free ports: a developer's `make up` may hold the defaults
        monkeypatch_module.setenv(f"LINLI_{spec.name.upper()}_PORT", str(free_port()))
        monkeypatch_module.setenv(spec.metrics_port_setting, "0")
    monkeypatch_module.setenv("LINLI_CONSOLE_PORT", str(free_port()))
    monkeypatch_module.setenv("LINLI_CONSOLE_METRICS_PORT", "0")
    nats = NatsServer.start(tmp_path_factory.mktemp("nats"))
    settings = Settings(
        database_url=url, nats_url=nats.url, state_dir=str(tmp_path_factory.mktemp("stack"))
    )
    try:
        state = stack.up(settings, quiet=True)
        try:
            yield System(state, stack.state_dir(settings) / "clock")
        finally:
            stack.down(settings)
    finally:
        nats.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp
