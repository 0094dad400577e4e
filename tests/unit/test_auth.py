"""Tokens and principals (services/common/auth.py): who is calling, and what their scope holds."""

from __future__ import annotations

import time

import grpc
import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linli.v1 import common_pb2
from services.common.auth import (
    Principal,
    Role,
    current_principal,
    issue_token,
    set_current_principal,
    token_from_metadata,
    verify_token,
)
from services.common.errors import PermissionDenied, Unauthenticated
from services.common.interceptors.statuses import status_code
from services.common.settings import Settings

SECRET = "s" * 64  # long enough for HS512 too, which one test signs with
SETTINGS = Settings(jwt_secret=SECRET, jwt_issuer="linli", jwt_audience="linli")

MEMBER = Principal("m-1", Role.MEMBER)
STAFF = Principal("staff-1", Role.COMMUNITY_STAFF, frozenset({"binhu", "yinshan"}))
STREET = Principal("admin-1", Role.STREET_ADMIN, street_ids=frozenset({"jiyang"}))
DISTRICT = Principal("admin-2", Role.DISTRICT_ADMIN)
SERVICE = Principal("matcher", Role.SERVICE)


def signed(claims: dict[str, object], secret: str = SECRET, algorithm: str = "HS256") -> str:
    """A token with exactly these claims on top of valid iss, aud, sub and exp."""
    base: dict[str, object] = {
        "iss": "linli",
        "aud": "linli",
        "sub": "someone",
        "exp": int(time.time()) + 600,
        "role": "member",
    }
    return jwt.encode({**base, **claims}, secret, algorithm=algorithm)


def unauthenticated(token: str, settings: Settings = SETTINGS) -> str:
    with pytest.raises(Unauthenticated) as caught:
        verify_token(settings, token)
    assert status_code(caught.value) is grpc.StatusCode.UNAUTHENTICATED
    return caught.value.message


# ---------------------------------------------------------------------------------------------
# Tokens


@pytest.mark.parametrize("principal", [MEMBER, STAFF, STREET, DISTRICT, SERVICE])
def test_a_token_names_the_principal_it_was_issued_for(principal: Principal) -> None:
    assert verify_token(SETTINGS, issue_token(SETTINGS, principal)) == principal


def test_a_token_carries_the_claims_other_services_rely_on() -> None:
    claims = jwt.decode(
        issue_token(SETTINGS, STAFF, ttl_s=60),
        SECRET,
        algorithms=["HS256"],
        audience="linli",
        issuer="linli",
    )
    assert claims["sub"] == "staff-1"
    assert claims["role"] == "community_staff"
    assert claims["communities"] == ["binhu", "yinshan"]
    assert claims["streets"] == []
    assert claims["exp"] - claims["iat"] == 60
    assert claims["jti"]


def test_two_tokens_for_the_same_principal_differ() -> None:
    assert issue_token(SETTINGS, MEMBER) != issue_token(SETTINGS, MEMBER)


def test_rejects_an_expired_token() -> None:
    assert unauthenticated(issue_token(SETTINGS, MEMBER, ttl_s=-1)) == "token expired"


def test_rejects_a_token_signed_with_another_key() -> None:
    other = Settings(jwt_secret="o" * 64, jwt_issuer="linli", jwt_audience="linli")
    assert unauthenticated(issue_token(other, MEMBER)).startswith("bad token")


def test_rejects_a_token_for_another_audience() -> None:
    other = Settings(jwt_secret=SECRET, jwt_issuer="linli", jwt_audience="elsewhere")
    assert unauthenticated(issue_token(other, MEMBER)).startswith("bad token")


def test_rejects_a_token_from_another_issuer() -> None:
    other = Settings(jwt_secret=SECRET, jwt_issuer="someone-else", jwt_audience="linli")
    assert unauthenticated(issue_token(other, MEMBER)).startswith("bad token")


@pytest.mark.parametrize("claim", ["exp", "sub", "iss", "aud"])
def test_rejects_a_token_without_a_required_claim(claim: str) -> None:
    claims = {
        "iss": "linli",
        "aud": "linli",
        "sub": "m-1",
        "exp": int(time.time()) + 600,
        "role": "member",
    }
    del claims[claim]
    assert unauthenticated(jwt.encode(claims, SECRET, algorithm="HS256")).startswith("bad token")


def test_rejects_a_token_signed_with_another_algorithm() -> None:
    assert unauthenticated(signed({}, algorithm="HS512")).startswith("bad token")


def test_rejects_an_unsigned_token() -> None:
    token = jwt.encode(
        {
            "iss": "linli",
            "aud": "linli",
            "sub": "x",
            "exp": int(time.time()) + 60,
            "role": "service",
        },
        None,
        algorithm="none",
    )
    assert unauthenticated(token).startswith("bad token")


@pytest.mark.parametrize("token", ["", "not-a-token", "a.b.c", "Bearer x"])
def test_rejects_text_that_is_not_a_token(token: str) -> None:
    assert unauthenticated(token).startswith("bad token")


@pytest.mark.parametrize("role", ["superuser", "", "Member", None, 3])
def test_rejects_a_token_with_an_unknown_role(role: object) -> None:
    assert "unknown role" in unauthenticated(signed({"role": role}))


def test_rejects_a_token_without_a_role() -> None:
    token = jwt.encode(
        {"iss": "linli", "aud": "linli", "sub": "x", "exp": int(time.time()) + 60},
        SECRET,
        algorithm="HS256",
    )
    assert "unknown role" in unauthenticated(token)


@pytest.mark.parametrize("communities", [None, []])
def test_rejects_a_community_staff_token_that_names_no_community(communities: object) -> None:
    token = signed({"role": "community_staff", "communities": communities})
    assert "names no community" in unauthenticated(token)


