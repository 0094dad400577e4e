"""The public keys that sign access tokens: a JWKS fetched over HTTP (from a URL, or found through
an OpenID issuer's discovery document), cached, refreshed, and refetched for an unknown key id.

Fetched with httpx on the event loop rather than PyJWT's PyJWKClient, which fetches with urllib
(blocking the loop), refetches on every unknown key id, and has dropped its cache when a refresh
failed; PyJWT still parses the keys (PyJWKSet).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import httpx
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWTError

from services.common.errors import Unauthenticated

log = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"
# A key set or discovery document larger than this is refused unread: no source needs more.
MAX_DOCUMENT_BYTES = 256 * 1024


class KeysUnavailable(ConnectionError):
    """The key a token names is not known and the key source cannot be reached: the caller may
    retry (the interceptor answers UNAVAILABLE, as for any backing service away)."""


@dataclass(frozen=True)
class KeyPolicy:
    """How keys are cached and refetched (settings jwks_*; docs/security.md)."""

    cache_s: float = 300.0
    refetch_min_s: float = 5.0
    max_stale_s: float = 86_400.0
    timeout_s: float = 5.0


@dataclass(frozen=True)
class _Keys:
    by_kid: dict[str | None, PyJWK]
    fetched_at: float


class JwksKeys:
    """One issuer's signing keys. `key(kid)` answers from the cache; a key id not in it waits for
    one fetch begun after the miss (at most one fetch per `refetch_min_s`, shared by every call
    waiting), so a new key is found without a failed call and made-up ids cost one request per
    period. A failed fetch keeps the keys in hand (for up to `max_stale_s`)."""

    def __init__(
        self,
        *,
        jwks_url: str | None = None,
        issuer: str | None = None,
        algorithms: Collection[str],
        policy: KeyPolicy = KeyPolicy(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (jwks_url is None) == (issuer is None):
            raise ValueError("give exactly one of a JWKS URL and an OpenID issuer")
        self.jwks_url = jwks_url
        self.issuer = issuer
        self._algorithms = frozenset(algorithms)
        self._policy = policy
        self._clock = clock
        self._discovered: str | None = None
        self._keys: _Keys | None = None
        self._pending: asyncio.Task[None] | None = None
        self._last_start = float("-inf")
        self._begun = 0  # the number of the last fetch begun
        self._done = 0  # the number of the last fetch finished
        self._last_failed = False
        self.fetches = 0  # requests for the key set made so far

    async def key(self, kid: str | None) -> PyJWK:
        seen = self._begun
        self._refresh_if_old()
        while True:
            found = self._lookup(kid)
            if found is not None:
                return found
            if self._done > seen:
                break  # a fetch begun after the miss has looked, in vain
            await self._next_fetch()
        if self._last_failed:
            raise KeysUnavailable("the token's signing keys cannot be fetched now; retry later")
        raise Unauthenticated("bad token: signed by an unknown key")

    async def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pending
            self._pending = None

    def _lookup(self, kid: str | None) -> PyJWK | None:
        keys = self._keys
        if keys is None or self._clock() - keys.fetched_at > self._policy.max_stale_s:
            return None
        if kid is None and len(keys.by_kid) == 1:
            return next(iter(keys.by_kid.values()))  # a lone key needs no id
        return keys.by_kid.get(kid) if kid is not None else None

    def _refresh_if_old(self) -> None:
        keys = self._keys
        if keys is not None and self._clock() - keys.fetched_at > self._policy.cache_s:
            self._start_fetch()  # in the background: the keys in hand serve meanwhile

    async def _next_fetch(self) -> None:
        await asyncio.shield(self._start_fetch())

    def _start_fetch(self) -> asyncio.Task[None]:
        if self._pending is None:
            now = self._clock()
            delay = max(0.0, self._last_start + self._policy.refetch_min_s - now)
            self._last_start = now + delay
            self._begun += 1  # fetches are numbered as they are begun
            self._pending = asyncio.create_task(self._fetch_after(self._begun, delay))
        return self._pending

    async def _fetch_after(self, number: int, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            self.fetches += 1
            self._keys = _Keys(await self._fetch_keys(), self._clock())
            self._last_failed = False
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError, PyJWTError) as e:
            self._last_failed = True
            self._discovered = None  # the issuer may have moved its keys: look again next time
            log.warning("token keys not fetched from %s: %s", self._source(), e)
        finally:
            self._done = number
            self._pending = None

    def _source(self) -> str:
        return self.jwks_url or self._discovered or f"{self.issuer}{DISCOVERY_PATH}"

    async def _fetch_keys(self) -> dict[str | None, PyJWK]:
        timeout = httpx.Timeout(self._policy.timeout_s)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            url = self.jwks_url or await self._discover(client)
            document = await _get_json(client, url)
        listed = document.get("keys")
        if not isinstance(listed, list):
            raise ValueError("the key set has no list of keys")
        # Encryption keys and symmetric keys (kty "oct": an HMAC secret has no place in a
        # public key set) are left out, and so are keys of algorithms not accepted.
        signing = [
            k
            for k in listed
            if isinstance(k, dict) and k.get("kty") != "oct" and k.get("use", "sig") == "sig"
        ]
        keys = [k for k in PyJWKSet(signing) if k.algorithm_name in self._algorithms]
        if not keys:
            raise ValueError(f"no signing key for {sorted(self._algorithms)} in the key set")
        return {k.key_id: k for k in keys}

    async def _discover(self, client: httpx.AsyncClient) -> str:
        if self._discovered is None:
            assert self.issuer is not None
            document = await _get_json(client, self.issuer.rstrip("/") + DISCOVERY_PATH)
            # OpenID Connect Discovery 1.0, 4.3: the document must name the issuer asked for.
            if document.get("issuer") != self.issuer:
                raise ValueError(f"the discovery document names issuer {document.get('issuer')!r}")
            uri = document.get("jwks_uri")
            if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
                raise ValueError("the discovery document has no jwks_uri")
            self._discovered = uri
        return self._discovered


async def _get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    async with client.stream("GET", url, headers={"accept": "application/json"}) as response:
        response.raise_for_status()
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise ValueError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError(f"{url} answered no JSON object")
    return document
