"""The registry's PostgreSQL store: the organisation's and the members' tables (and members'
erasure) behind one interface. Every write runs in one transaction with its events' rows."""

from __future__ import annotations

import asyncpg

from services.common.eventbus import Outbox
from services.registry.store.erasure import ErasureRows
from services.registry.store.org import OrgRows


class PostgresRegistryStore(ErasureRows, OrgRows):
    def __init__(self, pool: asyncpg.Pool, outbox: Outbox) -> None:
        self._pool = pool
        self._outbox = outbox
