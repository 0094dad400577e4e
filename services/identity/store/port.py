"""What the use cases and the event handlers ask of the identity service's store: one interface,
implemented on PostgreSQL (`postgres.PostgresStore`) and in memory (`memory.MemoryStore`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from services.common.auth import Principal
from services.identity.domain.accounts import Account
from services.identity.domain.attempts import Attempts
from services.identity.domain.codes import PhoneCode
from services.identity.domain.members import MemberRef
from services.identity.domain.tokens import RefreshToken, SubjectKind
from services.identity.events import Event
from services.identity.keys import SigningKey

# The transaction an event is applied in: the consumer's connection for PostgreSQL.
Tx = Any
# A change of an account: the account after it and the events that announce it.
Change = Callable[[Account], tuple[Account, list[Event]]]
# A sign-in ended: its subject and family → the events that announce it.
Ended = Callable[[str, str], list[Event]]


class IdentityStore(Protocol):
    # -- the read model of the registry, written inside an event's transaction -------------------

    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    async def put_community(self, tx: Tx, community_id: str, street_id: str) -> None: ...

    async def put_member(self, tx: Tx, member: MemberRef, version: datetime) -> None:
        """Keep the member as of `version` (an older version changes nothing)."""
        ...

    async def streets_of(self, community_ids: Iterable[str]) -> dict[str, str]: ...

    async def communities_in(self, street_ids: Iterable[str]) -> frozenset[str]: ...

    async def member_by_phone(self, phone: str) -> MemberRef | None:
        """The active member with this phone, if any."""
        ...

    async def member(self, member_id: str) -> MemberRef | None: ...

    # -- accounts ------------------------------------------------------------------------------

    async def add_account(self, account: Account, events: list[Event], actor: Principal) -> None:
        """Raises AlreadyExists (user_name) when the name is taken."""
        ...

    async def update_account(self, account_id: str, change: Change, actor: Principal) -> Account:
        """Applies `change` under the account's row lock; NotFound when there is none. A change
        that disables the account or changes its password also revokes its refresh tokens."""
        ...

    async def account(self, account_id: str) -> Account | None: ...

    async def account_by_name(self, user_name: str) -> Account | None: ...

    async def list_accounts(
        self, after: str | None, limit: int, within: frozenset[str] | None
    ) -> list[Account]:
        """By user name, after `after`. `within`: only community staff all of whose
        communities are in it (a street administrator's view); None: every account."""
        ...

    # -- attempts and codes --------------------------------------------------------------------

    async def attempts(self, key: str) -> Attempts: ...

    async def count_attempt(self, key: str, now: datetime, window_s: float) -> Attempts: ...

    async def clear_attempts(self, key: str) -> None: ...

    async def put_code(self, code: PhoneCode) -> None:
        """The phone's new code, replacing any earlier one."""
        ...

    async def code(self, phone: str) -> PhoneCode | None: ...

    async def spend_code(self, phone: str, code_hash: bytes) -> bool:
        """Deletes the phone's code if it is still this one; whether it was (spent only once)."""
        ...

    # -- refresh tokens ------------------------------------------------------------------------

    async def add_refresh(self, token: RefreshToken) -> None: ...

    async def rotate_refresh(
        self, token_hash: bytes, now: datetime, successor: Callable[[RefreshToken], RefreshToken]
    ) -> RefreshToken | None:
        """Spends a live refresh token and adds its successor, in one transaction; returns the
        successor. None when the token is unknown, expired or revoked, and when it was spent
        already, in which case its whole family is revoked."""
        ...

    async def revoke_family(self, token_hash: bytes, now: datetime, ended: Ended) -> None:
        """Revokes the family of the token, and writes the events `ended` gives for it (its
        subject and family) in the same transaction."""
        ...

    async def revoke_subject(self, kind: SubjectKind, subject: str, now: datetime) -> None: ...

    async def announce(self, tx: Tx, events: list[Event]) -> None:
        """Publishes `events` with the consumer's transaction `tx` (through the outbox)."""
        ...

    # -- signing keys --------------------------------------------------------------------------

    async def signing_keys(self) -> list[SigningKey]: ...

    async def rotate_key(
        self, new: SigningKey, retire: Callable[[SigningKey], SigningKey], only_if_none: bool
    ) -> bool:
        """Adds `new` as the active key and retires the active ones, under one lock. With
        `only_if_none`, does nothing (False) when an active key exists already."""
        ...
