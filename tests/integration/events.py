"""Reading what reached the LINLI stream, for assertions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nats.js import JetStreamContext, api

from linli.v1 import events_pb2
from services.common import eventbus
from services.common.settings import Settings

# The key ring every service in the tests seals with (the settings' development default).
KEYS = eventbus.KeyRing.from_settings(Settings())


async def read_events(
    js: JetStreamContext, subject: str, stream: str = "LINLI"
) -> list[events_pb2.EventEnvelope]:
    """Every event on `subject` now in the stream (an ephemeral consumer from the start),
    unsealed as a consumer sees it."""
    sub = await js.pull_subscribe(
        subject,
        stream=stream,
        config=api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=10.0,
        ),
    )
    out: list[events_pb2.EventEnvelope] = []
    try:
        while True:
            try:
                msgs = await sub.fetch(1000, timeout=0.5)
            except TimeoutError:  # nats.errors.TimeoutError, or a bare one from fetch()
                break
            for m in msgs:
                env = events_pb2.EventEnvelope()
                env.ParseFromString(m.data)
                out.append(eventbus.unseal(env, KEYS))
    finally:
        await sub.unsubscribe()
    return out


async def wait_for_events(
    js: JetStreamContext,
    subject: str,
    match: Callable[[events_pb2.EventEnvelope], bool],
    count: int,
    timeout: float = 10.0,
) -> list[events_pb2.EventEnvelope]:
    """Wait until at least `count` matching events are on the stream, then give stragglers a
    moment and return every match (so a test can see duplicates too)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [e for e in await read_events(js, subject) if match(e)]
        if len(found) >= count:
            await asyncio.sleep(0.3)
            return [e for e in await read_events(js, subject) if match(e)]
        if asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)
