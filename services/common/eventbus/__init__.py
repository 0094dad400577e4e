"""The event bus: transactional outbox, relay to NATS JetStream, and idempotent durable consumers.

- `Outbox.add` (outbox.py) writes an event row with the caller's connection, inside the caller's
  transaction, so the event exists exactly when the change it announces does.
- `OutboxRelay` (relay.py) publishes unsent rows in order to the stream with the event id as
  `Nats-Msg-Id` (JetStream drops a duplicate inside its window) and marks them sent only after the
  ack. While NATS or PostgreSQL is away it keeps the rows and retries with backoff; nothing is
  lost. When the stream comes back without its data (another creation time, or a sequence gone
  backwards) it publishes every outbox row still kept again.
- `Consumer` (consumer.py) pulls from a durable consumer, applies each event in a transaction that
  also records its id in the inbox (a redelivered event is acked and skipped), and acks after the
  commit.
- On the stream the payload travels sealed with AES-GCM under a key ring from the settings
  (sealing.py: `seal` / `unseal`); the relay seals, the consumer unseals before its handler.
- streams.py: the NATS connection and the stream's settings.
- the key ring itself is `services/common/eventkeys.py` (the settings check it when read).
"""

from services.common.eventbus.consumer import Consumer, Handler
from services.common.eventbus.outbox import Outbox, backlog, envelope, prune, rewrite
from services.common.eventbus.relay import OutboxRelay, StreamLost
from services.common.eventbus.sealing import NONCE_BYTES, UnreadableEvent, seal, unseal
from services.common.eventbus.streams import connect, delete_from_stream, ensure_stream
from services.common.eventkeys import KEY_BYTES, EventKeyError, KeyRing

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "Consumer",
    "EventKeyError",
    "Handler",
    "KeyRing",
    "Outbox",
    "OutboxRelay",
    "StreamLost",
    "UnreadableEvent",
    "backlog",
    "connect",
    "delete_from_stream",
    "ensure_stream",
    "envelope",
    "prune",
    "rewrite",
    "seal",
    "unseal",
]
