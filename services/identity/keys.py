"""The identity service's keys: the ES256 keys that sign tokens (kept sealed in the database,
published as a JWKS) and the sealing of secrets at rest (AES-256-GCM from `cryptography`)."""

from __future__ import annotations

import base64
import binascii
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwt.algorithms import ECAlgorithm

from services.common.auth import Principal, Role
from services.common.errors import Unauthenticated

ALGORITHM = "ES256"
NONCE_BYTES = 12


class Sealer:
    """Seals small secrets (private keys, TOTP seeds) with the key from the settings; what it
    sealed for one purpose does not open for another."""

    def __init__(self, key_b64: str) -> None:
        try:
            key = base64.b64decode(key_b64, validate=True)
        except (binascii.Error, ValueError) as e:
            raise ValueError("the identity secrets key must be base64") from e
        if len(key) != 32:
            raise ValueError("the identity secrets key must be 32 bytes (base64)")
        self._aead = AESGCM(key)

    def seal(self, plain: bytes, purpose: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plain, purpose.encode())

    def open(self, sealed: bytes, purpose: str) -> bytes:
        return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], purpose.encode())


@dataclass(frozen=True)
class SigningKey:
    """A signing key as kept: the private key sealed, the public one as a JWK. It signs from
    `created_at` until `retired_at` and is published until `published_until`."""

    kid: str
    private_sealed: bytes
    public_jwk: dict[str, Any]
    created_at: datetime
    retired_at: datetime | None = None
    published_until: datetime | None = None


def new_signing_key(sealer: Sealer, now: datetime) -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    kid = f"{now:%Y%m%d}-{uuid.uuid4().hex[:12]}"
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    return SigningKey(kid, sealer.seal(pem, f"signing key {kid}"), jwk, now)


def retire(key: SigningKey, now: datetime, publish_for_s: int) -> SigningKey:
    return SigningKey(
        key.kid,
        key.private_sealed,
        key.public_jwk,
        key.created_at,
        now,
        now + timedelta(seconds=publish_for_s),
    )


@dataclass
class KeySet:
    """The keys in use, as loaded: the newest unretired one signs, every one still published
    verifies."""

    sealer: Sealer
    keys: list[SigningKey] = field(default_factory=list)
    _private: dict[str, ec.EllipticCurvePrivateKey] = field(default_factory=dict)
    _public: dict[str, Any] = field(default_factory=dict)

    def load(self, keys: list[SigningKey], now: datetime) -> None:
        self.keys = [k for k in keys if k.published_until is None or k.published_until > now]
        self._public = {k.kid: ECAlgorithm.from_jwk(json.dumps(k.public_jwk)) for k in self.keys}
        active = self.active
        if active is not None and active.kid not in self._private:
            pem = self.sealer.open(active.private_sealed, f"signing key {active.kid}")
            loaded = serialization.load_pem_private_key(pem, password=None)
            assert isinstance(loaded, ec.EllipticCurvePrivateKey)
            self._private = {active.kid: loaded}

    @property
    def active(self) -> SigningKey | None:
        live = [k for k in self.keys if k.retired_at is None]
        return max(live, key=lambda k: k.created_at) if live else None

    def knows(self, kid: str) -> bool:
        return kid in self._public

    def sign(self, claims: dict[str, Any]) -> str:
        active = self.active
        if active is None or active.kid not in self._private:
            raise RuntimeError("no active signing key loaded")
        return jwt.encode(
            claims, self._private[active.kid], algorithm=ALGORITHM, headers={"kid": active.kid}
        )

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in sorted(self.keys, key=lambda k: k.created_at)]}

    def verify(self, token: str, *, issuer: str, audience: str) -> Principal:
        """A token signed by one of these keys, as a principal (the identity service's own
        check; every other service checks through the JWKS)."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._public.get(str(kid))
            if key is None:
                raise Unauthenticated("bad token: unknown key")
            c = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=issuer,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as e:
            raise Unauthenticated("token expired") from e
        except jwt.InvalidTokenError as e:
            raise Unauthenticated("bad token") from e
        try:
            role = Role(str(c.get("role")))
            communities = frozenset(str(x) for x in c.get("communities") or [])
            streets = frozenset(str(x) for x in c.get("streets") or [])
        except (ValueError, TypeError) as e:
            raise Unauthenticated("bad token") from e
        return Principal(str(c["sub"]), role, communities, streets)
