"""Verifying a caller's token: the identity service's (keys from its JWKS), an external OpenID
issuer's (keys through its discovery document), or in dev mode a development token (HS256)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from services.common import auth
from services.common.auth import LINLI_CLAIMS, ClaimMapping, Principal, Role
from services.common.errors import Unauthenticated
from services.common.jwks import JwksKeys, KeyPolicy
from services.common.settings import Settings

DEV_ALGORITHM = "HS256"


@dataclass(frozen=True)
class TrustedIssuer:
    """An issuer whose tokens are accepted: its `iss`, the audience its tokens must name, where its
    keys are, and which claims name the principal."""

    issuer: str
    audience: str
    keys: JwksKeys
    claims: ClaimMapping = LINLI_CLAIMS

    @property
    def required(self) -> list[str]:
        return ["exp", "iss", "aud", *(["sub"] if self.claims.subject == "sub" else [])]


class TokenVerifier:
    """Turns a bearer token into the Principal it names, or raises Unauthenticated (or
    KeysUnavailable when the key it names cannot be fetched now)."""

    def __init__(self, settings: Settings, issuers: Sequence[TrustedIssuer]) -> None:
        self._settings = settings
        self._issuers = {i.issuer: i for i in issuers}
        self._algorithms = list(settings.jwt_algorithms)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        s = settings
        policy = KeyPolicy(
            cache_s=s.jwks_cache_s,
            refetch_min_s=s.jwks_refetch_min_s,
            max_stale_s=s.jwks_max_stale_s,
            timeout_s=s.jwks_timeout_s,
        )
        issuers = []
        if s.jwks_url:
            keys = JwksKeys(jwks_url=s.jwks_url, algorithms=s.jwt_algorithms, policy=policy)
            issuers.append(TrustedIssuer(s.jwt_issuer, s.jwt_audience, keys))
        if s.oidc_issuer:
            keys = JwksKeys(issuer=s.oidc_issuer, algorithms=s.jwt_algorithms, policy=policy)
            mapping = ClaimMapping(
                subject=s.oidc_subject_claim,
                role=s.oidc_role_claim,
                communities=s.oidc_communities_claim,
                streets=s.oidc_streets_claim,
                roles=tuple((given, _role(role)) for given, role in s.oidc_roles),
            )
            audience = s.oidc_audience or s.jwt_audience
            issuers.append(TrustedIssuer(s.oidc_issuer, audience, keys, mapping))
        return cls(settings, issuers)

    @property
    def issuers(self) -> list[TrustedIssuer]:
        return list(self._issuers.values())

    async def verify(self, token: str) -> Principal:
        header, claims = _unverified(token)
        alg = header.get("alg")
        if alg == DEV_ALGORITHM and self._settings.dev_mode:
            return auth.verify_token(self._settings, token)
        # Checked before any key is looked up: "none", HS256 (which would take a public key as
        # its secret) and anything else not configured never reach a key.
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise Unauthenticated(f"bad token: algorithm {str(alg)[:16]!r} is not accepted")
        iss = claims.get("iss")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise Unauthenticated("bad token: not issued by a trusted issuer")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated("bad token: its key id is not text")
        key = await issuer.keys.key(kid)
        try:
            verified = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=issuer.audience,
                issuer=issuer.issuer,
                leeway=self._settings.jwt_leeway_s,
                options={"require": issuer.required},
            )
        except jwt.ExpiredSignatureError as e:
            raise Unauthenticated("token expired") from e
        except jwt.InvalidTokenError as e:
            raise Unauthenticated(f"bad token: {e}") from e
        return auth.principal_from_claims(verified, issuer.claims)

    async def close(self) -> None:
        for issuer in self._issuers.values():
            await issuer.keys.close()


def _role(name: str) -> Role:
    try:
        return Role(name)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise SystemExit(f"LINLI_OIDC_ROLES: {name!r} is no Linli role ({known})") from None


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims as written, only to choose the key: nothing is trusted yet."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as e:
        raise Unauthenticated(f"bad token: {e}") from e
    return header, claims
