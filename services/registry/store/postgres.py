"""The registry's PostgreSQL store: the organisation's and the members' tables behind one
interface. Every write runs in one transaction together with the outbox rows of its events."""

from __future__ import annotations

import asyncpg

from services.common.eventbus import Outbox
from services.registry.store.members import MemberRows
from services.registry.store.org import OrgRows


class PostgresRegistryStore(MemberRows, OrgRows):
    def __init__(self, pool: asyncpg.Pool, outbox: Outbox) -> None:
        self._pool = pool
        self._outbox = outbox
