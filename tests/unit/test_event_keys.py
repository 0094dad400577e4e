"""Sealed event payloads (services/common/eventbus/sealing.py): AES-GCM under a key ring from
the settings."""

from __future__ import annotations

import base64
import os

import pytest

from linli.v1 import common_pb2, events_pb2, registry_pb2
from services.common import eventbus
from services.common.auth import Principal, Role
from services.common.settings import Settings

PHONE = "19912345678"


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def ring(spec: str, kid: str) -> eventbus.KeyRing:
    return eventbus.KeyRing.parse(spec, kid)


K1, K2 = key(), key()
OLD = ring(f"k1:{K1}", "k1")
NEW = ring(f"k1:{K1}, k2:{K2}", "k2")  # rotated: k2 seals, k1 still opens


def registered(seq: int = 7) -> events_pb2.EventEnvelope:
    env = eventbus.envelope(
        source="registry",
        subj="linli.registry.member.registered",
        payload=events_pb2.MemberRegistered(
            member=registry_pb2.Member(
                id="m-1",
                phone=PHONE,
                home=common_pb2.LatLng(latitude=36.981234, longitude=117.171234),
            )
        ),
        actor=Principal("staff-1", Role.COMMUNITY_STAFF, frozenset({"c-1"})),
    )
    env.source_seq = seq
    return env


def opened(env: events_pb2.EventEnvelope, keys: eventbus.KeyRing) -> events_pb2.MemberRegistered:
    copy = events_pb2.EventEnvelope()
    copy.CopyFrom(env)
    out = events_pb2.MemberRegistered()
    assert eventbus.unseal(copy, keys).payload.Unpack(out)
    return out


def test_a_sealed_envelope_shows_no_phone_and_opens_to_the_same_payload() -> None:
    env = eventbus.seal(registered(), NEW)
    wire = env.SerializeToString()
    assert PHONE.encode() not in wire and b"m-1" not in wire
    assert not env.HasField("payload") and env.key_id == "k2" and len(env.nonce) == 12
    event = opened(events_pb2.EventEnvelope.FromString(wire), NEW)
    assert event.member.phone == PHONE and event.member.home.latitude == 36.981234


def test_events_sealed_with_a_retired_write_key_still_open_after_rotation() -> None:
    env = eventbus.seal(registered(), OLD)
    assert env.key_id == "k1"
    assert opened(env, NEW).member.phone == PHONE


@pytest.mark.parametrize(
    "tamper",
    [
        lambda e: setattr(e, "id", "00000000-0000-0000-0000-000000000000"),
        lambda e: setattr(e, "type", "linli.v1.MemberDeactivated"),
        lambda e: setattr(e, "subject", "linli.registry.member.deactivated"),
        lambda e: setattr(e, "source", "tasks"),
        lambda e: setattr(e, "source_seq", 8),
        lambda e: setattr(e.actor, "subject", "someone-else"),
        lambda e: setattr(e.time, "seconds", e.time.seconds + 1),
        lambda e: setattr(
            e, "sealed_payload", bytes([e.sealed_payload[0] ^ 1]) + e.sealed_payload[1:]
        ),
        lambda e: setattr(e, "nonce", bytes(12)),
        lambda e: setattr(e, "nonce", b"short"),
    ],
)
def test_a_tampered_envelope_does_not_open(tamper) -> None:  # type: ignore[no-untyped-def]
    env = eventbus.seal(registered(), NEW)
    tamper(env)
    with pytest.raises(eventbus.UnreadableEvent) as err:
        eventbus.unseal(env, NEW)
    assert not err.value.retry


def test_a_payload_in_the_clear_is_refused() -> None:
    with pytest.raises(eventbus.UnreadableEvent) as err:
        eventbus.unseal(registered(), NEW)
    assert not err.value.retry


def test_an_unknown_key_id_may_be_retried_once_the_key_arrives() -> None:
    env = eventbus.seal(registered(), NEW)
    with pytest.raises(eventbus.UnreadableEvent) as err:
        eventbus.unseal(env, OLD)  # a consumer not yet given k2
    assert err.value.retry


@pytest.mark.parametrize(
    ("spec", "kid"),
    [
        (f"k1:{K1}", "k2"),  # the write key is not in the ring
        ("k1:not-base64!", "k1"),
        (f"k1:{base64.b64encode(b'short').decode()}", "k1"),
        (f"k1:{K1},k1:{K2}", "k1"),
        (K1, "k1"),  # no id
        ("", "k1"),
    ],
)
def test_a_key_ring_that_cannot_be_used_is_refused(spec: str, kid: str) -> None:
    with pytest.raises(eventbus.EventKeyError):
        eventbus.KeyRing.parse(spec, kid)


def test_the_key_ring_does_not_print_its_keys() -> None:
    assert K1 not in repr(NEW) and base64.b64decode(K1).hex() not in repr(NEW)


def test_production_refuses_the_development_event_key() -> None:
    secret = "x" * 40
    keys = "http://identity:8080/.well-known/jwks.json"
    with pytest.raises(SystemExit, match="LINLI_EVENT_KEYS"):
        Settings(jwt_secret=secret, jwks_url=keys, dev_mode=False).refuse_unsafe()
    Settings(jwt_secret=secret, dev_mode=True).refuse_unsafe()
    Settings(
        jwt_secret=secret,
        jwks_url=keys,
        event_keys=f"prod1:{K1}",
        event_key_id="prod1",
        dev_mode=False,
    ).refuse_unsafe()


def test_a_process_with_an_unusable_key_ring_does_not_start() -> None:
    with pytest.raises(SystemExit, match="LINLI_EVENT_KEY"):
        Settings(
            jwt_secret="x" * 40, event_keys=f"prod1:{K1}", event_key_id="prod2"
        ).refuse_unsafe()
