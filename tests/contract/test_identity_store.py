"""One suite for every implementation of the identity service's store: PostgreSQL (a fresh
schema per test) and memory must keep accounts, attempts, codes, refresh tokens, keys and the
read model alike."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.common import migrations
from services.common.auth import Principal, Role
from services.common.errors import AlreadyExists, NotFound
from services.common.eventbus import Outbox
from services.common.settings import DEV_IDENTITY_KEY
from services.identity import events
from services.identity.app import MIGRATIONS
from services.identity.domain.accounts import Account
from services.identity.domain.codes import PhoneCode, hash_secret
from services.identity.domain.members import MemberRef
from services.identity.domain.tokens import RefreshToken, SubjectKind, new_refresh
from services.identity.keys import Sealer, new_signing_key, retire
from services.identity.store import IdentityStore
from services.identity.store.memory import MemoryStore
from services.identity.store.postgres import PostgresStore
from tests.conftest import Servers

T0 = datetime(2026, 12, 1, tzinfo=UTC)
ADMIN = Principal("admin", Role.DISTRICT_ADMIN)


@pytest.fixture(params=["postgres", "memory"])
async def store(request: pytest.FixtureRequest, servers: Servers) -> AsyncIterator[IdentityStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    schema = f"identity_contract_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(servers.database_url)
    try:
        await migrations.apply(conn, schema, MIGRATIONS)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        servers.database_url, min_size=1, max_size=2, server_settings={"search_path": schema}
    )
    assert pool is not None
    try:
        yield PostgresStore(pool, Outbox(events.SERVICE))
    finally:
        await pool.close()


def staff(name: str = "wang.li", communities: frozenset[str] = frozenset({"c1"})) -> Account:
    return Account(
        str(uuid.uuid4()),
        name,
        Role.COMMUNITY_STAFF,
        communities,
        password_hash="h1",
        created_at=T0,
    )


async def test_an_account_is_kept_and_a_taken_name_refused(store: IdentityStore) -> None:
    a = staff()
    await store.add_account(a, [events.account_created(a)], ADMIN)
    got = await store.account(a.id)
    assert got is not None and got.user_name == "wang.li" and got.community_ids == {"c1"}
    assert (await store.account_by_name("wang.li")) == got
    with pytest.raises(AlreadyExists):
        await store.add_account(staff(), [], ADMIN)


async def test_a_change_applies_under_the_lock_and_a_missing_account_is_not_found(
    store: IdentityStore,
) -> None:
    a = staff()
    await store.add_account(a, [], ADMIN)
    after = await store.update_account(a.id, lambda x: (replace(x, disabled=True), []), ADMIN)
    assert after.disabled and (await store.account(a.id)).disabled  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        await store.update_account(str(uuid.uuid4()), lambda x: (x, []), ADMIN)


async def test_a_disabled_account_loses_its_refresh_tokens(store: IdentityStore) -> None:
    a = staff()
    await store.add_account(a, [], ADMIN)
    _, kept = new_refresh(SubjectKind.ACCOUNT, a.id, T0, 3600)
    await store.add_refresh(kept)
    await store.update_account(a.id, lambda x: (replace(x, disabled=True), []), ADMIN)
    assert await store.rotate_refresh(kept.token_hash, T0, lambda old: old) is None


async def test_accounts_are_listed_by_name_within_a_street_administrators_communities(
    store: IdentityStore,
) -> None:
    for name, cs in (("a.one", {"c1"}), ("b.two", {"c2"}), ("c.three", {"c1", "c2"})):
        await store.add_account(staff(name, frozenset(cs)), [], ADMIN)
    boss = replace(staff("d.boss"), role=Role.DISTRICT_ADMIN, community_ids=frozenset())
    await store.add_account(boss, [], ADMIN)
    every = await store.list_accounts(None, 10, None)
    assert [a.user_name for a in every] == ["a.one", "b.two", "c.three", "d.boss"]
    assert [a.user_name for a in await store.list_accounts("a.one", 2, None)] == [
        "b.two",
        "c.three",
    ]
    mine = await store.list_accounts(None, 10, frozenset({"c1"}))
    assert [a.user_name for a in mine] == ["a.one"]


async def test_attempts_count_in_a_window_and_start_again_after_it(store: IdentityStore) -> None:
    assert (await store.attempts("k")).current(T0) == 0
    await store.count_attempt("k", T0, 60)
    second = await store.count_attempt("k", T0 + timedelta(seconds=1), 60)
    assert second.current(T0 + timedelta(seconds=2)) == 2
    later = await store.count_attempt("k", T0 + timedelta(seconds=61), 60)
    assert later.count == 1
    await store.clear_attempts("k")
    assert (await store.attempts("k")).current(T0) == 0


async def test_a_code_is_replaced_and_spent_once(store: IdentityStore) -> None:
    await store.put_code(PhoneCode("13800000001", hash_secret("111111"), T0))
    await store.put_code(PhoneCode("13800000001", hash_secret("222222"), T0))
    kept = await store.code("13800000001")
    assert kept is not None and kept.code_hash == hash_secret("222222")
    assert await store.spend_code("13800000001", kept.code_hash)
    assert not await store.spend_code("13800000001", kept.code_hash)
    assert await store.code("13800000001") is None


async def test_a_refresh_token_is_spent_once_and_its_reuse_revokes_the_family(
    store: IdentityStore,
) -> None:
    _, first = new_refresh(SubjectKind.MEMBER, "m1", T0, 3600)
    await store.add_refresh(first)
    successors: list[RefreshToken] = []

    def successor(old: RefreshToken) -> RefreshToken:
        made = new_refresh(old.kind, old.subject, T0, 3600, old.family)[1]
        successors.append(made)
        return made

    second = await store.rotate_refresh(first.token_hash, T0, successor)
    assert second is not None and second.family == first.family and second.subject == "m1"
    # The first one again: refused, and the second (same family) is revoked with it.
    assert await store.rotate_refresh(first.token_hash, T0, successor) is None
    assert await store.rotate_refresh(second.token_hash, T0, successor) is None
    assert len(successors) == 1


async def test_an_expired_or_signed_out_refresh_token_is_refused(store: IdentityStore) -> None:
    _, kept = new_refresh(SubjectKind.ACCOUNT, "a1", T0, 60)
    await store.add_refresh(kept)
    assert (
        await store.rotate_refresh(kept.token_hash, T0 + timedelta(seconds=61), lambda o: o) is None
    )
    _, other = new_refresh(SubjectKind.ACCOUNT, "a1", T0, 60)
    await store.add_refresh(other)
    await store.revoke_subject(SubjectKind.ACCOUNT, "a1", T0)
    assert await store.rotate_refresh(other.token_hash, T0, lambda o: o) is None


async def test_a_rotation_retires_the_active_key_and_a_first_key_is_made_once(
    store: IdentityStore,
) -> None:
    sealer = Sealer(DEV_IDENTITY_KEY)
    first = new_signing_key(sealer, T0)
    assert await store.rotate_key(first, lambda k: retire(k, T0, 600), only_if_none=True)
    assert not await store.rotate_key(new_signing_key(sealer, T0), lambda k: k, only_if_none=True)
    second = new_signing_key(sealer, T0 + timedelta(minutes=1))
    assert await store.rotate_key(second, lambda k: retire(k, T0, 600), only_if_none=False)
    keys = {k.kid: k for k in await store.signing_keys()}
    assert set(keys) == {first.kid, second.kid}
    assert keys[first.kid].retired_at == T0 and keys[second.kid].retired_at is None
    assert keys[first.kid].public_jwk == first.public_jwk


async def test_the_read_model_keeps_the_newest_member_and_the_streets(
    store: IdentityStore,
) -> None:
    async with store.transaction() as tx:
        await store.put_community(tx, "c1", "s1")
        await store.put_member(tx, MemberRef("m1", "13800000002", "c1", True), T0)
        await store.put_member(
            tx, MemberRef("m1", "13800000009", "c1", True), T0 - timedelta(seconds=1)
        )
    assert await store.streets_of(["c1", "c9"]) == {"c1": "s1"}
    assert await store.communities_in(["s1"]) == {"c1"}
    found = await store.member_by_phone("13800000002")
    assert found is not None and found.id == "m1"
    assert await store.member_by_phone("13800000009") is None
    async with store.transaction() as tx:
        await store.put_member(tx, MemberRef("m1", "13800000002", "c1", False), T0)
    assert await store.member_by_phone("13800000002") is None
    assert (await store.member("m1")) == MemberRef("m1", "13800000002", "c1", False)
