"""Page sizes and opaque page tokens for List calls (keyset paging on a sortable key).

Every List call pages the same way, through one `Cursor`:

    cursor = paging.cursor(request.page_size, request.page_token, filters, paging.time_key)
    rows = await store.list_things(..., after=cursor.after, limit=cursor.fetch)
    rows, next_token = cursor.page(rows, lambda r: paging.time_token(r.created_at, r.id))

The key parsers (`uuid_key`, `time_key`, `position_key`) turn a token's key back into what the
store sorts by, refusing anything this service would not have issued.

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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

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


K = TypeVar("K")
T = TypeVar("T")


def uuid_key(after: str) -> str:
    """A key that is a UUID (lists ordered by id)."""
    try:
        uuid.UUID(after)
    except ValueError as e:
        raise invalid("page_token", "not a token this service issued") from e
    return after


def time_token(when: datetime, key: str) -> str:
    """The key of a row in a list ordered by (time, id)."""
    return f"{when.isoformat()}|{key}"


def time_key(after: str) -> tuple[datetime, str]:
    """A (time, id) key, as `time_token` wrote it."""
    when, sep, key = after.partition("|")
    try:
        if not sep:
            raise ValueError(after)
        return datetime.fromisoformat(when), key
    except ValueError as e:
        raise invalid("page_token", "not a token this service issued") from e


def time_uuid_key(after: str) -> tuple[datetime, str]:
    """A (time, id) key whose time carries its offset and whose id is a UUID."""
    when, key = time_key(after)
    if when.tzinfo is None:
        raise invalid("page_token", "not a token this service issued")
    return when, str(uuid.UUID(uuid_key(key)))


# Positions are SQL integers.
_MAX_POSITION = 2**31 - 1


def position_key(after: str) -> int:
    """A key that is a position in a fixed list (0 or more)."""
    try:
        position = int(after)
    except ValueError as e:
        raise invalid("page_token", "not a token this service issued") from e
    if not 0 <= position < _MAX_POSITION:
        raise invalid("page_token", "not a token this service issued")
    return position


@dataclass(frozen=True)
class Cursor(Generic[K]):
    """Where a List call starts and how much it takes: `after` the last key of the page before
    (None on the first page), `size` rows shown; the store is asked for `fetch` (one more, to
    know whether another page follows)."""

    after: K | None
    size: int
    filters: object

    @property
    def fetch(self) -> int:
        return self.size + 1

    def page(self, rows: Sequence[T], key: Callable[[T], str]) -> tuple[list[T], str]:
        """The rows to show and the token for the next page ("" when this is the last)."""
        shown = list(rows[: self.size])
        more = len(rows) > self.size and bool(shown)
        return shown, encode(key(shown[-1]), self.filters) if more else ""


def cursor(requested: int, token: str, filters: object, parse: Callable[[str], K]) -> Cursor[K]:
    """The cursor of a List request: its page size checked, its token verified against the
    filters it was issued for, and its key parsed."""
    size = page_size(requested)
    after = decode(token, filters)
    return Cursor(parse(after) if after is not None else None, size, filters)
