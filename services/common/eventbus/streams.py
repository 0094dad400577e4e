"""The NATS connection and the JetStream stream that carries every Linli event."""

from __future__ import annotations

import logging
from collections.abc import Callable

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from linli.v1 import events_pb2
from services.common.eventbus.sealing import UnreadableEvent, unseal
from services.common.eventkeys import KeyRing
from services.common.streamspec import StreamSpec
from services.common.subjects import PREFIX as SUBJECT_PREFIX

log = logging.getLogger(__name__)


async def connect(url: str, name: str, **credentials: str) -> NatsClient:
    """A NATS connection that keeps reconnecting for as long as the process lives.

    `credentials` are nats.connect's (user and password, or user_credentials: a creds file).
    """

    async def on_error(e: Exception) -> None:
        log.warning("nats: %s", e)

    async def on_disconnect() -> None:
        log.warning("nats: disconnected")

    async def on_reconnect() -> None:
        log.info("nats: reconnected")

    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        allow_reconnect=True,
        connect_timeout=5,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        **credentials,  # type: ignore[arg-type]
    )


async def ensure_stream(js: JetStreamContext, stream: str | StreamSpec) -> None:
    """Create the stream that carries every Linli event, or bring an existing one to `stream`'s
    settings where NATS allows it (a name alone leaves an existing stream as it is)."""
    spec = StreamSpec(name=stream) if isinstance(stream, str) else stream
    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        await js.add_stream(spec.config([f"{SUBJECT_PREFIX}.>"]))
        return
    if isinstance(stream, str):
        return
    changed = spec.differs_from(info.config)
    if changed:
        log.warning("stream %s: updating %s to the configured values", spec.name, changed)
        await js.update_stream(spec.config(info.config.subjects or [f"{SUBJECT_PREFIX}.>"]))


async def delete_from_stream(
    js: JetStreamContext,
    stream: str,
    subjects: str,
    keys: KeyRing,
    about: Callable[[events_pb2.EventEnvelope], bool],
) -> int:
    """Delete from the stream every message on `subjects` (a wildcard) whose opened envelope
    `about` picks; how many. For erasure: the stream keeps a person's old snapshots as long as
    its limits allow, and a consumer created later would read them all.

    Deleting is safe for consumers: a message not yet delivered is skipped, and an erased
    member's snapshots only ever precede the erasure. A message that cannot be opened is left.
    """
    removed, seq = 0, 1
    while True:
        try:
            msg = await js.get_msg(stream, seq=seq, subject=subjects, next=True)
        except NotFoundError:
            return removed
        seq = (msg.seq or seq) + 1
        try:
            env = unseal(events_pb2.EventEnvelope.FromString(msg.data or b""), keys)
        except UnreadableEvent:
            continue
        if about(env) and await js.delete_msg(stream, seq - 1):
            removed += 1
