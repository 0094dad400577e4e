"""Page sizes and opaque page tokens for List calls (keyset paging on a sortable key)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

from services.common.errors import invalid

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# Our tokens hold one key and a fingerprint; anything much longer was not issued by us.
MAX_TOKEN_LENGTH = 1024


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
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, filters: object) -> str | None:
    """The key to continue after, or None for the first page."""
    if not token:
        return None
    if len(token) > MAX_TOKEN_LENGTH:
        raise invalid("page_token", "not a token this service issued")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
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
