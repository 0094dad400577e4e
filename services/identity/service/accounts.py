"""Managing accounts: who may create, change and disable whose (the domain's rules), then the
store; every change announced by an event."""

from __future__ import annotations

import secrets
from dataclasses import replace

from services.common import paging
from services.common.auth import Principal, Role
from services.common.checks import Violations, uuid_arg
from services.common.clock import Clock
from services.common.errors import PermissionDenied
from services.identity import events
from services.identity.domain import accounts as rules
from services.identity.domain.accounts import Account
from services.identity.domain.errors import account_not_found
from services.identity.domain.tokens import SubjectKind
from services.identity.service.signin import Passwords
from services.identity.store import IdentityStore

PASSWORD = "password"
SCOPE = "scope"


class Accounts:
    def __init__(self, store: IdentityStore, passwords: Passwords, clock: Clock) -> None:
        self.store = store
        self.passwords = passwords
        self.clock = clock

    async def create(
        self,
        actor: Principal,
        user_name: str,
        password: str,
        role: Role | None,
        communities: list[str],
        streets: list[str],
    ) -> Account:
        actor.require(Role.STREET_ADMIN, Role.DISTRICT_ADMIN)
        v = Violations()
        name = rules.check_user_name(v, "user_name", user_name)
        rules.check_password(v, "password", password)
        role, cs, ss = rules.check_scope(v, role, communities, streets)
        v.raise_if_any()
        rules.require_may_grant(actor, role, cs, await self.store.streets_of(cs))
        account = Account(
            rules.new_account_id(),
            name,
            role,
            cs,
            ss,
            password_hash=await self.passwords.hash(password),
            created_at=self.clock(),
        )
        await self.store.add_account(account, [events.account_created(account)], actor)
        return account

    async def create_service(self, actor: Principal, client_id: str) -> tuple[Account, str]:
        actor.require(Role.DISTRICT_ADMIN)
        v = Violations()
        name = rules.check_user_name(v, "client_id", client_id)
        v.raise_if_any()
        secret = secrets.token_urlsafe(32)
        account = Account(
            rules.new_account_id(),
            name,
            Role.SERVICE,
            password_hash=await self.passwords.hash(secret),
            created_at=self.clock(),
        )
        await self.store.add_account(account, [events.account_created(account)], actor)
        return account, secret

    async def _managed(self, actor: Principal, account_id: str, own_ok: bool = False) -> Account:
        account_id = uuid_arg(account_id, "id")
        if actor.role not in (Role.STREET_ADMIN, Role.DISTRICT_ADMIN) and not own_ok:
            raise PermissionDenied(f"role {actor.role.value} manages no account")
        account = await self.store.account(account_id)
        if account is None:
            raise account_not_found(account_id)
        streets_of = await self.store.streets_of(account.community_ids)
        rules.require_manages(actor, account, streets_of, own_ok=own_ok)
        return account

    async def get(self, actor: Principal, account_id: str) -> Account:
        return await self._managed(actor, account_id, own_ok=True)

    async def list_managed(
        self, actor: Principal, page_size: int, page_token: str
    ) -> tuple[list[Account], str]:
        actor.require(Role.STREET_ADMIN, Role.DISTRICT_ADMIN)
        within = None
        if actor.role is Role.STREET_ADMIN:
            within = await self.store.communities_in(actor.street_ids)
        filters = ("accounts", actor.subject)
        cur = paging.cursor(page_size, page_token, filters, str)
        rows = await self.store.list_accounts(cur.after, cur.fetch, within)
        return cur.page(rows, lambda a: a.user_name)

    async def change(
        self,
        actor: Principal,
        account_id: str,
        role: Role | None,
        communities: list[str],
        streets: list[str],
    ) -> Account:
        account = await self._managed(actor, account_id)
        v = Violations()
        role, cs, ss = rules.check_scope(v, role, communities, streets)
        v.raise_if_any()
        rules.require_may_grant(actor, role, cs, await self.store.streets_of(cs))

        def rescoped(a: Account) -> tuple[Account, list[events.Event]]:
            after = rules.rescoped(a, role, cs, ss)
            # Old tokens carry the old scope: they end with it.
            moved = (a.role, a.community_ids, a.street_ids) != (
                after.role,
                after.community_ids,
                after.street_ids,
            )
            ended = [events.signins_revoked(a.id, SCOPE)] if moved else []
            return after, [events.account_changed(after, SCOPE), *ended]

        return await self.store.update_account(account.id, rescoped, actor)

    async def reset_password(
        self, actor: Principal, account_id: str, password: str, reset_totp: bool
    ) -> Account:
        account = await self._managed(actor, account_id)
        v = Violations()
        rules.check_password(v, "new_password", password)
        v.raise_if_any()
        hashed = await self.passwords.hash(password)

        def reset(a: Account) -> tuple[Account, list[events.Event]]:
            after = replace(a, password_hash=hashed)
            if reset_totp:
                after = replace(after, totp_sealed=b"", totp_enrolled=False)
            return after, [
                events.account_changed(after, PASSWORD),
                events.signins_revoked(a.id, PASSWORD),
            ]

        after = await self.store.update_account(account.id, reset, actor)
        await self.store.revoke_subject(SubjectKind.ACCOUNT, account.id, self.clock())
        return after

    async def change_own_password(self, actor: Principal, old: str, new: str) -> None:
        account = await self.store.account(actor.subject)
        if account is None or account.role is Role.SERVICE:
            raise PermissionDenied("only staff accounts have a password to change")
        v = Violations()
        rules.check_password(v, "new_password", new)
        v.raise_if_any()
        if not await self.passwords.verify(account.password_hash, old):
            raise PermissionDenied("the old password is wrong")
        hashed = await self.passwords.hash(new)

        def changed(a: Account) -> tuple[Account, list[events.Event]]:
            after = replace(a, password_hash=hashed)
            return after, [
                events.account_changed(after, PASSWORD),
                events.signins_revoked(a.id, PASSWORD),
            ]

        await self.store.update_account(account.id, changed, actor)
        await self.store.revoke_subject(SubjectKind.ACCOUNT, account.id, self.clock())

    async def disable(self, actor: Principal, account_id: str) -> Account:
        account = await self._managed(actor, account_id)

        def disabled(a: Account) -> tuple[Account, list[events.Event]]:
            after = rules.disabled(a)
            return after, [
                events.account_changed(after, "disabled"),
                events.signins_revoked(a.id, "disabled"),
            ]

        return await self.store.update_account(account.id, disabled, actor)
