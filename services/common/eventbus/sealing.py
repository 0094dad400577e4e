"""Event payloads sealed with AES-256-GCM on the stream: the key ring from the settings, `seal`
(the relay) and `unseal` (the consumer)."""

from __future__ import annotations

import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf import any_pb2
from google.protobuf import message as pb_message

from linli.v1 import events_pb2
from services.common.eventkeys import KeyRing

NONCE_BYTES = 12


class UnreadableEvent(Exception):
    """An event this process cannot open. `retry` when a key it lacks may yet arrive (a rotation
    rolled out in the wrong order); never for a payload that is not sealed or does not
    authenticate."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.retry = retry


def _associated_data(env: events_pb2.EventEnvelope) -> bytes:
    """What the seal binds the payload to, so that no sealed payload can be moved to another
    event, subject, source, position, time or actor."""
    return json.dumps(
        [
            env.id,
            env.type,
            env.subject,
            env.source,
            env.source_seq,
            env.time.seconds,
            env.time.nanos,
            env.actor.SerializeToString(deterministic=True).hex(),
        ],
        separators=(",", ":"),
    ).encode()


def seal(env: events_pb2.EventEnvelope, keys: KeyRing) -> events_pb2.EventEnvelope:
    """Move the envelope's payload into `sealed_payload`, encrypted with the ring's write key."""
    if not env.HasField("payload"):
        raise ValueError("the envelope has no payload to seal")
    nonce = os.urandom(NONCE_BYTES)  # random 96-bit nonces: fine far beyond 2**32 events a key
    plain = env.payload.SerializeToString()
    env.ClearField("payload")
    env.key_id = keys.write_key_id
    env.nonce = nonce
    env.sealed_payload = AESGCM(keys.keys[keys.write_key_id]).encrypt(
        nonce, plain, _associated_data(env)
    )
    return env


def unseal(env: events_pb2.EventEnvelope, keys: KeyRing) -> events_pb2.EventEnvelope:
    """Put the decrypted payload back into `payload`; UnreadableEvent when that cannot be done."""
    if env.HasField("payload") or not env.sealed_payload:
        raise UnreadableEvent("the payload is not sealed", retry=False)
    key = keys.keys.get(env.key_id)
    if key is None:
        raise UnreadableEvent(f"no event key with id {env.key_id[:40]!r}", retry=True)
    try:
        plain = AESGCM(key).decrypt(env.nonce, env.sealed_payload, _associated_data(env))
        payload = any_pb2.Any()
        payload.ParseFromString(plain)
    except (InvalidTag, ValueError, pb_message.DecodeError):
        raise UnreadableEvent("the sealed payload does not authenticate", retry=False) from None
    env.payload.CopyFrom(payload)
    env.ClearField("key_id")
    env.ClearField("nonce")
    env.ClearField("sealed_payload")
    return env
