"""Event payloads sealed with AES-256-GCM on the stream: the key ring from the settings, `seal`
(the relay) and `unseal` (the consumer)."""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf import any_pb2
from google.protobuf import message as pb_message

from linli.v1 import events_pb2
from services.common.settings import Settings

NONCE_BYTES = 12
KEY_BYTES = 32


class EventKeyError(ValueError):
    """The event key ring in the settings cannot be used."""


class UnreadableEvent(Exception):
    """An event this process cannot open. `retry` when a key it lacks may yet arrive (a rotation
    rolled out in the wrong order); never for a payload that is not sealed or does not
    authenticate."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.retry = retry


@dataclass(frozen=True)
class KeyRing:
    """AES-256-GCM keys by id: every id still on the stream opens; `write_key_id` seals."""

    keys: Mapping[str, bytes] = field(repr=False)
    write_key_id: str

    def __post_init__(self) -> None:
        if self.write_key_id not in self.keys:
            raise EventKeyError(f"event key id {self.write_key_id!r} is not in the key ring")
        for kid, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise EventKeyError(f"event key {kid!r} must be {KEY_BYTES} bytes")

    @classmethod
    def parse(cls, spec: str, write_key_id: str) -> KeyRing:
        """Read `kid:base64key,kid:base64key` (whitespace around items is ignored)."""
        keys: dict[str, bytes] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            kid, sep, encoded = item.partition(":")
            kid = kid.strip()
            if not sep or not kid:
                raise EventKeyError("event keys are written kid:base64key, separated by commas")
            if kid in keys:
                raise EventKeyError(f"event key id {kid!r} appears twice")
            try:
                keys[kid] = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise EventKeyError(f"event key {kid!r} is not base64") from None
        return cls(keys, write_key_id)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        return cls.parse(settings.event_keys.get_secret_value(), settings.event_key_id)


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
