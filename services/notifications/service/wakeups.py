"""Followers waiting for their inbox: each waits on an event that a write to its inbox sets
(from PostgreSQL's NOTIFY, whichever replica wrote it, or the store in memory)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

from services.common import metrics


class Wakeups:
    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = defaultdict(set)

    @contextmanager
    def watching(self, inbox_id: str) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiting[inbox_id].add(event)
        metrics.NOTIFICATION_FOLLOWERS.inc()
        try:
            yield event
        finally:
            metrics.NOTIFICATION_FOLLOWERS.dec()
            self._waiting[inbox_id].discard(event)
            if not self._waiting[inbox_id]:
                del self._waiting[inbox_id]

    def wake(self, inbox_id: str) -> None:
        for event in self._waiting.get(inbox_id, ()):
            event.set()

    def wake_all(self) -> None:
        """After a lost connection: any wake-up may have been missed, so everyone looks."""
        for events in self._waiting.values():
            for event in events:
                event.set()

    @property
    def followers(self) -> int:
        return sum(len(e) for e in self._waiting.values())
