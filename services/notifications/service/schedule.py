"""What the service does by the clock: reminders before accepted tasks, digests of what fatigue
held, and deliveries on the members' channels (each a supervised periodic job)."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from datetime import datetime, timedelta

from services.common import metrics
from services.notifications.channels import Channel
from services.notifications.domain import fatigue, notices, reminders
from services.notifications.domain.items import Kind, Notice, Resource
from services.notifications.service import Notifications
from services.notifications.store import Job, Outcome

log = logging.getLogger(__name__)

# Deliveries sent per tick at most (the rest wait for the next one).
DELIVERIES_PER_TICK = 200


class Schedule:
    def __init__(self, notifications: Notifications, channels: Mapping[str, Channel]) -> None:
        self.n = notifications
        self.store = notifications.store
        self.channels = dict(channels)

    async def remind(self) -> int:
        """Write each reminder now due; returns how many were written."""
        s = self.n.settings
        now = self.n.clock()
        offsets = s.remind_before_s
        horizon = now + timedelta(seconds=max(offsets))
        written = 0
        for place, done in await self.store.accepted_starting(now, horizon):
            due = reminders.due(place, offsets, now, done)
            if due is None:
                continue
            notice = None
            if due.offset_s is not None:
                notice = await self._reminder(place, due.offset_s)
                written += 1
            done_now = [*due.skipped, *([due.offset_s] if due.offset_s is not None else [])]
            await self.store.remind(place, done_now, notice, now, self.n.decide)
        return written

    async def _reminder(self, place: reminders.Accepted, offset_s: int) -> Notice:
        async with self.store.transaction() as tx:
            task = await self.store.task(tx, place.task_id)
        return notices.to_member(
            place.member_id,
            Kind.REMINDER,
            reminders.key(place, offset_s),
            notices.task_facts(task, exact=True),
            Resource(task_id=place.task_id, assignment_id=place.assignment_id),
        )

    async def digest(self) -> int:
        """Fold what each member's inbox holds into one digest where fatigue allows it now."""
        f = self.n.fatigue
        now = self.n.clock()
        folded = 0
        for inbox_id in await self.store.holding():
            item = await self.store.fold(
                inbox_id, now, lambda p: fatigue.digest_due(f, p, now), fatigue.fold
            )
            folded += item is not None
        return folded

    def _retry_at(self, attempts: int) -> datetime:
        s = self.n.settings
        pause = min(s.delivery_backoff_s * 2 ** (attempts - 1), s.delivery_backoff_max_s)
        return self.n.clock() + timedelta(seconds=pause * random.uniform(0.8, 1.2))

    async def _send(self, job: Job) -> tuple[Outcome, str]:
        channel = self.channels.get(job.channel)
        if channel is None:
            outcome, why = Outcome.DROPPED, f"channel {job.channel} is not configured"
        else:
            outcome, why = await channel.send(job)
        metrics.NOTIFICATION_DELIVERIES.labels(job.channel, outcome.value).inc()
        if outcome != Outcome.SENT:
            log.info("delivery on %s: %s (%s)", job.channel, outcome.value, why)
        return outcome, why

    async def deliver(self) -> int:
        """Send the deliveries now due; returns how many were tried."""
        s = self.n.settings
        tried = 0
        while tried < DELIVERIES_PER_TICK and await self.store.deliver_one(
            self.n.clock(), self._send, self._retry_at, s.delivery_attempts
        ):
            tried += 1
        return tried
