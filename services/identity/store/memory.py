"""The identity service's store in memory: a second, real implementation of the store interface
for the use-case tests (held to the PostgreSQL store's behaviour by the contract suite)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime

from services.common.auth import Principal
from services.identity.domain.accounts import Account
from services.identity.domain.attempts import Attempts
from services.identity.domain.codes import PhoneCode
from services.identity.domain.errors import account_not_found, user_name_taken
from services.identity.domain.members import MemberRef
from services.identity.domain.tokens import RefreshToken, SubjectKind
from services.identity.events import Event
from services.identity.keys import SigningKey
from services.identity.store.port import Change, Ended, Tx
from services.identity.store.records import revokes_tokens, within_scope


class MemoryStore:
    def __init__(self) -> None:
        self.communities: dict[str, str] = {}
        self.members: dict[str, tuple[MemberRef, datetime]] = {}
        self.accounts: dict[str, Account] = {}
        self.attempt_rows: dict[str, Attempts] = {}
        self.codes: dict[str, PhoneCode] = {}
        # token hash -> (token, spent, revoked)
        self.refresh: dict[bytes, tuple[RefreshToken, bool, bool]] = {}
        self.keys: dict[str, SigningKey] = {}
        self.events: list[tuple[Event, Principal | None]] = []

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        yield None

    async def put_community(self, tx: Tx, community_id: str, street_id: str) -> None:
        self.communities[community_id] = street_id

    async def put_member(self, tx: Tx, member: MemberRef, version: datetime) -> None:
        known = self.members.get(member.id)
        if known is None or known[1] <= version:
            self.members[member.id] = (member, version)

    async def streets_of(self, community_ids: Iterable[str]) -> dict[str, str]:
        return {c: self.communities[c] for c in community_ids if c in self.communities}

    async def communities_in(self, street_ids: Iterable[str]) -> frozenset[str]:
        streets = set(street_ids)
        return frozenset(c for c, s in self.communities.items() if s in streets)

    async def member_by_phone(self, phone: str) -> MemberRef | None:
        found = [m for m, _ in self.members.values() if m.phone == phone and m.active]
        return found[0] if len(found) == 1 else None

    async def member(self, member_id: str) -> MemberRef | None:
        known = self.members.get(member_id)
        return known[0] if known else None

    async def add_account(self, account: Account, events: list[Event], actor: Principal) -> None:
        if any(a.user_name == account.user_name for a in self.accounts.values()):
            raise user_name_taken()
        self.accounts[account.id] = account
        self.events.extend((e, actor) for e in events)

    async def update_account(self, account_id: str, change: Change, actor: Principal) -> Account:
        before = self.accounts.get(account_id)
        if before is None:
            raise account_not_found(account_id)
        after, events = change(before)
        self.accounts[account_id] = after
        self.events.extend((e, actor) for e in events)
        if revokes_tokens(before, after):
            await self._revoke(lambda t: t.kind is SubjectKind.ACCOUNT and t.subject == account_id)
        return after

    async def account(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)

    async def account_by_name(self, user_name: str) -> Account | None:
        return next((a for a in self.accounts.values() if a.user_name == user_name), None)

    async def list_accounts(
        self, after: str | None, limit: int, within: frozenset[str] | None
    ) -> list[Account]:
        rows = sorted(self.accounts.values(), key=lambda a: a.user_name)
        return [
            a
            for a in rows
            if (after is None or a.user_name > after)
            and (within is None or within_scope(a.role, a.community_ids, within))
        ][:limit]

    async def attempts(self, key: str) -> Attempts:
        return self.attempt_rows.get(key, Attempts())

    async def count_attempt(self, key: str, now: datetime, window_s: float) -> Attempts:
        counted = self.attempt_rows.get(key, Attempts()).counted(now, window_s)
        self.attempt_rows[key] = counted
        return counted

    async def clear_attempts(self, key: str) -> None:
        self.attempt_rows.pop(key, None)

    async def put_code(self, code: PhoneCode) -> None:
        self.codes[code.phone] = code

    async def code(self, phone: str) -> PhoneCode | None:
        return self.codes.get(phone)

    async def spend_code(self, phone: str, code_hash: bytes) -> bool:
        known = self.codes.get(phone)
        if known is None or known.code_hash != code_hash:
            return False
        del self.codes[phone]
        return True

    async def add_refresh(self, token: RefreshToken) -> None:
        self.refresh[token.token_hash] = (token, False, False)

    async def rotate_refresh(
        self, token_hash: bytes, now: datetime, successor: Callable[[RefreshToken], RefreshToken]
    ) -> RefreshToken | None:
        known = self.refresh.get(token_hash)
        if known is None:
            return None
        token, spent, revoked = known
        if spent:
            await self._revoke(lambda t: t.family == token.family)
            return None
        if revoked or token.expires_at <= now:
            return None
        self.refresh[token_hash] = (token, True, False)
        new = successor(token)
        self.refresh[new.token_hash] = (new, False, False)
        return new

    async def revoke_family(self, token_hash: bytes, now: datetime, ended: Ended) -> None:
        known = self.refresh.get(token_hash)
        if known is not None:
            token = known[0]
            await self._revoke(lambda t: t.family == token.family)
            self.events.extend((e, None) for e in ended(token.subject, token.family))

    async def revoke_subject(self, kind: SubjectKind, subject: str, now: datetime) -> None:
        await self._revoke(lambda t: t.kind is kind and t.subject == subject)

    async def announce(self, tx: Tx, events: list[Event]) -> None:
        self.events.extend((e, None) for e in events)

    async def _revoke(self, which: Callable[[RefreshToken], bool]) -> None:
        for h, (t, spent, _revoked) in list(self.refresh.items()):
            if which(t):
                self.refresh[h] = (t, spent, True)

    async def signing_keys(self) -> list[SigningKey]:
        return sorted(self.keys.values(), key=lambda k: k.created_at)

    async def rotate_key(
        self, new: SigningKey, retire: Callable[[SigningKey], SigningKey], only_if_none: bool
    ) -> bool:
        active = [k for k in self.keys.values() if k.retired_at is None]
        if active and only_if_none:
            return False
        for k in active:
            self.keys[k.kid] = retire(k)
        self.keys[new.kid] = new
        return True
