"""Managing accounts: who may create, change, reset and disable whose, and the events."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from linli.v1 import events_pb2
from services.common.auth import Principal, Role
from services.common.errors import AlreadyExists, InvalidArgument, PermissionDenied
from services.common.subjects import (
    ACCOUNT_CHANGED,
    ACCOUNT_CREATED,
    ACCOUNT_DISABLED,
    SIGNINS_REVOKED,
)
from services.identity.domain.errors import BadCredentials
from services.identity.service import Identity, Passwords
from tests.usecase.identity_support import ADMIN, PASSWORD, setup

STREET_ADMIN = Principal("s-admin", Role.STREET_ADMIN, street_ids=frozenset({"s1"}))
STAFF = Principal("staff", Role.COMMUNITY_STAFF, community_ids=frozenset({"c1"}))


async def test_a_district_admin_creates_any_account_and_it_is_announced() -> None:
    s = await setup()
    a = await s.identity.accounts.create(ADMIN, "Li.Na", PASSWORD, Role.STREET_ADMIN, [], ["s1"])
    assert a.user_name == "li.na" and a.street_ids == {"s1"}
    (subject, payload), actor = s.store.events[-1]
    assert subject == ACCOUNT_CREATED and payload.account.id == a.id and actor == ADMIN
    assert "password" not in str(payload)
    with pytest.raises(AlreadyExists):
        await s.identity.accounts.create(ADMIN, "li.na", PASSWORD, Role.DISTRICT_ADMIN, [], [])


async def test_a_street_admin_manages_only_community_staff_of_their_streets() -> None:
    s = await setup()
    ok = await s.identity.accounts.create(
        STREET_ADMIN, "zhao", PASSWORD, Role.COMMUNITY_STAFF, ["c1", "c2"], []
    )
    assert ok.community_ids == {"c1", "c2"}
    with pytest.raises(PermissionDenied):
        await s.identity.accounts.create(
            STREET_ADMIN, "qian", PASSWORD, Role.COMMUNITY_STAFF, ["c3"], []
        )
    with pytest.raises(PermissionDenied):
        await s.identity.accounts.create(
            STREET_ADMIN, "sun", PASSWORD, Role.STREET_ADMIN, [], ["s1"]
        )
    other = await s.identity.accounts.create(
        ADMIN, "zhou", PASSWORD, Role.COMMUNITY_STAFF, ["c3"], []
    )
    with pytest.raises(PermissionDenied):
        await s.identity.accounts.disable(STREET_ADMIN, other.id)
    listed, _ = await s.identity.accounts.list_managed(STREET_ADMIN, 50, "")
    assert [a.user_name for a in listed] == ["zhao"]


async def test_community_staff_manage_no_account() -> None:
    s = await setup()
    with pytest.raises(PermissionDenied):
        await s.identity.accounts.create(STAFF, "wu", PASSWORD, Role.COMMUNITY_STAFF, ["c1"], [])
    with pytest.raises(PermissionDenied):
        await s.identity.accounts.list_managed(STAFF, 50, "")


async def test_bad_fields_are_named() -> None:
    s = await setup()
    with pytest.raises(InvalidArgument) as e:
        await s.identity.accounts.create(ADMIN, "x", "short", Role.COMMUNITY_STAFF, [], ["s1"])
    fields = {v.field for v in e.value.violations}
    assert fields == {"user_name", "password", "community_ids", "street_ids"}
    with pytest.raises(InvalidArgument) as e:
        await s.identity.accounts.create(ADMIN, "wu.yi", PASSWORD, None, [], [])
    assert [v.field for v in e.value.violations] == ["role"]


async def test_a_scope_change_and_a_disabled_account_are_announced_and_end_its_sign_ins() -> None:
    s = await setup()
    a = await s.identity.accounts.create(ADMIN, "zheng", PASSWORD, Role.COMMUNITY_STAFF, ["c1"], [])
    issued = await s.identity.sign_in.staff("zheng", PASSWORD, "")
    changed = await s.identity.accounts.change(ADMIN, a.id, Role.COMMUNITY_STAFF, ["c2"], [])
    assert changed.community_ids == {"c2"}
    # Its access tokens carry the old scope: every service is told to refuse them.
    assert [subject for (subject, _), _ in s.store.events[-2:]] == [
        ACCOUNT_CHANGED,
        SIGNINS_REVOKED,
    ]
    assert s.store.events[-1][0][1] == events_pb2.SignInsRevoked(
        subject=a.id, before=s.store.events[-1][0][1].before, reason="scope"
    )
    with pytest.raises(BadCredentials):
        await s.identity.sign_in.refresh(issued.refresh_token)
    await s.identity.accounts.disable(ADMIN, a.id)
    assert [subject for (subject, _), _ in s.store.events[-2:]] == [
        ACCOUNT_DISABLED,
        SIGNINS_REVOKED,
    ]
    with pytest.raises(BadCredentials):
        await s.identity.sign_in.staff("zheng", PASSWORD, "")


async def test_a_password_reset_ends_sign_ins_and_the_new_password_works() -> None:
    s = await setup()
    a = await s.identity.accounts.create(ADMIN, "feng", PASSWORD, Role.COMMUNITY_STAFF, ["c1"], [])
    issued = await s.identity.sign_in.staff("feng", PASSWORD, "")
    await s.identity.accounts.reset_password(ADMIN, a.id, "a brand new password", False)
    with pytest.raises(BadCredentials):
        await s.identity.sign_in.refresh(issued.refresh_token)
    with pytest.raises(BadCredentials):
        await s.identity.sign_in.staff("feng", PASSWORD, "")
    assert (await s.identity.sign_in.staff("feng", "a brand new password", "")).access_token


async def test_a_service_account_signs_in_with_its_secret_only() -> None:
    s = await setup()
    account, secret = await s.identity.accounts.create_service(ADMIN, "matching-batch")
    issued = await s.identity.sign_in.service("matching-batch", secret)
    assert issued.principal.role is Role.SERVICE and issued.principal.subject == account.id
    assert issued.refresh_token == ""
    with pytest.raises(BadCredentials):
        await s.identity.sign_in.staff("matching-batch", secret, "")
    with pytest.raises(PermissionDenied):
        await s.identity.accounts.create_service(STREET_ADMIN, "report")


async def test_a_password_hashed_with_older_parameters_is_rehashed_at_sign_in() -> None:
    s = await setup()
    a = await s.identity.accounts.create(ADMIN, "han", PASSWORD, Role.COMMUNITY_STAFF, ["c1"], [])
    stronger = Passwords(PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    assert stronger.needs_rehash(a.password_hash)
    later = Identity(s.store, s.settings, s.sms, s.clock, stronger)
    await later.tokens.ensure_key()
    await later.sign_in.staff("han", PASSWORD, "")
    rehashed = (await s.store.account(a.id)).password_hash  # type: ignore[union-attr]
    assert rehashed != a.password_hash and not stronger.needs_rehash(rehashed)
    assert (await later.sign_in.staff("han", PASSWORD, "")).access_token
