"""Token verification without I/O (services/common/tokens.py, auth.py, settings): which
algorithms are accepted before any key is looked up, development tokens in dev mode only, the
settings a deployment gives, and how an external issuer's claims name a Linli principal."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from services.common.auth import (
    ClaimMapping,
    Principal,
    Role,
    issue_token,
    principal_from_claims,
    verify_token,
)
from services.common.errors import Unauthenticated
from services.common.jwks import JwksKeys
from services.common.settings import Settings
from services.common.tokens import TokenVerifier, TrustedIssuer

NOWHERE = (
    "http://127.0.0.1:9/.well-known/jwks.json"  # never asked: every token here is refused first
)
PRODUCTION = Settings(dev_mode=False, jwks_url=NOWHERE)
DEV = Settings(dev_mode=True)
ADMIN = Principal("admin-1", Role.DISTRICT_ADMIN)


def production_verifier() -> tuple[TokenVerifier, JwksKeys]:
    keys = JwksKeys(jwks_url=NOWHERE, algorithms=PRODUCTION.jwt_algorithms)
    return TokenVerifier(PRODUCTION, [TrustedIssuer("linli", "linli", keys)]), keys


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": "linli", "aud": "linli", "sub": "x", "exp": now + 60, "role": "service"} | extra


def hs256(secret: bytes, payload: dict[str, Any]) -> str:
    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing = b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode()) + b"."
    signing += b64(json.dumps(payload).encode())
    mac = hmac.new(secret, signing, hashlib.sha256).digest()
    return (signing + b"." + b64(mac)).decode()


def unsigned(alg: str, payload: dict[str, Any]) -> str:
    """A token as written by anyone: any header and claims, a signature of nothing."""

    def b64(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': alg, 'kid': 'a'})}.{b64(payload)}.c2ln"


async def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(token)
    return caught.value.message


# -- algorithms ----------------------------------------------------------------------------------


async def test_production_refuses_a_development_token_without_asking_for_keys() -> None:
    verifier, keys = production_verifier()
    assert "not accepted" in await refused(verifier, issue_token(PRODUCTION, ADMIN))
    assert keys.fetches == 0


async def test_an_unsigned_token_is_refused_without_asking_for_keys() -> None:
    verifier, keys = production_verifier()
    for settings in (PRODUCTION, DEV):
        token = jwt.encode(claims(), None, algorithm="none")
        assert "not accepted" in await refused(verifier, token)
        assert "not accepted" in await refused(TokenVerifier(settings, []), token)
    assert keys.fetches == 0


async def test_hs256_keyed_with_a_public_key_is_refused_in_production_and_in_dev_mode() -> None:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = hs256(pem, claims())
    verifier, keys = production_verifier()
    assert "not accepted" in await refused(verifier, token)
    assert keys.fetches == 0
    # Dev mode checks HS256 with its own secret only, never with a key from a key set.
    assert (await refused(TokenVerifier(DEV, []), token)).startswith("bad token")


@pytest.mark.parametrize("alg", ["HS384", "HS512", "RS256", "ES512"])
async def test_an_algorithm_not_configured_is_refused(alg: str) -> None:
    verifier, _ = production_verifier()
    assert "not accepted" in await refused(verifier, unsigned(alg, claims()))


async def test_a_token_from_an_issuer_not_trusted_is_refused_before_its_keys_are_sought() -> None:
    verifier, keys = production_verifier()
    private = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(claims(iss="elsewhere"), private, algorithm="ES256", headers={"kid": "a"})
    assert "trusted issuer" in await refused(verifier, token)
    assert "trusted issuer" in await refused(verifier, unsigned("ES256", claims(iss=["linli"])))
    assert "trusted issuer" in await refused(verifier, token)
    assert keys.fetches == 0


@pytest.mark.parametrize("text", ["", "garbage", "a.b.c", "Bearer x"])
async def test_text_that_is_no_token_is_refused(text: str) -> None:
    verifier, _ = production_verifier()
    assert (await refused(verifier, text)).startswith("bad token")


# -- development tokens --------------------------------------------------------------------------


async def test_dev_mode_accepts_a_development_token() -> None:
    assert await TokenVerifier(DEV, []).verify(issue_token(DEV, ADMIN)) == ADMIN


def test_a_development_token_is_refused_outside_dev_mode() -> None:
    with pytest.raises(Unauthenticated, match="dev mode only"):
        verify_token(PRODUCTION, issue_token(PRODUCTION, ADMIN))


# -- settings ------------------------------------------------------------------------------------


def test_the_default_algorithms_are_es256_and_eddsa() -> None:
    assert Settings().jwt_algorithms == ("ES256", "EdDSA")


@pytest.mark.parametrize("given", ["HS256", "none", "ES256,HS512", ""])
def test_symmetric_algorithms_and_none_cannot_be_configured(given: str) -> None:
    with pytest.raises(ValidationError):
        Settings(jwt_algorithms=given)  # type: ignore[arg-type]


def test_algorithms_and_role_values_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LINLI_JWT_ALGORITHMS", "ES256, RS256")
    monkeypatch.setenv("LINLI_OIDC_ROLES", "admins=district_admin, staff=community_staff")
    s = Settings()
    assert s.jwt_algorithms == ("ES256", "RS256")
    assert s.oidc_roles == (("admins", "district_admin"), ("staff", "community_staff"))


def test_a_role_value_that_is_not_a_pair_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(oidc_roles="admins")  # type: ignore[arg-type]


def test_an_external_role_that_is_no_linli_role_stops_the_process() -> None:
    s = Settings(oidc_issuer="https://sso.example", oidc_roles="admins=superuser")  # type: ignore[arg-type]
    with pytest.raises(SystemExit, match="LINLI_OIDC_ROLES"):
        TokenVerifier.from_settings(s)


def test_production_without_a_key_source_does_not_start() -> None:
    own = {
        "jwt_secret": "p" * 40,
        "event_keys": "prod1:" + base64.b64encode(b"k" * 32).decode(),
        "event_key_id": "prod1",
    }
    with pytest.raises(SystemExit, match="LINLI_JWKS_URL"):
        Settings(dev_mode=False, **own).refuse_unsafe()  # type: ignore[arg-type]
    Settings(dev_mode=False, jwks_url=NOWHERE, **own).refuse_unsafe()  # type: ignore[arg-type]
    Settings(dev_mode=False, oidc_issuer="https://sso.example", **own).refuse_unsafe()  # type: ignore[arg-type]


def test_the_verifier_trusts_the_issuers_a_deployment_configures() -> None:
    s = Settings(
        jwks_url="http://identity:8080/.well-known/jwks.json",
        oidc_issuer="https://sso.example/realms/district",
        oidc_audience="linli-app",
    )
    found = {(i.issuer, i.audience) for i in TokenVerifier.from_settings(s).issuers}
    assert found == {("linli", "linli"), ("https://sso.example/realms/district", "linli-app")}
    assert TokenVerifier.from_settings(Settings()).issuers == []


# -- claims --------------------------------------------------------------------------------------

KEYCLOAK = ClaimMapping(
    subject="preferred_username",
    role="realm_access.roles",
    communities="linli.communities",
    roles=(("linli-staff", Role.COMMUNITY_STAFF), ("linli-admin", Role.DISTRICT_ADMIN)),
)


def test_an_external_issuers_claims_are_read_through_its_mapping() -> None:
    found = principal_from_claims(
        {
            "sub": "f81d4fae",
            "preferred_username": "wang.fang",
            "realm_access": {"roles": ["offline_access", "linli-staff"]},
            "linli": {"communities": ["binhu"]},
        },
        KEYCLOAK,
    )
    assert found == Principal("wang.fang", Role.COMMUNITY_STAFF, frozenset({"binhu"}))


def test_a_claim_whose_name_holds_dots_is_read_as_named() -> None:
    mapping = ClaimMapping(role="https://linli.example/role")
    found = principal_from_claims({"sub": "s", "https://linli.example/role": "member"}, mapping)
    assert found.role is Role.MEMBER


@pytest.mark.parametrize(
    ("roles", "why"),
    [
        ([], "unknown role"),
        (["offline_access"], "unknown role"),
        (["linli-staff", "linli-admin"], "more than one role"),
    ],
)
def test_an_external_token_must_map_to_exactly_one_role(roles: list[str], why: str) -> None:
    with pytest.raises(Unauthenticated, match=why):
        principal_from_claims(
            {"preferred_username": "u", "realm_access": {"roles": roles}}, KEYCLOAK
        )


@pytest.mark.parametrize("subject", [None, "", 3.5, True, ["x"]])
def test_a_token_must_name_its_subject(subject: object) -> None:
    with pytest.raises(Unauthenticated, match="no subject"):
        principal_from_claims({"sub": subject, "role": "member"})