@pytest.mark.parametrize("streets", [None, []])
def test_rejects_a_street_admin_token_that_names_no_street(streets: object) -> None:
    token = signed({"role": "street_admin", "streets": streets, "communities": ["binhu"]})
    assert "names no street" in unauthenticated(token)


@pytest.mark.parametrize(
    "claims",
    [
        {"role": "community_staff", "communities": "binhu"},
        {"role": "street_admin", "streets": {"jiyang": True}},
    ],
)
def test_rejects_a_token_whose_scope_is_not_a_list(claims: dict[str, object]) -> None:
    assert "must be lists" in unauthenticated(signed(claims))


def test_rejects_a_signed_token_whose_communities_are_not_text() -> None:
    token = signed({"role": "community_staff", "communities": [["binhu"]]})
    assert "bad token" in unauthenticated(token)


def test_a_member_or_admin_token_may_name_no_place() -> None:
    for role in ("member", "district_admin", "service"):
        assert verify_token(SETTINGS, signed({"role": role})).role.value == role


# ---------------------------------------------------------------------------------------------
# Metadata


def test_takes_the_token_from_bearer_metadata() -> None:
    metadata = (("x-request-id", "r1"), ("authorization", "Bearer abc.def.ghi"))
    assert token_from_metadata(metadata) == "abc.def.ghi"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_the_bearer_scheme_is_case_insensitive(scheme: str) -> None:
    assert token_from_metadata((("authorization", f"{scheme} tok"),)) == "tok"


@pytest.mark.parametrize("metadata", [None, (), (("x-request-id", "r1"),)])
def test_rejects_a_call_without_authorization_metadata(metadata: object) -> None:
    with pytest.raises(Unauthenticated) as caught:
        token_from_metadata(metadata)
    assert caught.value.message.startswith("missing authorization metadata")


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "abc.def.ghi", "Bearer", "Bearer ", ""])
def test_rejects_authorization_that_is_not_a_bearer_token(value: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        token_from_metadata((("authorization", value),))
    assert caught.value.message == "authorization metadata must be 'Bearer <token>'"


def test_rejects_a_bearer_header_whose_token_is_only_spaces() -> None:
    with pytest.raises(Unauthenticated):
        token_from_metadata((("authorization", "Bearer   "),))


# ---------------------------------------------------------------------------------------------
# Principals


@pytest.mark.parametrize(
    ("principal", "community", "street", "held"),
    [
        (MEMBER, "binhu", "jiyang", False),
        (STAFF, "binhu", "jiyang", True),
        (STAFF, "binhu", None, True),
        (STAFF, "huayang", "jiyang", False),
        (STAFF, None, "jiyang", False),
        (STREET, "yajuyuan", "jiyang", True),
        (STREET, "binhu", "jibei", False),
        (STREET, "binhu", None, False),
        (DISTRICT, None, None, True),
        (SERVICE, "anywhere", "elsewhere", True),
    ],
)
def test_what_a_principal_holds(
    principal: Principal, community: str | None, street: str | None, held: bool
) -> None:
    assert principal.holds(community, street) is held


def test_only_district_admins_and_services_are_everywhere() -> None:
    assert [p.is_everywhere for p in (MEMBER, STAFF, STREET, DISTRICT, SERVICE)] == [
        False,
        False,
        False,
        True,
        True,
    ]


def test_require_lets_an_allowed_role_through() -> None:
    STAFF.require(Role.COMMUNITY_STAFF, Role.DISTRICT_ADMIN)


def test_require_refuses_another_role_naming_the_allowed_ones() -> None:
    with pytest.raises(PermissionDenied) as caught:
        MEMBER.require(Role.COMMUNITY_STAFF, Role.STREET_ADMIN)
    assert status_code(caught.value) is grpc.StatusCode.PERMISSION_DENIED
    assert caught.value.message == (
        "role member may not do this (allowed: community_staff, street_admin)"
    )


def test_a_principal_becomes_a_proto_with_sorted_scope() -> None:
    p = Principal("s", Role.COMMUNITY_STAFF, frozenset({"yinshan", "binhu"}))
    assert p.to_proto() == common_pb2.Principal(
        subject="s",
        role=common_pb2.ROLE_COMMUNITY_STAFF,
        community_ids=["binhu", "yinshan"],
        street_ids=[],
    )


IDS = st.frozensets(st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True), max_size=5)


@settings(max_examples=50)
@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
    st.sampled_from(list(Role)),
    IDS,
    IDS,
)
def test_a_principal_survives_a_round_trip_through_its_proto(
    subject: str, role: Role, communities: frozenset[str], streets: frozenset[str]
) -> None:
    p = Principal(subject, role, communities, streets)
    wire = common_pb2.Principal.FromString(p.to_proto().SerializeToString())
    assert Principal.from_proto(wire) == p


@settings(max_examples=40)
@given(st.sampled_from(list(Role)), IDS, IDS)
def test_a_principal_survives_a_round_trip_through_a_token(
    role: Role, communities: frozenset[str], streets: frozenset[str]
) -> None:
    if role is Role.COMMUNITY_STAFF:
        communities |= {"binhu"}
    if role is Role.STREET_ADMIN:
        streets |= {"jiyang"}
    p = Principal("subject-1", role, communities, streets)
    assert verify_token(SETTINGS, issue_token(SETTINGS, p)) == p


def test_there_is_no_principal_outside_a_call() -> None:
    import contextvars

    def outside() -> None:
        with pytest.raises(Unauthenticated):
            current_principal()

    contextvars.Context().run(outside)


def test_the_current_principal_is_the_one_set_for_the_call() -> None:
    import contextvars

    def inside() -> Principal:
        set_current_principal(STAFF)
        return current_principal()

    assert contextvars.Context().run(inside) == STAFF
