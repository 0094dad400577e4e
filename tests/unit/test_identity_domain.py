"""The identity service's rules: lock-out windows, who manages whom, scopes, codes, claims."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.auth import Principal, Role
from services.common.checks import Violations
from services.identity.domain.accounts import Account, check_scope, may_manage, rescoped
from services.identity.domain.attempts import Attempts
from services.identity.domain.codes import PhoneCode, check_phone, hash_secret, new_code
from services.identity.domain.tokens import claims

T0 = datetime(2026, 12, 1, tzinfo=UTC)
STREETS = {"c1": "s1", "c2": "s1", "c3": "s2"}


def test_attempts_refuse_at_the_limit_until_the_window_ends() -> None:
    a = Attempts()
    for i in range(3):
        a = a.counted(T0 + timedelta(seconds=i), 60)
    assert a.refused(T0 + timedelta(seconds=3), 3)
    assert a.retry_after_s(T0 + timedelta(seconds=30)) == 30
    assert not a.refused(T0 + timedelta(seconds=60), 3)
    assert a.counted(T0 + timedelta(seconds=61), 60).count == 1


@pytest.mark.parametrize(
    ("actor", "role", "communities", "allowed"),
    [
        (Principal("d", Role.DISTRICT_ADMIN), Role.DISTRICT_ADMIN, set(), True),
        (
            Principal("s", Role.STREET_ADMIN, street_ids=frozenset({"s1"})),
            Role.COMMUNITY_STAFF,
            {"c1", "c2"},
            True,
        ),
        (
            Principal("s", Role.STREET_ADMIN, street_ids=frozenset({"s1"})),
            Role.COMMUNITY_STAFF,
            {"c1", "c3"},
            False,
        ),
        (
            Principal("s", Role.STREET_ADMIN, street_ids=frozenset({"s1"})),
            Role.STREET_ADMIN,
            set(),
            False,
        ),
        (
            Principal("s", Role.STREET_ADMIN, street_ids=frozenset({"s1"})),
            Role.COMMUNITY_STAFF,
            {"c9"},
            False,
        ),
        (
            Principal("c", Role.COMMUNITY_STAFF, frozenset({"c1"})),
            Role.COMMUNITY_STAFF,
            {"c1"},
            False,
        ),
        (Principal("x", Role.SERVICE), Role.COMMUNITY_STAFF, {"c1"}, False),
    ],
)
def test_who_manages_whom(
    actor: Principal, role: Role, communities: set[str], allowed: bool
) -> None:
    assert may_manage(actor, role, frozenset(communities), STREETS) is allowed


def test_each_role_has_the_scope_it_needs() -> None:
    v = Violations()
    check_scope(v, Role.COMMUNITY_STAFF, [], ["s1"])
    check_scope(v, Role.DISTRICT_ADMIN, ["c1"], [])
    check_scope(v, Role.SERVICE, [], [])
    assert [x.field for x in v.items] == ["community_ids", "street_ids", "community_ids", "role"]


def test_a_role_that_no_longer_needs_totp_forgets_its_seed() -> None:
    a = Account(
        "a",
        "li",
        Role.STREET_ADMIN,
        street_ids=frozenset({"s1"}),
        totp_sealed=b"x",
        totp_enrolled=True,
    )
    kept = rescoped(a, Role.DISTRICT_ADMIN, frozenset(), frozenset())
    assert kept.totp_enrolled and kept.totp_sealed == b"x"
    dropped = rescoped(a, Role.COMMUNITY_STAFF, frozenset({"c1"}), frozenset())
    assert not dropped.totp_enrolled and dropped.totp_sealed == b""


def test_codes_are_six_digits_kept_hashed_and_expire() -> None:
    code = new_code()
    assert len(code) == 6 and code.isdigit()
    kept = PhoneCode("13900001111", hash_secret(code), T0 + timedelta(minutes=5))
    assert kept.matches(code, T0) and not kept.matches(code, T0 + timedelta(minutes=5))
    assert not kept.matches("x" + code[1:], T0)


def test_phones_take_the_registrys_spelling() -> None:
    v = Violations()
    assert check_phone(v, "phone", "+86 139-0000-1111") == "13900001111"
    check_phone(v, "phone", "12345")
    assert [x.field for x in v.items] == ["phone"]


def test_claims_are_exactly_those_every_service_reads() -> None:
    p = Principal("m1", Role.MEMBER, frozenset({"c1"}))
    c = claims(p, issuer="linli", audience="linli", now=T0, ttl_s=900)
    assert c["exp"] - c["iat"] == 900 and c["sub"] == "m1" and c["role"] == "member"
    assert c["communities"] == ["c1"] and c["streets"] == []
    assert set(c) == {"iss", "aud", "sub", "iat", "exp", "jti", "role", "communities", "streets"}


def test_the_identity_service_refuses_a_secrets_key_that_is_not_32_bytes() -> None:
    from services.common.settings import IdentitySettings

    with pytest.raises(SystemExit):
        IdentitySettings(dev_mode=True, identity_secrets_key="c2hvcnQ=").refuse_unsafe()
    with pytest.raises(SystemExit):
        IdentitySettings(dev_mode=False).refuse_unsafe()  # the published development key
    IdentitySettings(dev_mode=True).refuse_unsafe()
