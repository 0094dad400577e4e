"""A real HTTP server on a free local port that publishes signing keys as a JWKS (and, for an
OpenID issuer, its discovery document), with the keys that sign tokens for the tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/.well-known/jwks.json"


@dataclass
class SigningKey:
    """A private key with its id; `jwk` is the public half as a key set lists it."""

    kid: str
    algorithm: str
    private: Any

    @classmethod
    def new(cls, algorithm: str = "ES256") -> SigningKey:
        private: Any = (
            ec.generate_private_key(ec.SECP256R1())
            if algorithm == "ES256"
            else ed25519.Ed25519PrivateKey.generate()
        )
        return cls(f"k-{uuid.uuid4().hex[:8]}", algorithm, private)

    @property
    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        codec = ECAlgorithm if self.algorithm == "ES256" else OKPAlgorithm
        found: dict[str, Any] = codec.to_jwk(public, as_dict=True)  # type: ignore[attr-defined]
        return found | {"kid": self.kid, "use": "sig", "alg": self.algorithm}

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(  # type: ignore[no-any-return]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(
            claims, self.private, algorithm=self.algorithm, headers={"kid": self.kid, **header}
        )


def claims(
    *,
    issuer: str = "linli",
    audience: str = "linli",
    subject: str = "tester",
    role: str = "district_admin",
    ttl_s: int = 600,
    **extra: Any,
) -> dict[str, Any]:
    """Claims as the identity service writes them (services/common/auth.py, issue_token)."""
    now = int(time.time())
    return {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "exp": now + ttl_s,
        "jti": str(uuid.uuid4()),
        "role": role,
        "communities": [],
        "streets": [],
    } | extra


def hs256_with(secret: bytes, payload: dict[str, Any], **header: Any) -> str:
    """An HS256 token signed with any bytes (PyJWT rightly refuses a PEM public key as an HMAC
    secret, so the algorithm-confusion attack is forged by hand)."""

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", **header}).encode())
    body = b64(json.dumps(payload).encode())
    mac = hmac.new(secret, head + b"." + body, hashlib.sha256).digest()
    return (head + b"." + body + b"." + b64(mac)).decode()


@dataclass
class KeyServer:
    """Serves `keys` at /.well-known/jwks.json and, as issuer `url`, a discovery document; counts
    requests by path. `stop()` takes it away (connections refused); `start()` brings it back on
    the same port."""

    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.new()])
    # Raw entries listed beside the keys (keys a verifier must leave out).
    extra: list[dict[str, Any]] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        return self.url + JWKS

    @property
    def key(self) -> SigningKey:
        """The key that signs now (the last one published)."""
        return self.keys[-1]

    def document(self, path: str) -> dict[str, Any] | None:
        with self._lock:
            self.requests[path] += 1
            if path == JWKS:
                return {"keys": [*self.extra, *(k.jwk for k in self.keys)]}
            if path == DISCOVERY:
                return {"issuer": self.url, "jwks_uri": self.jwks_url}
        return None

    def start(self) -> KeyServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = owner.document(self.path)
                body = json.dumps(found).encode()
                self.send_response(200 if found is not None else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
