"""What a revocation covers: the subject's tokens issued before it, or one sign-in's only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from linli.v1 import events_pb2
from services.common.protoconv import ts
from services.common.revocations import Revocations

AT = datetime(2026, 5, 1, 8, 0, 0, 500_000, tzinfo=UTC)
T = AT.timestamp()


async def heard(r: Revocations, subject: str, session: str = "", at: datetime = AT) -> None:
    env = events_pb2.EventEnvelope(id="e")
    env.payload.Pack(events_pb2.SignInsRevoked(subject=subject, before=ts(at), session=session))
    await r.after(env)


def revocations() -> Revocations:
    pool: Any = None  # memory only: the table is not read here
    return Revocations(pool, keep_s=3600)


async def test_a_subject_revocation_covers_every_earlier_token_of_that_subject_only() -> None:
    r = revocations()
    await heard(r, "a1")
    assert r.revoked("a1", "", T - 0.001) and r.revoked("a1", "s1", T - 60)
    # A sign-in after it, even within the same second, is not covered.
    assert not r.revoked("a1", "s1", T + 0.001)
    assert not r.revoked("a2", "", T - 60)


async def test_a_session_revocation_covers_that_sign_in_only() -> None:
    r = revocations()
    await heard(r, "a1", session="s1")
    assert r.revoked("a1", "s1", T - 1)
    assert not r.revoked("a1", "s2", T - 1) and not r.revoked("a1", "", T - 1)


async def test_an_older_revocation_heard_late_does_not_shorten_a_newer_one() -> None:
    r = revocations()
    await heard(r, "a1")
    await heard(r, "a1", at=datetime(2026, 4, 1, tzinfo=UTC))
    assert r.revoked("a1", "", T - 1)


async def test_another_payload_is_ignored() -> None:
    r = revocations()
    env = events_pb2.EventEnvelope(id="e")
    env.payload.Pack(events_pb2.MemberErased(member_id="a1"))
    await r.after(env)
    assert not r.revoked("a1", "", T - 1)
