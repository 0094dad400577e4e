"""Page sizes and opaque page tokens for List calls (keyset paging on a sortable key).

A token is signed (HMAC-SHA256, truncated) with the service's page-token key, which the server
interceptor puts in place for each call (`signing_key`): a token this service did not issue, or
one altered by a byte, is INVALID_ARGUMENT naming `page_token` before anything reads its key.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator

from services.common.errors import invalid

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# Our tokens hold one key and a fingerprint; anything much longer was not issued by us.
MAX_TOKEN_LENGTH = 1024
# 128 bits of HMAC-SHA256: forging one is out of reach, and tokens stay short.
_MAC_BYTES = 16

_key: contextvars.ContextVar[bytes] = contextvars.ContextVar("linli_page_token_key")


def set_signing_key(key: bytes) -> None:
    """Sign and check tokens with `key` in the current context (the interceptor, per call)."""
    _key.set(key)


@contextlib.contextmanager
def signing_key(key: bytes) -> Iterator[None]:
    """Sign and check tokens with `key` inside the block (tools and tests)."""
    reset = _key.set(key)
    try:
        yield
    finally:
        _key.reset(reset)


def _mac(raw: bytes) -> bytes:
    try:
        key = _key.get()
    except LookupError:
        # Outside a call nobody set a key: a token signed with a guessable one would be forgeable.
        raise RuntimeError("page tokens need a signing key (paging.signing_key)") from None
    return hmac.new(key, raw, hashlib.sha256).digest()[:_MAC_BYTES]


def page_size(requested: int) -> int:
    if requested < 0:
        raise invalid("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _fingerprint(filters: object) -> str:
    return hashlib.sha256(json.dumps(filters, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


def encode(after: str, filters: object) -> str:
    """A token for the page after key `after`, valid only with the same filters."""
    raw = json.dumps({"a": after, "f": _fingerprint(filters)}).encode()
    return base64.urlsafe_b64encode(_mac(raw) + raw).decode().rstrip("=")


def decode(token: str, filters: object) -> str | None:
    """The key to continue after, or None for the first page."""
    if not token:
        return None
    if len(token) > MAX_TOKEN_LENGTH:
        raise invalid("page_token", "not a token this service issued")
    try:
        signed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError as e:
        raise invalid("page_token", "not a token this service issued") from e
    mac, raw = signed[:_MAC_BYTES], signed[_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(raw)):
        raise invalid("page_token", "not a token this service issued")
    try:
        data = json.loads(raw)
        after, fingerprint = str(data["a"]), data["f"]
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        raise invalid("page_token", "not a token this service issued") from e
    if fingerprint != _fingerprint(filters):
        raise invalid("page_token", "was issued for other filters; start again without it")
    return after


def decode_uuid(token: str, filters: object) -> str | None:
    """As decode, for lists keyed by a UUID: a token naming anything else is refused."""
    after = decode(token, filters)
    if after is not None:
        try:
            uuid.UUID(after)
        except ValueError as e:
            raise invalid("page_token", "not a token this service issued") from e
    return after
