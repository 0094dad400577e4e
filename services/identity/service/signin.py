"""Signing in: staff with a password (and TOTP for administrators), services with a client
secret, members with a code sent to their phone; refresh and sign-out. Every failure answers
alike and costs alike, whether or not the account or member exists."""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import replace
from datetime import timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.common.auth import Principal, Role
from services.common.checks import Violations
from services.common.clock import Clock
from services.common.settings import IdentitySettings
from services.common.sms import SIGN_IN_CODE, SmsSender
from services.identity import events
from services.identity.domain import attempts as keys
from services.identity.domain.accounts import Account
from services.identity.domain.codes import (
    PhoneCode,
    check_code,
    check_phone,
    hash_secret,
    new_code,
)
from services.identity.domain.errors import (
    BadCredentials,
    TooManyAttempts,
    TooManyCodes,
    totp_already_enrolled,
    totp_enrolment_required,
    totp_not_started,
    totp_required,
)
from services.identity.domain.members import MemberRef
from services.identity.domain.tokens import Issued, SubjectKind
from services.identity.keys import Sealer
from services.identity.service.tokens import Tokens
from services.identity.store import IdentityStore

log = logging.getLogger(__name__)

NAME_MAX = 64
SECRET_MAX = 256
TOTP = "totp"


class Passwords:
    """argon2id through argon2-cffi, off the event loop; a dummy hash makes a missing account
    cost the same as a wrong password."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()
        self._dummy = self.hasher.hash("linli: no such account")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self.hasher.verify(stored or self._dummy, password) and stored is not None
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)

    def needs_rehash(self, stored: str) -> bool:
        return self.hasher.check_needs_rehash(stored)


def _credentials(user_name: str, secret: str, name_field: str, secret_field: str) -> str:
    v = Violations()
    if not user_name or len(user_name) > NAME_MAX:
        v.add(name_field, f"must be 1 to {NAME_MAX} characters")
    if not secret or len(secret) > SECRET_MAX:
        v.add(secret_field, f"must be 1 to {SECRET_MAX} characters")
    v.raise_if_any()
    return user_name.lower()


class SignIn:
    def __init__(
        self,
        store: IdentityStore,
        settings: IdentitySettings,
        tokens: Tokens,
        passwords: Passwords,
        sealer: Sealer,
        sms: SmsSender,
        clock: Clock,
    ) -> None:
        self.store = store
        self.settings = settings
        self.tokens = tokens
        self.passwords = passwords
        self.sealer = sealer
        self.sms = sms
        self.clock = clock
        self._sending: set[asyncio.Task[None]] = set()

    # -- the lock-out --------------------------------------------------------------------------

    async def _not_locked(self, key: str) -> None:
        now = self.clock()
        seen = await self.store.attempts(key)
        if seen.refused(now, self.settings.sign_in_failures_limit):
            raise TooManyAttempts(seen.retry_after_s(now))

    async def _failed(self, key: str) -> BadCredentials:
        await self.store.count_attempt(key, self.clock(), self.settings.lockout_s)
        return BadCredentials()

    async def _password(self, user_name: str, password: str, *, service: bool) -> Account:
        """The account, if the name and password are right and it may sign in this way."""
        key = keys.sign_in_key(user_name)
        await self._not_locked(key)
        account = await self.store.account_by_name(user_name)
        fits = account is not None and (account.role is Role.SERVICE) == service
        stored = account.password_hash if account is not None and fits else None
        ok = await self.passwords.verify(stored, password)
        if not ok or account is None or not fits or account.disabled:
            raise await self._failed(key)
        return account

    # -- staff and services --------------------------------------------------------------------

    async def staff(self, user_name: str, password: str, totp_code: str) -> Issued:
        name = _credentials(user_name, password, "user_name", "password")
        if len(totp_code) > 16:
            v = Violations()
            v.add("totp_code", "at most 16 characters")
            v.raise_if_any()
        account = await self._password(name, password, service=False)
        key = keys.sign_in_key(name)
        if account.needs_totp:
            if not account.totp_enrolled:
                raise totp_enrolment_required()
            if not totp_code:
                raise totp_required()
            await self._spend_totp(account, totp_code, key)
        await self.store.clear_attempts(key)
        if self.passwords.needs_rehash(account.password_hash):
            rehashed = await self.passwords.hash(password)
            await self.store.update_account(
                account.id, lambda a: (replace(a, password_hash=rehashed), []), account.principal()
            )
        return await self.tokens.issue(account.principal(), SubjectKind.ACCOUNT)

    async def service(self, client_id: str, client_secret: str) -> Issued:
        name = _credentials(client_id, client_secret, "client_id", "client_secret")
        account = await self._password(name, client_secret, service=True)
        await self.store.clear_attempts(keys.sign_in_key(name))
        principal = account.principal()
        token, expires = self.tokens.access(principal, self.settings.service_token_ttl_s)
        return Issued(token, expires, principal)

    # -- TOTP enrolment ------------------------------------------------------------------------

    def _totp_step(self, account: Account, code: str) -> int | None:
        """The time step `code` belongs to (one step of drift either way), if it is right."""
        totp, now = self._totp(account), self.clock()
        for offset in (0, -1, 1):
            if hmac.compare_digest(totp.at(now, counter_offset=offset), code):
                return int(totp.timecode(now)) + offset
        return None

    async def _spend_totp(self, account: Account, code: str, key: str) -> None:
        """Accepts a right code once: a code seen (or one older than it) counts as wrong."""
        step = self._totp_step(account, code)
        if step is None or step <= account.totp_last_step:
            raise await self._failed(key)

        def spent(a: Account) -> tuple[Account, list[events.Event]]:
            if step <= a.totp_last_step:  # a concurrent sign-in spent it first
                raise BadCredentials()
            return replace(a, totp_last_step=step), []

        try:
            await self.store.update_account(account.id, spent, account.principal())
        except BadCredentials:
            raise await self._failed(key) from None

    def _totp(self, account: Account) -> pyotp.TOTP:
        seed = self.sealer.open(account.totp_sealed, f"totp {account.id}").decode()
        return pyotp.TOTP(seed)

    async def enrol_totp(self, user_name: str, password: str) -> str:
        name = _credentials(user_name, password, "user_name", "password")
        account = await self._password(name, password, service=False)
        if account.totp_enrolled:
            raise totp_already_enrolled()
        seed = pyotp.random_base32()
        sealed = self.sealer.seal(seed.encode(), f"totp {account.id}")
        await self.store.update_account(
            account.id, lambda a: (replace(a, totp_sealed=sealed), []), account.principal()
        )
        return pyotp.TOTP(seed).provisioning_uri(
            name=account.user_name, issuer_name=self.settings.totp_issuer
        )

    async def confirm_totp(self, user_name: str, password: str, code: str) -> None:
        name = _credentials(user_name, password, "user_name", "password")
        v = Violations()
        check_code(v, "totp_code", code)
        v.raise_if_any()
        account = await self._password(name, password, service=False)
        if account.totp_enrolled:
            raise totp_already_enrolled()
        if not account.totp_sealed:
            raise totp_not_started()
        step = self._totp_step(account, code)
        if step is None:
            raise await self._failed(keys.sign_in_key(name))

        def confirmed(a: Account) -> tuple[Account, list[events.Event]]:
            after = replace(a, totp_enrolled=True, totp_last_step=step)
            return after, [events.account_changed(after, TOTP)]

        await self.store.update_account(account.id, confirmed, account.principal())

    # -- members -------------------------------------------------------------------------------

    async def start_phone(self, phone: str, caller: str) -> int:
        v = Violations()
        phone = check_phone(v, "phone", phone)
        v.raise_if_any()
        s, now = self.settings, self.clock()
        # Counted for every phone asked, a member's or not: the answer tells nobody which.
        for key, limit in (
            (keys.caller_key(caller), s.phone_codes_per_caller),
            (keys.phone_key(phone), s.phone_codes_per_phone),
        ):
            seen = await self.store.count_attempt(key, now, s.phone_code_window_s)
            if seen.count > limit:
                raise TooManyCodes(seen.retry_after_s(now))
        member = await self.store.member_by_phone(phone)
        # A code is kept for every phone asked (the same work either way); only a member's is
        # sent, in the background: a member's phone must not answer slower than a stranger's.
        code = new_code()
        expires = now + _seconds(s.phone_code_ttl_s)
        await self.store.put_code(PhoneCode(phone, hash_secret(code), expires))
        if member is not None:
            minutes = str(max(1, s.phone_code_ttl_s // 60))
            task = asyncio.ensure_future(self._send(phone, code, minutes))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        return s.phone_code_ttl_s

    async def _send(self, phone: str, code: str, minutes: str) -> None:
        try:
            await self.sms.send(phone, SIGN_IN_CODE, {"code": code, "minutes": minutes})
        except Exception as e:  # noqa: BLE001 (the member asks again; the failure is logged)
            log.warning("sign-in code not sent: %s", type(e).__name__)

    async def complete_phone(self, phone: str, code: str) -> Issued:
        v = Violations()
        phone = check_phone(v, "phone", phone)
        check_code(v, "code", code)
        v.raise_if_any()
        key = keys.code_key(phone)
        await self._not_locked(key)
        kept = await self.store.code(phone)
        if kept is None or not kept.matches(code, self.clock()):
            raise await self._failed(key)
        if not await self.store.spend_code(phone, kept.code_hash):
            raise await self._failed(key)  # spent by a concurrent call
        member = await self.store.member_by_phone(phone)
        if member is None:
            raise await self._failed(key)
        await self.store.clear_attempts(key)
        return await self.tokens.issue(_member_principal(member), SubjectKind.MEMBER)

    # -- refresh and sign-out ------------------------------------------------------------------

    async def refresh(self, refresh_token: str) -> Issued:
        if not refresh_token or len(refresh_token) > SECRET_MAX:
            v = Violations()
            v.add("refresh_token", f"must be 1 to {SECRET_MAX} characters")
            v.raise_if_any()
        kept, given = await self.tokens.rotate_refresh(refresh_token)
        principal = await self._still_there(kept.kind, kept.subject)
        if principal is None:
            await self.tokens.revoke(given, "gone")
            raise BadCredentials()
        token, expires = self.tokens.access(principal, session=kept.family)
        return Issued(token, expires, principal, given, kept.expires_at)

    async def _still_there(self, kind: SubjectKind, subject: str) -> Principal | None:
        """Who the refresh token signs in, as they are now (scope changes apply at once)."""
        if kind is SubjectKind.MEMBER:
            member = await self.store.member(subject)
            if member is None or not member.active:
                return None
            return _member_principal(member)
        account = await self.store.account(subject)
        if account is None or account.disabled:
            return None
        return account.principal()

    async def sign_out(self, refresh_token: str) -> None:
        if refresh_token and len(refresh_token) <= SECRET_MAX:
            await self.tokens.revoke(refresh_token, "signed out")


def _member_principal(member: MemberRef) -> Principal:
    """A member acts in the community they reported in to (none before they have)."""
    communities = frozenset({member.community_id}) if member.community_id else frozenset()
    return Principal(member.id, Role.MEMBER, communities)


def _seconds(s: int) -> timedelta:
    return timedelta(seconds=s)
