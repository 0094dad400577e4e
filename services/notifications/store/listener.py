"""Wake-ups across replicas: one connection per process LISTENs on the inboxes' channel and wakes
the followers of each inbox written, whichever replica wrote it. Supervised: a lost connection
(a database restart) ends the loop, which the supervisor starts again; every follower then looks
once, since wake-ups sent meanwhile were lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from services.notifications.store.inboxes import WAKE_CHANNEL

log = logging.getLogger(__name__)

# How often the connection is checked between notifications.
CHECK_S = 5.0


class InboxListener:
    name = "inbox wake-ups"

    def __init__(
        self, database_url: str, wake: Callable[[str], None], wake_all: Callable[[], None]
    ) -> None:
        self._url = database_url
        self._wake = wake
        self._wake_all = wake_all
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        conn = await asyncpg.connect(
            self._url, server_settings={"application_name": "linli-notifications-listen"}
        )
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _c: lost.set())
            await conn.add_listener(WAKE_CHANNEL, self._notified)
            self._wake_all()
            while not self._stopping.is_set() and not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(CHECK_S):
                        await self._stopping.wait()
                if not self._stopping.is_set():
                    await conn.fetchval("SELECT 1", timeout=CHECK_S)
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2.0)
        if lost.is_set() and not self._stopping.is_set():
            raise ConnectionError("the listening connection was lost")

    def _notified(self, _conn: asyncpg.Connection, _pid: int, _channel: str, payload: str) -> None:
        self._wake(payload)

    def stop(self) -> None:
        self._stopping.set()
