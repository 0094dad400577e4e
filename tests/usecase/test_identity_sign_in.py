"""Signing in: passwords and lock-out, TOTP for administrators, tokens and their claims,
refresh rotation, members by phone, key rotation."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlparse

import jwt
import pyotp
import pytest

from linli.v1 import events_pb2, registry_pb2
from services.common.auth import Role
from services.common.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.identity.domain.errors import (
    TOTP_ENROLMENT_REQUIRED,
    TOTP_REQUIRED,
    BadCredentials,
    TooManyAttempts,
    TooManyCodes,
)
from services.identity.domain.members import MemberRef
from services.identity.handlers import table
from tests.usecase.identity_support import ADMIN, MEMBER_PHONE, PASSWORD, Setup, setup


async def staff(s: Setup, name: str = "wang") -> str:
    a = await s.identity.accounts.create(ADMIN, name, PASSWORD, Role.COMMUNITY_STAFF, ["c1"], [])
    return a.id


async def test_a_token_carries_exactly_the_claims_every_service_reads() -> None:
    s = await setup()
    account_id = await staff(s)
    issued = await s.identity.sign_in.staff("wang", PASSWORD, "")
    header = jwt.get_unverified_header(issued.access_token)
    assert header["alg"] == "ES256" and header["kid"] == s.identity.tokens.active_kid
    claims = jwt.decode(issued.access_token, options={"verify_signature": False})
    assert set(claims) == {
        "iss",
        "aud",
        "sub",
        "iat",
        "exp",
        "jti",
        "role",
        "communities",
        "streets",
        "sid",
    }
    assert claims["sub"] == account_id and claims["role"] == "community_staff"
    assert claims["communities"] == ["c1"] and claims["streets"] == []
    assert claims["exp"] - claims["iat"] == s.settings.access_ttl_s
    principal = await s.identity.tokens.verify(issued.access_token)
    assert principal.subject == account_id


async def test_lock_out_answers_alike_for_a_missing_account() -> None:
    s = await setup(sign_in_failures_limit=3)
    await staff(s)
    for name in ("wang", "nobody"):
        for _ in range(3):
            with pytest.raises(BadCredentials) as e:
                await s.identity.sign_in.staff(name, "wrong password!", "")
            assert e.value.message == BadCredentials().message
        with pytest.raises(TooManyAttempts):
            await s.identity.sign_in.staff(name, "wrong password!", "")
    # Even the right password waits for the lock-out to pass.
    with pytest.raises(TooManyAttempts):
        await s.identity.sign_in.staff("wang", PASSWORD, "")
    s.clock.move(s.settings.lockout_s + 1)
    assert (await s.identity.sign_in.staff("wang", PASSWORD, "")).access_token


async def test_administrators_enrol_totp_and_then_need_a_code() -> None:
    s = await setup()
    await s.identity.accounts.create(ADMIN, "boss", PASSWORD, Role.DISTRICT_ADMIN, [], [])
    with pytest.raises(FailedPrecondition) as e:
        await s.identity.sign_in.staff("boss", PASSWORD, "")
    assert e.value.reason == TOTP_ENROLMENT_REQUIRED
    uri = await s.identity.sign_in.enrol_totp("boss", PASSWORD)
    assert uri.startswith("otpauth://totp/") and "issuer=Linli" in uri
    totp = pyotp.TOTP(parse_qs(urlparse(uri).query)["secret"][0])
    wrong = "000000" if totp.at(s.clock()) != "000000" else "111111"
    with pytest.raises(BadCredentials):
        await s.identity.sign_in.confirm_totp("boss", PASSWORD, wrong)
    await s.identity.sign_in.confirm_totp("boss", PASSWORD, totp.at(s.clock()))
    with pytest.raises(FailedPrecondition) as e:
        await s.identity.sign_in.staff("boss", PASSWORD, "")
    assert e.value.reason == TOTP_REQUIRED
    # The code that confirmed the enrolment is spent; the next one signs in, once.
    with pytest.raises(BadCredentials):
        await s.identity.sign_in.staff("boss", PASSWORD, totp.at(s.clock()))
    s.clock.move(30)
    issued = await s.identity.sign_in.staff("boss", PASSWORD, totp.at(s.clock()))
    assert issued.principal.role is Role.DISTRICT_ADMIN
    with pytest.raises(BadCredentials):
        await s.identity.sign_in.staff("boss", PASSWORD, totp.at(s.clock()))
    with pytest.raises(FailedPrecondition):
        await s.identity.sign_in.enrol_totp("boss", PASSWORD)


async def test_a_refresh_token_is_rotated_and_its_reuse_revokes_the_sign_in() -> None:
    s = await setup()
    await staff(s)
    first = await s.identity.sign_in.staff("wang", PASSWORD, "")
    second = await s.identity.sign_in.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    third = await s.identity.sign_in.refresh(second.refresh_token)
    with pytest.raises(BadCredentials):
        await s.identity.sign_in.refresh(first.refresh_token)
    with pytest.raises(BadCredentials):
        await s.identity.sign_in.refresh(third.refresh_token)


async def test_sign_out_revokes_the_refresh_token() -> None:
    s = await setup()
    await staff(s)
    issued = await s.identity.sign_in.staff("wang", PASSWORD, "")
    await s.identity.sign_in.sign_out(issued.refresh_token)
    with pytest.raises(BadCredentials):
        await s.identity.sign_in.refresh(issued.refresh_token)
    await s.identity.sign_in.sign_out("never issued")  # always succeeds


async def test_a_member_signs_in_with_the_code_sent_to_their_phone_once() -> None:
    s = await setup()
    assert await s.identity.sign_in.start_phone("+86 139-0000-1111", "10.0.0.1") == 300
    await _sent(s)
    code = s.last_code(MEMBER_PHONE)
    issued = await s.identity.sign_in.complete_phone(MEMBER_PHONE, code)
    assert issued.principal.subject == "m1" and issued.principal.role is Role.MEMBER
    assert issued.principal.community_ids == {"c1"}
    with pytest.raises(BadCredentials):
        await s.identity.sign_in.complete_phone(MEMBER_PHONE, code)
    refreshed = await s.identity.sign_in.refresh(issued.refresh_token)
    assert refreshed.principal.subject == "m1"


async def test_a_code_expires() -> None:
    s = await setup()
    await s.identity.sign_in.start_phone(MEMBER_PHONE, "10.0.0.1")
    await _sent(s)
    s.clock.move(s.settings.phone_code_ttl_s + 1)
    with pytest.raises(BadCredentials):
        await s.identity.sign_in.complete_phone(MEMBER_PHONE, s.last_code(MEMBER_PHONE))


async def test_a_phone_nobody_holds_answers_like_a_members_and_sends_nothing() -> None:
    s = await setup()
    assert await s.identity.sign_in.start_phone("13700002222", "10.0.0.1") == 300
    await _sent(s)
    assert s.sms.last_to("13700002222") is None
    with pytest.raises(BadCredentials):
        await s.identity.sign_in.complete_phone("13700002222", "123456")


async def test_codes_are_limited_per_phone_and_per_caller_and_wrong_codes_lock_out() -> None:
    s = await setup(phone_codes_per_phone=2, phone_codes_per_caller=2, sign_in_failures_limit=2)
    for _ in range(2):
        await s.identity.sign_in.start_phone(MEMBER_PHONE, "10.0.0.1")
    with pytest.raises(TooManyCodes):
        await s.identity.sign_in.start_phone(MEMBER_PHONE, "10.0.0.2")
    with pytest.raises(TooManyCodes):
        await s.identity.sign_in.start_phone("13700002222", "10.0.0.1")
    await _sent(s)
    for _ in range(2):
        with pytest.raises(BadCredentials):
            await s.identity.sign_in.complete_phone(MEMBER_PHONE, "999999")
    with pytest.raises(TooManyAttempts):
        await s.identity.sign_in.complete_phone(MEMBER_PHONE, s.last_code(MEMBER_PHONE))


async def test_bad_phone_and_code_are_named() -> None:
    s = await setup()
    with pytest.raises(InvalidArgument) as e:
        await s.identity.sign_in.complete_phone("12", "abc")
    assert {v.field for v in e.value.violations} == {"phone", "code"}


async def test_after_a_rotation_old_tokens_still_verify_and_new_ones_use_the_new_key() -> None:
    s = await setup()
    await staff(s)
    old = await s.identity.sign_in.staff("wang", PASSWORD, "")
    old_kid = s.identity.tokens.active_kid
    new_kid = await s.identity.tokens.rotate(ADMIN)
    assert new_kid != old_kid
    assert {k["kid"] for k in s.identity.tokens.jwks()["keys"]} == {old_kid, new_kid}
    assert (await s.identity.tokens.verify(old.access_token)).role is Role.COMMUNITY_STAFF
    fresh = await s.identity.sign_in.staff("wang", PASSWORD, "")
    assert jwt.get_unverified_header(fresh.access_token)["kid"] == new_kid
    # Once its tokens have all expired, the old key is published no more.
    s.clock.move(s.settings.access_ttl_s + s.settings.key_grace_s + 1)
    await s.identity.tokens.reload()
    assert [k["kid"] for k in s.identity.tokens.jwks()["keys"]] == [new_kid]


async def _sent(s: Setup) -> None:
    """Let the background sends finish."""
    await asyncio.gather(*s.identity.sign_in._sending)


async def test_a_deactivated_member_refreshes_no_more() -> None:
    s = await setup()
    await s.identity.sign_in.start_phone(MEMBER_PHONE, "10.0.0.1")
    await _sent(s)
    issued = await s.identity.sign_in.complete_phone(MEMBER_PHONE, s.last_code(MEMBER_PHONE))
    async with s.store.transaction() as tx:
        await s.store.put_member(tx, MemberRef("m1", MEMBER_PHONE, "c1", False), s.clock())
    with pytest.raises(BadCredentials):
        await s.identity.sign_in.refresh(issued.refresh_token)


async def test_staff_change_their_own_password_and_their_sign_ins_end() -> None:
    s = await setup()
    await staff(s)
    issued = await s.identity.sign_in.staff("wang", PASSWORD, "")
    me = issued.principal
    with pytest.raises(PermissionDenied):
        await s.identity.accounts.change_own_password(me, "not my password", "another long one")
    await s.identity.accounts.change_own_password(me, PASSWORD, "another long one")
    with pytest.raises(BadCredentials):
        await s.identity.sign_in.refresh(issued.refresh_token)
    assert (await s.identity.sign_in.staff("wang", "another long one", "")).access_token


async def test_an_erased_member_signs_in_no_more_and_their_sign_ins_end() -> None:
    s = await setup()
    await s.identity.sign_in.start_phone(MEMBER_PHONE, "10.0.0.1")
    await _sent(s)
    issued = await s.identity.sign_in.complete_phone(MEMBER_PHONE, s.last_code(MEMBER_PHONE))
    erased = events_pb2.EventEnvelope(id="e1", subject="linli.registry.member.erased")
    erased.payload.Pack(events_pb2.MemberErased(member_id="m1", community_id="c1"))
    async with s.store.transaction() as tx:
        await table(s.store, s.clock).apply(tx, erased)
    # A member snapshot still travelling brings nobody back.
    late = events_pb2.EventEnvelope(id="e0", subject="linli.registry.member.updated")
    late.payload.Pack(
        events_pb2.MemberUpdated(
            member=registry_pb2.Member(
                id="m1",
                phone=MEMBER_PHONE,
                community_id="c1",
                status=registry_pb2.MEMBER_STATUS_ACTIVE,
            )
        )
    )
    async with s.store.transaction() as tx:
        await table(s.store, s.clock).apply(tx, late)
    assert await s.store.member_by_phone(MEMBER_PHONE) is None
    with pytest.raises(BadCredentials):
        await s.identity.sign_in.refresh(issued.refresh_token)
    sent = len(s.sms.sent)
    await s.identity.sign_in.start_phone(MEMBER_PHONE, "10.0.0.1")
    await _sent(s)
    assert len(s.sms.sent) == sent  # the phone leads to nobody: no code goes out


def _revoked(s: Setup) -> list[tuple[str, str]]:
    """(subject, reason) of every SignInsRevoked written so far."""
    return [
        (e.subject, e.reason)
        for (_subject, e), _actor in s.store.events
        if isinstance(e, events_pb2.SignInsRevoked)
    ]


async def test_every_change_that_ends_sign_ins_announces_it() -> None:
    s = await setup()
    member = registry_pb2.Member(
        id="m1",
        phone=MEMBER_PHONE,
        community_id="c1",
        status=registry_pb2.MEMBER_STATUS_DEACTIVATED,
    )
    for n, payload in enumerate(
        [
            events_pb2.MemberDeactivated(member=member, reason="moved away"),
            events_pb2.MemberErased(member_id="m1"),
        ]
    ):
        env = events_pb2.EventEnvelope(id=f"e{n}")
        env.payload.Pack(payload)
        async with s.store.transaction() as tx:
            await table(s.store, s.clock).apply(tx, env)
    assert _revoked(s) == [("m1", "deactivated"), ("m1", "erased")]
    assert await s.store.member_by_phone(MEMBER_PHONE) is None


async def test_a_sign_out_ends_that_sign_in_only_and_announces_its_session() -> None:
    s = await setup()
    account_id = await staff(s)
    one = await s.identity.sign_in.staff("wang", PASSWORD, "")
    two = await s.identity.sign_in.staff("wang", PASSWORD, "")
    sid = jwt.decode(one.access_token, options={"verify_signature": False})["sid"]
    other = jwt.decode(two.access_token, options={"verify_signature": False})["sid"]
    assert sid != other
    # A refreshed access token continues the same sign-in.
    again = await s.identity.sign_in.refresh(one.refresh_token)
    assert jwt.decode(again.access_token, options={"verify_signature": False})["sid"] == sid
    await s.identity.sign_in.sign_out(again.refresh_token)
    (_, event), _actor = s.store.events[-1]
    assert isinstance(event, events_pb2.SignInsRevoked)
    assert (event.subject, event.session, event.reason) == (account_id, sid, "signed out")
    assert (await s.identity.sign_in.refresh(two.refresh_token)).access_token
